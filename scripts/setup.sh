#!/usr/bin/env bash
# Create .venv and install the project with pinned dependencies. Quick when nothing changed.
# Usage: scripts/setup.sh [EXTRAS]   (default "dev"; the tests use "dev,llm", which compiles llama.cpp once)
set -euo pipefail
extras=${1:-dev}
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 HF_HUB_OFFLINE=1
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
stamp=".venv/.installed-$( (cat pyproject.toml constraints.txt scripts/setup.sh; echo "$extras") | sha256sum | cut -c1-16)"
pip_install() {  # quiet unless it fails; then the log says why
  if ! .venv/bin/python -m pip install -q "$@" >.venv/pip.log 2>&1; then
    grep -v "is ignored" .venv/pip.log >&2
    echo "setup: pip install $* failed" >&2
    exit 1
  fi
}
if [ ! -f "$stamp" ]; then
  echo "setup: installing into .venv (first run takes a few minutes)" >&2
  pip_install --upgrade pip
  # torch first and pinned: 2.13.0 is the CPU build; an unpinned torch pulls a multi-GB CUDA build.
  pip_install torch==2.13.0
  if [[ ",$extras," == *,llm,* ]]; then
    # llama.cpp for a portable x86-64 CPU (AVX2), not -march=native: built natively on a CPU with AMX it
    # segfaulted in its first decode in a VM (llama-cpp-python 0.3.36). --no-cache-dir: pip's wheel cache
    # would hand back a wheel built with other flags (its key ignores CMAKE_ARGS).
    CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON}" \
      pip_install --no-cache-dir -c constraints.txt "llama-cpp-python[server]"
  fi
  pip_install -c constraints.txt -e ".[$extras]"
  .venv/bin/python -m pip check
  rm -f .venv/.installed-*
  touch "$stamp"
fi
