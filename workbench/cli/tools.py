"""The workbench's helper commands: ``demo-user``, ``data preview``, ``lab`` and ``make-gc-data``.

Run as::

    workbench demo-user add USER --file demo_users.txt
    workbench data preview configs/splice.yaml --rows 5
    workbench lab [--port 8888]
    workbench make-gc-data [--out FILE]
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from .app import app, fail, parse_set, setup_logging


demo_user_app = typer.Typer(no_args_is_help=True, help="Users who may sign in to the demo (hashed passwords).")
app.add_typer(demo_user_app, name="demo-user")


@demo_user_app.command("add")
def demo_user_add(user: str = typer.Argument(..., help="User name (no ':' or spaces)."),
                  file: Path = typer.Option(..., "--file", help="Password file to write (mode 0600); serve with "
                                            "--auth-file FILE.")) -> None:
    """Add a demo user or replace their password (asked for, or read from $WORKBENCH_DEMO_PASSWORD)."""
    from ..serving.auth import ENV_PASSWORD, AuthError, add_user

    password = os.environ.get(ENV_PASSWORD) or typer.prompt(f"password for {user}", hide_input=True,
                                                            confirmation_prompt=True)
    try:
        add_user(file, user, password)
    except AuthError as exc:
        fail(exc)
    typer.echo(f"wrote {user} to {file}; serve with --auth-file {file}")


data_app = typer.Typer(no_args_is_help=True, help="Look at a run config's data source without training.")
app.add_typer(data_app, name="data")


@data_app.command("preview")
def data_preview(config: Path = typer.Argument(..., help="Run config YAML whose `source:` to preview."),
                 rows: int = typer.Option(5, "--rows", "-n", help="Rows to show (>= 1)."),
                 set_: list[str] = typer.Option([], "--set", help="Override a field, KEY=VALUE; repeatable.")) -> None:
    """Show the source's schema, first rows and whether the column mapping fits; writes nothing."""
    setup_logging()
    from data_connectors import ConnectorError, preview_text

    from ..config import ConfigError, load_config
    from ..tasks import get_task

    try:
        cfg = load_config(config, parse_set(set_))
        mapping = get_task(cfg.task.type)(cfg).column_mapping()
        typer.echo(preview_text(cfg.source, mapping, n=rows))
    except (ConfigError, ConnectorError, ValueError) as exc:
        fail(exc)


@app.command()
def lab(port: int = typer.Option(8888, help="TCP port on 127.0.0.1."),
        notebooks: Optional[Path] = typer.Option(None, help="Folder to open (default: the repository's notebooks/).")
        ) -> None:
    """Open the notebooks in JupyterLab on loopback with a token (no extension manager, news or update checks)."""
    from ..lab import run_lab

    try:
        raise typer.Exit(code=run_lab(notebooks, port))
    except ValueError as exc:
        fail(exc)


@app.command("make-gc-data")
def make_gc_data(out: Path = typer.Option(None, help="CSV to write (default: $WORKBENCH_HOME/splice_gc.csv).")) -> None:
    """Write the regression demo CSV: bundled splice sequences -> GC content (a computed property, not biology)."""
    from .. import paths
    from ..data.samples import write_gc_csv

    out = out or paths.home() / "splice_gc.csv"
    n = write_gc_csv(out)
    typer.echo(f"wrote {n} rows (sequence, gc_content) to {out}\nGC_CSV={out.resolve()}")
