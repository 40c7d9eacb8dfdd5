"""The faces of the assistant: the CLI, the HTTP API (with its OpenAI-compatible routes and access guard),
the Gradio chat UI and the web app that joins them.

They sit on top of the core (``assistant/``); nothing in the core imports them.
"""
