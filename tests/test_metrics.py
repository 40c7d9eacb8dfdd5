"""Operations on a real server: /metrics in Prometheus format, request ids, one JSON access-log line each."""

from __future__ import annotations

import json
import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.serving_helpers import API_KEY, OFF_TOPIC, QUESTION

pytest_plugins = ["tests.serving_helpers"]
pytestmark = pytest.mark.slow


def scrape(server, **headers: str) -> dict[tuple[str, tuple], float]:
    with server.client(**headers) as client:
        reply = client.get("/metrics")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(reply.text) for s in family.samples}


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_requests_answers_and_the_store(live):
    before = scrape(live)
    with live.client() as client:
        assert client.post("/api/ask", json={"question": QUESTION}).status_code == 200
        assert client.post("/api/ask", json={"question": OFF_TOPIC}).json()["abstained"]
        assert client.post("/api/ask", json={"question": " "}).status_code == 400
        assert client.get("/api/sources/nosuchid/file").status_code == 404
    after = scrape(live)
    asked = {"route": "/api/ask", "method": "POST", "status": "200"}
    assert value(after, "assistant_http_requests_total", **asked) - value(before, "assistant_http_requests_total",
                                                                          **asked) == 2
    assert value(after, "assistant_http_requests_total", route="/api/ask", method="POST", status="400") >= 1
    assert value(after, "assistant_http_requests_total", route="/api/sources/{source_id}/file", method="GET",
                 status="404") >= 1  # the route template, not the id: labels stay few
    here = {"collection": "default"}
    for outcome in ("answered", "abstained"):
        assert value(after, "assistant_answers_total", outcome=outcome, **here) - value(
            before, "assistant_answers_total", outcome=outcome, **here) == 1
    assert value(after, "assistant_ask_seconds_count", **here) - value(before, "assistant_ask_seconds_count",
                                                                       **here) == 2
    for stage in ("understand", "retrieve", "select"):  # every answer times its stages
        assert value(after, "assistant_ask_stage_seconds_count", stage=stage) - value(
            before, "assistant_ask_stage_seconds_count", stage=stage) == 2
    assert value(after, "assistant_ask_stage_seconds_count", stage="generate") == 0, "no model: no generation"
    assert value(after, "assistant_chunks", **here) == live.served.bot.collection.count() > 0
    assert value(after, "assistant_sources", **here) == len(live.served.bot.sources())
    assert 0 <= value(after, "assistant_store_view_age_seconds", **here) < 600


def test_each_response_names_its_request_and_the_access_log_has_one_json_line(live, caplog):
    with caplog.at_level(logging.INFO, logger="assistant.access"), live.client() as client:
        fresh = client.get("/healthz")
        echoed = client.get("/healthz", headers={"X-Request-ID": "portal-42.a"})
        untamed = client.get("/healthz", headers={"X-Request-ID": ("bad id\u00e9" * 20).encode("latin-1")})
    ids = [r.headers["x-request-id"] for r in (fresh, echoed, untamed)]
    assert len(ids[0]) == 32 and ids[1] == "portal-42.a" and ids[2] != "bad id" and len(ids[2]) == 32
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "assistant.access"]
    assert [line["request_id"] for line in lines] == ids
    assert all(line["route"] == "/healthz" and line["status"] == 200 and line["ms"] >= 0 for line in lines)


def test_metrics_need_a_key_when_keys_are_set(strict):
    with strict.client() as client:
        assert client.get("/metrics").status_code == 401
    assert value(scrape(strict, Authorization=f"Bearer {API_KEY}"), "assistant_http_requests_total",
                 route="/metrics", method="GET", status="401") >= 1  # refusals are counted too


def test_every_write_leaves_one_audit_line_naming_the_key_but_never_showing_it(strict, caplog):
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with caplog.at_level(logging.INFO, logger="assistant.audit"), strict.client(**headers) as client:
        added = client.post("/api/sources", files=[("files", ("audited note.md", b"# Audit\n\nA small note.\n"))])
        assert added.status_code == 200
        source = added.json()["sources"][0]
        assert client.delete(f"/api/sources/{source['id']}").status_code == 200
        assert client.delete("/api/sources/nosuchsource").status_code == 404
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "assistant.audit"]
    assert [line["action"] for line in lines] == ["upload", "remove", "remove"]
    assert lines[0]["files"] == ["audited note.md"] and lines[0]["added"] == [source["source"]]
    assert lines[1]["source"] == source["source"] and lines[2]["source"] is None
    actors = {line["actor"] for line in lines}
    assert len(actors) == 1 and actors.pop().startswith("key:")
    assert all(API_KEY not in r.getMessage() for r in caplog.records)
    assert all(line["time"].endswith("+00:00") for line in lines)
