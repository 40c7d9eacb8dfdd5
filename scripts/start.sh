#!/usr/bin/env bash
# Set up (if needed), ingest the bundled collection into an empty store, and serve the web app
# (chat UI at /, HTTP API at /api and /v1, embeddable page at /embed). Extra arguments go to
# `assistant serve` (e.g. --port 8000). `.venv/bin/assistant chat` is the terminal alternative.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export HF_HUB_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False ANONYMIZED_TELEMETRY=False
exec .venv/bin/assistant serve "$@"
