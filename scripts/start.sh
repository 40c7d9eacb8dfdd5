#!/usr/bin/env bash
# Set up (if needed), ingest the bundled collection into an empty store, and start the assistant.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export HF_HUB_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False ANONYMIZED_TELEMETRY=False
exec .venv/bin/assistant chat "$@"
