"""Airflow DAG: a nightly champion/challenger re-tune of the splice model with ``workbench retune``.

The task's exit code is the workbench's (docs/data-teams/retunes.md): 0 unchanged or promoted
(success), 3 challenger rejected and 4 another re-tune holds the lock (both: skipped, not failed), 5 failed (the task
fails and is retried once). Copy this file into the DAGs folder and edit ``WORKBENCH_DIR`` and the config.

Run as (inside Airflow)::

    airflow dags test workbench_retune_splice
"""

from __future__ import annotations

import datetime as dt

from airflow import DAG
from airflow.operators.bash import BashOperator

WORKBENCH_DIR = "/srv/workbench"
BASH_COMMAND = (f"cd {WORKBENCH_DIR} && WORKBENCH_HOME={WORKBENCH_DIR}/home "
                f"{WORKBENCH_DIR}/.venv/bin/workbench retune {WORKBENCH_DIR}/configs/splice.yaml --json")
SKIP_ON_EXIT_CODES = [3, 4]  # rejected, locked: nothing to do, nothing broken

with DAG(
    dag_id="workbench_retune_splice",
    schedule="30 2 * * *",
    start_date=dt.datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 1, "retry_delay": dt.timedelta(minutes=30)},
    tags=["workbench", "retune"],
) as dag:
    BashOperator(task_id="retune", bash_command=BASH_COMMAND, skip_on_exit_code=SKIP_ON_EXIT_CODES,
                 execution_timeout=dt.timedelta(hours=6))
