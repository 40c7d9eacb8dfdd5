"""ASSISTANT_RATE_LIMIT on a real server: per key, 429 with Retry-After, public routes free, no 5xx under load."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest
from pydantic import ValidationError

from assistant.interfaces.access import Sessions, caller_id
from assistant.interfaces.api import create_api
from assistant.interfaces.keys import Keyring
from assistant.interfaces.rate_limits import CallerLimits, CallerQuota
from assistant.interfaces.serving import ServedAssistant
from assistant.settings import Settings
from tests.serving_helpers import QUESTION, Live, start

pytest_plugins = ["tests.serving_helpers"]
pytestmark = pytest.mark.slow
KEYS = ["rate-key-a-0123456789", "rate-key-b-0123456789", "rate-key-c-0123456789", "rate-key-d-0123456789"]


@pytest.fixture(scope="module")
def limited(live) -> Iterator[Live]:
    bot = live.served.bot
    settings = bot.settings.but(api_keys=KEYS, rate_limit="3/minute", upload_mb_per_day=0.01)
    served = ServedAssistant(bot, settings, lock=live.served.library.write_lock)
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


def test_uploads_count_against_a_daily_quota_per_key(limited, live):
    note = b"# Quota\n\n" + b"A line of the quota note.\n" * 240  # about 6 KiB: one fits in 10 KiB, two do not
    key = {"Authorization": f"Bearer {KEYS[3]}"}
    with limited.client(**key) as client:
        first = client.post("/api/sources", files=[("files", ("quota-one.md", note))])
        second = client.post("/api/sources", files=[("files", ("quota-two.md", note))])
        assert first.status_code == 200 and second.status_code == 429
        assert "upload quota used up" in second.json()["error"]["message"] and int(second.headers["Retry-After"]) > 0
    with live.client() as same_store:  # the same store through the unlimited server
        names = {s["name"] for s in same_store.get("/api/sources").json()}
        assert "quota-one.md" in names and "quota-two.md" not in names  # refused before anything was stored
        assert same_store.delete(f"/api/sources/{first.json()['sources'][0]['id']}").status_code == 200


def _held_until(release: threading.Event):
    """An ASGI app whose every request waits until ``release`` is set, then answers 200."""

    async def held(scope, receive, send):
        await asyncio.get_running_loop().run_in_executor(None, release.wait, 30)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return held


def test_asks_at_once_are_limited_per_caller_and_a_stream_counts_until_it_ends():
    """CallerLimits over an app whose asks wait until released, on a real loopback server."""
    release = threading.Event()
    quota = CallerQuota(concurrent_asks=2)
    server = start(CallerLimits(_held_until(release), quota, Sessions(Keyring(), 1)), None)
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            held = [pool.submit(httpx.post, f"{server.url}/api/ask", json={}, timeout=60) for _ in range(2)]
            time.sleep(1.0)  # both are running now
            third = httpx.post(f"{server.url}/api/ask", json={}, timeout=60)
            other_route = pool.submit(httpx.get, f"{server.url}/api/sources", timeout=60)
            release.set()
            assert [f.result().status_code for f in held] == [200, 200]
            assert other_route.result().status_code == 200  # only asks are limited
        assert third.status_code == 429 and third.headers["Retry-After"] == "1"
        assert "too many asks at once" in third.json()["error"]["message"]
        assert httpx.post(f"{server.url}/api/ask", json={}, timeout=60).status_code == 200  # the count went down
    finally:
        release.set()
        server.stop()


def test_an_ask_refused_for_being_one_too_many_at_once_costs_nothing_of_the_rate():
    """Four clients of one key at two asks at once must still get the whole rate, not a quarter of it."""
    release = threading.Event()
    quota = CallerQuota(rate="3/minute", concurrent_asks=1)
    server = start(CallerLimits(_held_until(release), quota, Sessions(Keyring(), 1)), None)
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            held = pool.submit(httpx.post, f"{server.url}/api/ask", json={}, timeout=60)
            time.sleep(1.0)
            busy = [httpx.post(f"{server.url}/api/ask", json={}, timeout=60).status_code for _ in range(5)]
            release.set()
            assert held.result().status_code == 200 and busy == [429] * 5
        statuses = [httpx.post(f"{server.url}/api/ask", json={}, timeout=60).status_code for _ in range(3)]
        assert statuses == [200, 200, 429], "the busy refusals took none of the 3 a minute"
    finally:
        release.set()
        server.stop()


def test_a_made_up_header_or_cookie_beside_a_valid_one_does_not_make_a_new_caller():
    sessions = Sessions(Keyring(["key-one-0123456789", "key-two-0123456789"]), 1)
    cookie = f"assistant_session={sessions.token_for(sessions.keyring.match('key-two-0123456789'))}"
    by_key = caller_id({"authorization": "Bearer key-one-0123456789", "cookie": "assistant_session=junk.1.x"},
                       None, sessions)
    by_session = [caller_id({"authorization": f"Bearer made-up-{n}", "cookie": cookie}, None, sessions)
                  for n in range(3)]
    assert by_key.startswith("key:") and by_key not in by_session and len(set(by_session)) == 1
    assert caller_id({"authorization": "Bearer made-up"}, None, sessions) == "key:none"
    assert caller_id({"authorization": "Bearer key-one-0123456789"}, ("10.0.0.7", 5), Sessions(Keyring(), 1)) == \
        "address:10.0.0.7"  # without keys the address counts, whatever the header says
