"""`assistant serve`: claim the address first, fill an empty store, then one process or N workers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from assistant.interfaces.cli_support import DataDir, _assistant, _fail, _fill_empty_store, err, out

WEB_APP_FACTORY = "assistant.interfaces.web:create_web_app"  # imported by each worker; not here (gradio is slow)


def _claim_address(host: str, port: int):
    """Bind the listening socket before anything slow starts, so a taken port fails at once and clearly."""
    import errno
    import socket

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: restarts need no wait
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise _fail(f"port {port} on {host} is in use; pick another with --port", 2) from exc
        raise _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}", 2) from exc
    return sock


def _configured_address(host: str | None, port: int | None, **overrides) -> tuple[str, int]:
    """The address to serve on: the options, else ASSISTANT_HOST / ASSISTANT_PORT, else the defaults."""
    from assistant.settings import Settings

    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise _fail(f"invalid settings: {exc}", 2) from exc
    return host or settings.serving.host, settings.serving.port if port is None else port


def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (default: ASSISTANT_HOST or 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: ASSISTANT_PORT or 7860; 0: any free).")] = None,
    llm: Annotated[str | None, typer.Option(help="Answer backend: extractive, openai, llamacpp.")] = None,
    workers: Annotated[int, typer.Option(
        min=1, max=64, help="Worker processes, each with its own model; requests are stateless, so any worker "
        "answers any request. The chat UI then needs sticky sessions (see docs/deployment.md).")] = 1,
    data_dir: DataDir = None,
) -> None:
    """Serve the chat UI (/), the HTTP API (/api, /v1), /embed and /healthz."""
    overrides = {"llm": llm} if llm else {}
    host, port = _configured_address(host, port, **overrides)
    listener = _claim_address(host, port)  # exit 2 with one line if taken, before the model loads
    bound = listener.getsockname()[1]
    if workers > 1:
        _serve_workers(listener, host, workers, data_dir, llm)
        return

    import uvicorn

    from assistant.interfaces.web import create_web_app

    bot = _assistant(data_dir, **overrides)
    _fill_empty_store(bot, err)
    _say_who_may_use(bot.settings, host, bound)
    from assistant.interfaces.observability import enable_json_logs

    enable_json_logs(access=bot.settings.serving.access_log)

    class Server(uvicorn.Server):
        async def startup(self, sockets=None) -> None:
            await super().startup(sockets)
            if self.started:  # listening and serving: say where
                out.print(f"Serving on http://{host}:{bound}  (API docs: /docs · embed: /embed)", highlight=False)

    config = uvicorn.Config(create_web_app(bot), host=host, port=bound, log_level="warning")
    Server(config).run(sockets=[listener])


def _say_who_may_use(settings, host: str, port: int) -> None:
    """One start-up line on access: keys in force, or a warning that the server is open."""
    ui = {"full": "the UI (ask, add, remove)", "read-only": "the read-only UI", "off": "no UI"}[settings.serving.ui]
    if settings.serving.api_keys:
        err.print(f"API keys are set: every route but /healthz, /embed, /login and /docs needs one; {ui} asks "
                  "for one at /login.", highlight=False)
        return
    loopback = host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")
    reach = "anyone on this machine" if loopback else f"ANYONE who can reach {host}:{port}"
    err.print(f"[yellow]warning:[/] no API keys set (ASSISTANT_API_KEYS): {reach} can ask, add and remove "
              f"documents through the API and {ui}.", highlight=False)


def _serve_workers(listener, host: str, workers: int, data_dir: Path | None, llm: str | None) -> None:
    """Check the settings and fill an empty store here, once; then fork workers that share the socket."""
    import os
    import threading
    import time

    import httpx
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    bot = _assistant(data_dir, **({"llm": llm} if llm else {}))  # start-up errors stop us before any fork
    _fill_empty_store(bot, err)
    _say_who_may_use(bot.settings, host, listener.getsockname()[1])
    del bot
    # the workers build their assistant from the environment, as `create_web_app()` does
    if data_dir:
        os.environ["ASSISTANT_DATA_DIR"] = str(data_dir.expanduser().resolve())
    if llm:
        os.environ["ASSISTANT_LLM"] = llm
    port = listener.getsockname()[1]

    def announce() -> None:
        probe = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/healthz"
        for _ in range(600):
            try:
                if httpx.get(probe, timeout=2).status_code < 500:
                    out.print(f"Serving on http://{host}:{port} with {workers} workers", highlight=False)
                    return
            except httpx.HTTPError:
                time.sleep(0.5)

    threading.Thread(target=announce, daemon=True).start()
    config = uvicorn.Config(WEB_APP_FACTORY, factory=True, host=host, port=port, workers=workers,
                            log_level="warning")
    Multiprocess(config, sockets=[listener]).run()


