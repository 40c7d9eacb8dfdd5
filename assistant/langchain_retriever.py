"""The hybrid retriever as a langchain ``BaseRetriever`` (for chains and agents): ``HybridRetriever.as_langchain()``.

Its own module so that answering a question never imports langchain's runnables and tracers.
"""

from __future__ import annotations

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from assistant.retrieval import HybridRetriever


class LangchainHybridRetriever(BaseRetriever):
    """The hybrid retriever as a langchain ``BaseRetriever`` (for chains and agents)."""

    hybrid: HybridRetriever
    model_config = ConfigDict(arbitrary_types_allowed=True)

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[LCDocument]:
        return [
            LCDocument(
                page_content=h.chunk.text, id=h.chunk.id,
                metadata={"source": h.chunk.source, "title": h.chunk.title, "section": h.chunk.section,
                          "start": h.chunk.start, "end": h.chunk.end, "score": h.score, "rank": h.rank},
            )
            for h in self.hybrid.retrieve(query)
        ]
