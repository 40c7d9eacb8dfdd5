"""The scripted OpenAI-protocol loopback server (assistant/scripted_llm.py), under the tests' name."""

from assistant.scripted_llm import ScriptedOpenAI as FakeOpenAI
from assistant.scripted_llm import number_of, number_without, passages_of

__all__ = ["FakeOpenAI", "number_of", "number_without", "passages_of"]
