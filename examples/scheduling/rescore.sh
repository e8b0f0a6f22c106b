#!/bin/sh
# After a re-tune, re-score with the champion: one champion/challenger re-tune, then the new rows of the warehouse
# scored by whichever version is the champion now, written back atomically (staging table + swap).
#
#   examples/scheduling/rescore.sh CONFIG.yaml NAME SOURCE.yaml 'URL#TABLE' [--set KEY=VALUE ...]
#
# NAME is the registered model (CONFIG's registry.model_name or name); SOURCE.yaml holds the `source:` block of the
# rows to score; URL#TABLE is where the scores go (credentials as ${env:NAME} or ${keyring:SERVICE/USER}).
# Exit codes: those of retune.sh when it stops the job (4 locked, 5 failed); else the scoring's (0 done, 2 failed).
set -u
cd "$(dirname "$0")/../.." || exit 5
WORKBENCH=${WORKBENCH:-.venv/bin/workbench}
[ $# -ge 4 ] || { echo "usage: $0 CONFIG.yaml NAME SOURCE.yaml 'URL#TABLE' [--set KEY=VALUE ...]" >&2; exit 2; }
config=$1 name=$2 source=$3 to=$4
shift 4
WORKBENCH="$WORKBENCH" examples/scheduling/retune.sh "$config" "$@"
rc=$?
case $rc in
  0|3) ;;  # promoted, unchanged or rejected: there is a champion either way
  *) echo "rescore.sh: no scoring after a re-tune that exited $rc" >&2; exit $rc ;;
esac
$WORKBENCH predict "$name@champion" --source "$source" --to "$to" --if-exists replace
