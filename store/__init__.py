"""Keeping chunks and finding them again: Chroma (dense), BM25 (keywords), the source manifest."""
