"""Command-line interface: ``workbench run | predict | chat | serve | demo-user | export | quickstart | ...``.

Run as::

    workbench quickstart                 # bundled data -> SQLite -> train -> evaluate -> demo
    workbench run configs/splice.yaml    # any run config
    workbench run configs/chat_sft.yaml  # task.type: sft -> the chat SFT task (workbench.tasks.sft)
    workbench run configs/splice.yaml --nproc 2   # data-parallel over 2 processes (torchrun underneath)
    workbench predict RUN_DIR --sequence ACGT...
    workbench evaluate RUN_DIR --input independent_test.csv   # an external labelled test set, beside the baselines
    workbench serve RUN_DIR [--compare OTHER_RUN_DIR] [--auth-file FILE]
    workbench demo-user add USER --file demo_users.txt
    workbench lab                        # JupyterLab on notebooks/, loopback + token
    workbench export RUN_DIR --format merged
    workbench chat RUN_DIR --prompt "How many days of annual leave do I get?"
    workbench models list | show | promote | rollback | log   # the registry
    workbench retune configs/splice.yaml             # champion/challenger re-tune; exit 0/3/4/5
    workbench serve --model splice@champion          # a registered version (export --model too)
    workbench docs                                   # this documentation site on http://127.0.0.1:8000

One module per concern registers its commands on :data:`app` (:mod:`workbench.cli.app`).
"""

from __future__ import annotations

# each module registers its commands on `app`; the import order is the order of `workbench --help`
from . import train, predict, evaluate, serve, export, retune, models, tools, docs  # noqa: F401,I001
from .app import app


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "main"]
