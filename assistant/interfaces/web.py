"""The web app of `assistant serve`: the HTTP API with the Gradio chat UI mounted at "/", in one process.

``create_web_app`` is the one factory: ``assistant serve`` calls it, and its workers (uvicorn ``factory=True``)
import it by this module's path (``serve_command.WEB_APP_FACTORY``).
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr
from fastapi import FastAPI
from gradio.utils import get_upload_folder as gradio_upload_folder

from assistant.interfaces.api import create_api
from assistant.interfaces.chat_ui import CSS, JS, build_ui
from assistant.interfaces.observability import enable_json_logs
from assistant.interfaces.portal import Portal
from assistant.interfaces.serving import ServedAssistant
from assistant.service import Assistant


def create_web_app(bot: Assistant | ServedAssistant | Portal | None = None) -> FastAPI:
    """The API plus the UI at "/" (mounted last, so the API routes match first); ASSISTANT_UI=off: the API alone."""
    if bot is None:  # a worker of `assistant serve --workers N`: everything from the environment
        bot = Assistant()
        bot.ensure_default_collection()
        enable_json_logs(access=bot.settings.serving.access_log)
    portal = Portal.of(bot)
    app = create_api(portal)
    mode = portal.settings.serving.ui
    if mode == "off":
        return app
    limit = f"{int(portal.settings.serving.max_upload_mb * 1024)}kb"
    upload_folder = Path(gradio_upload_folder()).resolve()
    demo = build_ui(portal, upload_folder, mode)
    # Under mount_gradio_app Gradio checks no FileData.path: the access guard lets a call name only files
    # that Gradio's own upload route received (access.py)
    app.state.ui_received = lambda path: path in demo.upload_file_set
    return gr.mount_gradio_app(app, demo, path="/", css=CSS, js=JS, max_file_size=limit, footer_links=["api"],
                               ssr_mode=False)
