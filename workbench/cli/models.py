"""The ``workbench models`` commands (thin: the work is in :mod:`workbench.registry`).

Run as::

    workbench models list [NAME]                 # registered models, or NAME's versions
    workbench models show NAME@champion          # one version: aliases, tags, metrics, decision
    workbench models promote NAME@challenger --reason "..."
    workbench models rollback NAME [--to 2] --reason "..."
    workbench models log RUN_DIR [--name NAME] [--register]
    workbench models log NAME@VERSION            # add the MLflow pyfunc flavor to an older version
    workbench models serve NAME@champion --port 5001   # REST on 127.0.0.1 (mlflow models serve, offline)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .app import app, fail

models_app = typer.Typer(no_args_is_help=True, help="The model registry (MLflow): versions, champion, challenger.")
app.add_typer(models_app, name="models")


@models_app.command("list")
def list_cmd(name: Optional[str] = typer.Argument(None, help="A registered model; unset = every model."),
             as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List registered models (champion, challenger, versions), or the versions of NAME."""
    from ..registry import list_models, list_versions
    from ..registry.tracking import RegistryError

    try:
        rows = list_versions(name) if name else list_models()
    except RegistryError as exc:
        fail(exc)
    if as_json:
        typer.echo(json.dumps(rows, default=str, indent=1))
        return
    if not name:
        typer.echo("\n".join(f"{m['name']}\tchampion v{m['champion'] or '-'}\tchallenger v{m['challenger'] or '-'}\t"
                             f"{m['versions']} version(s)" for m in rows) or "no registered models")
        return
    for r in rows:
        acc = r["metrics"].get("test.accuracy")
        typer.echo(f"v{r['version']}\t{','.join(r['aliases']) or '-'}\tdata {r['data_fingerprint'][:12]}\t"
                   f"test.accuracy {acc if acc is None else round(acc, 4)}\tfrozen {r['frozen_metric']}\t"
                   f"{r['decision'] or '-'}\t{r['reason'][:100]}")


@models_app.command("show")
def show_cmd(spec: str = typer.Argument(..., help="NAME@champion, NAME@challenger, NAME@3 or NAME (latest).")) -> None:
    """Show one version: aliases, provenance tags, metrics, decision and where its files are."""
    from ..registry import get_version, parse_spec
    from ..registry.tracking import RegistryError, client
    from ..registry.versions import describe

    try:
        name, ref = parse_spec(spec)
        row = describe(get_version(name, ref))
    except RegistryError as exc:
        fail(exc)
    row["metrics"] = dict(client().get_run(row["run_id"]).data.metrics) if row["run_id"] else {}
    typer.echo(json.dumps(row, default=str, indent=1))


@models_app.command("promote")
def promote_cmd(spec: str = typer.Argument(..., help="NAME@challenger or NAME@VERSION: the version to promote."),
                reason: str = typer.Option("promoted by hand", help="Why (kept in the registry and audit log).")) -> None:
    """Make a version the champion."""
    from ..registry import promote
    from ..registry.tracking import RegistryError

    try:
        entry = promote(spec, reason=reason)
    except RegistryError as exc:
        fail(exc)
    typer.echo(f"champion: v{entry['version']} (was v{entry['previous'] or '-'})")


@models_app.command("rollback")
def rollback_cmd(name: str = typer.Argument(..., help="Registered model name."),
                 to: Optional[int] = typer.Option(None, "--to", help="Version to return to; unset = previous champion."),
                 reason: str = typer.Option("rolled back by hand", help="Why (kept in the registry and audit log).")) -> None:
    """Move the champion back to the previous champion (or to --to VERSION)."""
    from ..registry import rollback
    from ..registry.tracking import RegistryError

    try:
        entry = rollback(name, to, reason=reason)
    except RegistryError as exc:
        fail(exc)
    typer.echo(f"champion: v{entry['version']} (was v{entry['previous']})")


@models_app.command("log")
def log_cmd(target: str = typer.Argument(..., help="A complete run directory; or NAME@VERSION (NAME: all its versions) "
                                                   "to add the MLflow pyfunc flavor to versions registered before it."),
            name: Optional[str] = typer.Option(None, help="Registered model name (default: the run's)."),
            register: bool = typer.Option(False, "--register", help="Also add it as a new version.")) -> None:
    """Log a run directory to the tracking store (e.g. one written while the store was unreachable), or make older
    registered versions MLflow Models (pyfunc flavor, base model included)."""
    from ..registry.log import track_run
    from ..registry.tracking import RegistryError

    if not Path(target).is_dir() and not Path(target).exists():
        from ..registry.pyfunc import add_flavor

        try:
            done = add_flavor(target)
        except (RegistryError, OSError, ValueError) as exc:
            fail(exc)
        typer.echo(f"pyfunc flavor added to version(s) {', '.join(done)}" if done
                   else f"every version of {target} already has the pyfunc flavor")
        return
    try:
        tracked = track_run(Path(target), name, register=register)
    except (OSError, ValueError) as exc:
        fail(exc)
    typer.echo(f"MLflow run {tracked.run_id}" + (f", version {tracked.version}" if tracked.version else ""))


@models_app.command("serve")
def serve_cmd(spec: str = typer.Argument(..., help="NAME@champion, NAME@challenger or NAME@VERSION."),
              port: int = typer.Option(5001, help="Port on 127.0.0.1 (loopback only: put a signing-in proxy in "
                                                  "front to reach it from elsewhere)."),
              workers: int = typer.Option(1, help="Server worker processes (each loads the model).")) -> None:
    """Serve a registered version as a REST endpoint (POST /invocations) with `mlflow models serve`, offline."""
    import os

    from .. import audit
    from ..registry.rest import HOST, serve_command
    from ..registry.tracking import RegistryError

    try:
        argv, env = serve_command(spec, port, workers)
    except RegistryError as exc:
        fail(exc)
    audit.record("serve", spec, bind=f"{HOST}:{port}", server="mlflow models serve")
    typer.echo(f"serving {spec} on http://{HOST}:{port}/invocations (mlflow models serve; Ctrl+C stops)", err=True)
    os.execvpe(argv[0], argv, env)
