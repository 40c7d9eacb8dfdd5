"""The official `openai` client against /v1 on a real server: plain and streaming chat, models, errors, auth."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import openai
import pytest

from assistant.interfaces.openai_compat import ChatMessageIn, split_chat
from assistant.records import Citation
from tests.serving_helpers import API_KEY, OFF_TOPIC, QUESTION, source_text

pytest_plugins = ["tests.serving_helpers"]  # the `live` and `strict` server fixtures
pytestmark = pytest.mark.slow


def client_for(server, key: str = "anything") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0, timeout=60)


def citations_of(extra: dict | None) -> list[Citation]:
    return [Citation.model_validate(c) for c in (extra or {}).get("citations", [])]


def test_chat_completion_carries_markers_and_citations(live):
    completion = client_for(live).chat.completions.create(
        model="grounded-assistant", messages=[{"role": "user", "content": QUESTION}]
    )
    assert completion.object == "chat.completion" and completion.model == "grounded-assistant"
    [choice] = completion.choices
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    text = choice.message.content
    assert "April 2022" in text
    citations = citations_of(completion.model_extra)
    assert citations and completion.model_extra["abstained"] is False
    assert {int(n) for n in re.findall(r"\[(\d+)\]", text)} == {c.n for c in citations}
    for c in citations:
        assert source_text(c.source)[c.start : c.end] == c.quote
    assert completion.usage.completion_tokens == len(text.split())


def test_streaming_chunks_add_up_and_end_with_citations(live):
    client = client_for(live)
    messages = [{"role": "user", "content": QUESTION}]
    plain = client.chat.completions.create(model="grounded-assistant", messages=messages)
    chunks = list(client.chat.completions.create(model="grounded-assistant", messages=messages, stream=True))
    assert len(chunks) >= 3 and all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == plain.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks][-1] == "stop"
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])
    final = citations_of(chunks[-1].model_extra)
    assert final and final == citations_of(plain.model_extra)
    assert len({c.id for c in chunks}) == 1


def test_earlier_messages_are_the_history(live):
    first = "What happened to the 2018 working groups?"
    client = client_for(live)
    previous = client.chat.completions.create(model="grounded-assistant", messages=[{"role": "user", "content": first}])
    follow = client.chat.completions.create(model="grounded-assistant", messages=[
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": first},
        {"role": "assistant", "content": previous.choices[0].message.content},
        {"role": "user", "content": [{"type": "text", "text": "Why did they fail?"}]},
    ])
    assert not follow.model_extra["abstained"]
    assert any("2018" in c.quote or "2018" in c.section for c in citations_of(follow.model_extra))


def test_off_topic_question_abstains(live):
    completion = client_for(live).chat.completions.create(
        model="grounded-assistant", messages=[{"role": "user", "content": OFF_TOPIC}]
    )
    assert completion.model_extra["abstained"] is True and citations_of(completion.model_extra) == []
    assert completion.choices[0].message.content


def test_models_list(live):
    assert [m.id for m in client_for(live).models.list()] == ["grounded-assistant"]
    assert client_for(live).models.retrieve("grounded-assistant").id == "grounded-assistant"


def test_errors_reach_the_client_as_messages(live):
    client = client_for(live)
    with pytest.raises(openai.BadRequestError) as empty:
        client.chat.completions.create(model="grounded-assistant", messages=[{"role": "user", "content": "  "}])
    assert "the question is empty" in str(empty.value)
    with pytest.raises(openai.UnprocessableEntityError) as last:
        client.chat.completions.create(model="grounded-assistant", messages=[{"role": "assistant", "content": "hi"}])
    assert "last message must have role 'user'" in str(last.value)


def test_the_api_key_is_checked(strict):
    with pytest.raises(openai.AuthenticationError):
        client_for(strict, "wrong").models.list()
    completion = client_for(strict, API_KEY).chat.completions.create(
        model="grounded-assistant", messages=[{"role": "user", "content": QUESTION}]
    )
    assert citations_of(completion.model_extra)


def test_annotations_mark_each_marker_and_open_the_cited_file(live):
    completion = client_for(live).chat.completions.create(
        model="grounded-assistant", messages=[{"role": "user", "content": QUESTION}]
    )
    message = completion.choices[0].message
    citations = {c.n: c for c in citations_of(completion.model_extra)}
    answer_part = message.content.split("\n\nSources:\n")[0]
    assert message.annotations and len(message.annotations) == len(re.findall(r"\[\d+\]", answer_part))
    for note in message.annotations:
        place = note.url_citation
        n = int(message.content[place.start_index : place.end_index].strip("[]"))
        assert message.content[place.start_index : place.end_index] == f"[{n}]"
        assert place.title == citations[n].title and place.url == f"{live.url}{citations[n].link}"
        opened = httpx.get(place.url, timeout=30)
        assert opened.status_code == 200 and citations[n].quote.encode()[:40] in opened.content


def test_text_ends_with_a_sources_block_unless_asked_otherwise(live):
    client = client_for(live)
    messages = [{"role": "user", "content": QUESTION}]
    with_block = client.chat.completions.create(model="grounded-assistant", messages=messages)
    text, citations = with_block.choices[0].message.content, citations_of(with_block.model_extra)
    answer, block = text.split("\n\nSources:\n")
    assert [line.split("]")[0] for line in block.splitlines()] == [f"[{c.n}" for c in citations]
    assert all(" ".join(c.quote.split()) in block for c in citations)
    bare = client.chat.completions.create(model="grounded-assistant", messages=messages,
                                          extra_body={"sources_block": False})
    as_json = client.chat.completions.create(model="grounded-assistant", messages=messages,
                                             response_format={"type": "json_object"})
    assert bare.choices[0].message.content == as_json.choices[0].message.content == answer
    sent_back = [ChatMessageIn(role="user", content=QUESTION), ChatMessageIn(role="assistant", content=text),
                 ChatMessageIn(role="user", content="Who proposed it?")]
    _, history = split_chat(sent_back)  # the block a client sends back is not read as part of the history
    assert [m.content for m in history] == [QUESTION, answer]


def test_a_stream_can_end_with_usage(live):
    chunks = list(client_for(live).chat.completions.create(
        model="grounded-assistant", messages=[{"role": "user", "content": QUESTION}], stream=True,
        stream_options={"include_usage": True}))
    *answer, last = chunks
    assert last.choices == [] and last.usage is not None
    text = "".join(c.choices[0].delta.content or "" for c in answer)
    assert last.usage.completion_tokens == len(text.split()) and "\n\nSources:\n" in text
    assert all(c.usage is None for c in answer)
    notes = answer[-1].choices[0].delta.model_extra.get("annotations")
    assert notes and all(text[a["url_citation"]["start_index"] : a["url_citation"]["end_index"]].startswith("[")
                         for a in notes)
    plain = list(client_for(live).chat.completions.create(
        model="grounded-assistant", messages=[{"role": "user", "content": QUESTION}], stream=True))
    assert all(c.usage is None for c in plain) and plain[-1].choices  # no usage chunk unless asked


def test_langchain_chat_openai_shows_the_citations_in_invoke_and_stream(live):
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(base_url=f"{live.url}/v1", api_key="anything", model="grounded-assistant", max_retries=0,
                      timeout=60)
    reference = citations_of(client_for(live).chat.completions.create(
        model="grounded-assistant", messages=[{"role": "user", "content": QUESTION}]).model_extra)
    invoked = chat.invoke(QUESTION).content
    streamed = "".join(str(piece.content) for piece in chat.stream(QUESTION))
    assert invoked == streamed
    assert "April 2022" in invoked and "\n\nSources:\n" in invoked
    assert all(f"[{c.n}] “{' '.join(c.quote.split())}”" in invoked for c in reference)


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "plain"])
def test_the_llm_command_line_tool_prints_the_sources(live, tmp_path, stream):
    tool = Path(sys.executable).parent / "llm"  # simonw/llm, installed with the llm extra
    (tmp_path / "extra-openai-models.yaml").write_text(
        f"- model_id: grounded\n  model_name: grounded-assistant\n  api_base: {live.url}/v1\n", encoding="utf-8")
    reference = citations_of(client_for(live).chat.completions.create(
        model="grounded-assistant", messages=[{"role": "user", "content": QUESTION}]).model_extra)
    run = subprocess.run([str(tool), "-m", "grounded", *([] if stream else ["--no-stream"]), QUESTION],
                         env={**os.environ, "LLM_USER_PATH": str(tmp_path)}, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert "April 2022" in run.stdout and "Sources:" in run.stdout
    assert all(f"[{c.n}] “{' '.join(c.quote.split())}”" in run.stdout for c in reference)
