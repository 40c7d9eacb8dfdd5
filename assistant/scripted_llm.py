"""A real loopback HTTP server speaking OpenAI's chat-completions protocol, with scripted replies.

It stands in for a hosted language model where none can run: the verification benchmark's end-to-end
mode (assistant/verification_bench.py) and the tests. A script is a function from the request
(messages) to the reply text, so it can cite the passage number that holds a fact, whatever order
retrieval put the passages in.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Script = Callable[[list[dict]], str]


def passages_of(messages: list[dict]) -> list[str]:
    """The passage texts of our answer prompt, in their [n] order."""
    prompt = messages[-1]["content"]
    return re.findall(r"<passage n=\"\d+\"[^>]*>\n(.*?)\n</passage>", prompt, flags=re.DOTALL)


def number_of(messages: list[dict], needle: str) -> int:
    """The [n] of the first passage containing ``needle`` (0 if none)."""
    for n, text in enumerate(passages_of(messages), start=1):
        if needle in text:
            return n
    return 0


def number_without(messages: list[dict], needle: str) -> int:
    for n, text in enumerate(passages_of(messages), start=1):
        if needle not in text:
            return n
    return 0


class ScriptedOpenAI:
    def __init__(self) -> None:
        self.script: Script = lambda messages: "NOT IN DOCUMENTS"
        self.requests: list[dict] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep output clean
                pass

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._json({"object": "list", "data": [{"id": "scripted", "object": "model", "owned_by": "test"}]})
                else:
                    self._json({"error": {"message": "not found"}}, 404)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                owner.requests.append(body)
                reply = owner.script(body["messages"])
                if body.get("stream"):
                    self._stream(reply, body.get("model", "scripted"))
                else:
                    self._json(_completion(reply, body.get("model", "scripted")))

            def _json(self, payload: dict, status: int = 200) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, reply: str, model: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for piece in re.findall(r"\S+\s*", reply) or [""]:
                    self.wfile.write(f"data: {json.dumps(_chunk(piece, model))}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(f"data: {json.dumps(_chunk('', model, 'stop'))}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ScriptedOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def _completion(text: str, model: str) -> dict:
    return {
        "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def _chunk(text: str, model: str, finish: str | None = None) -> dict:
    delta = {"content": text} if text else {}
    return {
        "id": "chatcmpl-test", "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
