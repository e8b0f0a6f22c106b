"""The ``workbench retune`` command (thin: the work is in :func:`workbench.retune.run.retune`).

Run as::

    workbench retune configs/splice.yaml [--json] [--force] [--new-frozen-set]   # exit 0/3/4/5
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from .app import app, parse_set, setup_logging


@app.command("retune")
def retune_cmd(config: Path = typer.Argument(..., help="The model's run config YAML."),
               set_: list[str] = typer.Option([], "--set", help="Override a field, KEY=VALUE; repeatable."),
               new_frozen_set: bool = typer.Option(False, "--new-frozen-set", help=(
                   "Carve a new version of the frozen evaluation set and compare on it (retrains even if the data "
                   "are unchanged).")),
               force: bool = typer.Option(False, "--force", help=(
                   "Train a challenger even if the data equal the champion's or the last rejected challenger's.")),
               as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object.")) -> None:
    """Champion/challenger re-tune. Exit 0 unchanged or promoted, 3 rejected, 4 locked, 5 failed."""
    from ..retune.run import retune

    setup_logging()
    result = retune(config, parse_set(set_), new_frozen_set=new_frozen_set, force=force)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), default=str))
    else:
        typer.echo(f"{result.name}: {result.outcome} (exit {result.exit_code}): {result.reason}")
        typer.echo(f"champion v{result.champion or '-'}; challenger v{result.challenger or '-'}; "
                   f"{result.seconds:.0f} s")
    raise typer.Exit(code=result.exit_code)
