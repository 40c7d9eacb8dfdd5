"""The official `openai` client against /v1 on a real server: plain and streaming chat, models, errors, auth."""

from __future__ import annotations

import re

import openai
import pytest

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
