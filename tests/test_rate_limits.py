"""ASSISTANT_RATE_LIMIT on a real server: per key, 429 with Retry-After, public routes free, no 5xx under load."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest
from pydantic import ValidationError

from assistant.interfaces.api import create_api
from assistant.interfaces.serving import ServedAssistant
from assistant.settings import Settings
from tests.serving_helpers import QUESTION, Live, start

pytest_plugins = ["tests.serving_helpers"]
pytestmark = pytest.mark.slow
KEYS = ["rate-key-a-0123456789", "rate-key-b-0123456789", "rate-key-c-0123456789"]


@pytest.fixture(scope="module")
def limited(live) -> Iterator[Live]:
    bot = live.served.bot
    served = ServedAssistant(bot, bot.settings.but(api_keys=KEYS, rate_limit="3/minute"),
                             lock=live.served.library.write_lock)
    server = start(create_api(served), served)
    yield server
    server.stop()


def _ask(server: Live, key: str) -> httpx.Response:
    with server.client(Authorization=f"Bearer {key}") as client:
        return client.post("/api/ask", json={"question": QUESTION})


def test_a_key_over_its_rate_gets_429_with_retry_after_and_other_keys_go_on(limited):
    assert [_ask(limited, KEYS[0]).status_code for _ in range(3)] == [200, 200, 200]
    refused = _ask(limited, KEYS[0])
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60 and "3/minute" in refused.json()["error"]["message"]
    assert _ask(limited, KEYS[1]).status_code == 200  # counted per key
    with limited.client() as client:
        assert all(client.get("/healthz").status_code == 200 for _ in range(5))  # public routes are not counted
    client = openai.OpenAI(base_url=f"{limited.url}/v1", api_key=KEYS[0], max_retries=0, timeout=60)
    with pytest.raises(openai.RateLimitError, match="too many requests"):
        client.chat.completions.create(model="grounded-assistant", messages=[{"role": "user", "content": QUESTION}])


def test_a_burst_gets_exactly_its_share_and_no_server_error(limited):
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = Counter(r.status_code for r in pool.map(lambda _: _ask(limited, KEYS[2]), range(12)))
    assert statuses == Counter({200: 3, 429: 9})


def test_an_unreadable_rate_is_a_settings_error():
    with pytest.raises(ValidationError, match="not a rate such as 60/minute"):
        Settings(rate_limit="sixty a minute")
