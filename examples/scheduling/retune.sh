#!/bin/sh
# One champion/challenger re-tune, for cron and other schedulers that only see an exit code.
#
#   examples/scheduling/retune.sh CONFIG.yaml [--set KEY=VALUE ...]
#
# Exit codes pass through from `workbench retune` (README, "Registry and scheduled re-tunes"):
#   0 unchanged (nothing trained) or promoted, 3 challenger rejected, 4 another re-tune holds the lock, 5 failed.
# WORKBENCH (default: the checkout's .venv/bin/workbench) is the command to run; WORKBENCH_HOME and
# WORKBENCH_TRACKING_URI are read by the workbench itself.
set -u
cd "$(dirname "$0")/../.." || exit 5
WORKBENCH=${WORKBENCH:-.venv/bin/workbench}
$WORKBENCH retune "$@"
rc=$?
case $rc in
  0) ;;
  3) echo "retune.sh: challenger rejected; the champion stays" ;;
  4) echo "retune.sh: another re-tune of this model is running; skipped" ;;
  *) echo "retune.sh: re-tune FAILED (exit $rc); see the log above and \$WORKBENCH_HOME/audit.jsonl" >&2 ;;
esac
exit $rc
