#!/bin/sh
# For teams that schedule notebooks: run notebooks/03_registry_and_retune.ipynb with papermill, parameterised with the
# model and the config to re-tune, and keep the executed notebook (its outputs are the record of the run).
#
#   examples/scheduling/run_notebook.sh MODEL_NAME CONFIG.yaml [OUTPUT.ipynb]
#
# The notebook runs one re-tune (the same `retune()` as `workbench retune`) and shows the versions; it does not
# promote or roll back by hand (demonstrate_promotion False). PAPERMILL (default: the checkout's .venv/bin/papermill).
set -eu
cd "$(dirname "$0")/../.."
PAPERMILL=${PAPERMILL:-.venv/bin/papermill}
out=${3:-${WORKBENCH_HOME:-$HOME/.cache/workbench}/notebooks/retune-$1-$(date +%Y%m%d-%H%M%S).ipynb}
mkdir -p "$(dirname "$out")"
$PAPERMILL notebooks/03_registry_and_retune.ipynb "$out" --cwd notebooks \
  -p model_name "$1" -p retune_config "$(realpath "$2")" -p demonstrate_promotion False
echo "executed notebook: $out"
