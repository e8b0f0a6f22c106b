"""``workbench run``, ``workbench quickstart`` and ``workbench load-sample-data``: train a run directory.

Run as::

    workbench quickstart                 # bundled data -> SQLite -> train -> evaluate -> demo
    workbench run configs/splice.yaml [--resume] [--dry-run] [--nproc 2] [--set train.seed=1]
    workbench load-sample-data [--db FILE]
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from .app import app, fail, parse_set, setup_logging


@app.command()
def run(config: Path = typer.Argument(..., help="Run config YAML (see configs/); its task.type picks the task."),
        set_: list[str] = typer.Option([], "--set", help="Override a field, KEY=VALUE with a dotted key "
                                       "(e.g. --set train.epochs=0.5); repeatable."),
        serve_after: bool = typer.Option(False, "--serve", help="Serve the demo when the run finishes."),
        port: int = typer.Option(7860, help="Demo TCP port with --serve (0 = any free port)."),
        resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from its latest checkpoint "
                                    "(<output_dir>/<name>.partial/checkpoints, written with train.save_every)."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Read, split, load the model and time one training "
                                     "step; print sizes, steps, memory and time estimates; write nothing."),
        nproc: int = typer.Option(1, "--nproc", min=1, help="Data-parallel worker processes on this machine "
                                  "(1 = one process; N > 1 starts N through torchrun; train.batch_size stays the "
                                  "global batch).")) -> None:
    """Connect -> split -> train -> evaluate -> save a run directory (printed at the end), for any task type."""
    setup_logging()
    from ..config import ConfigError, load_config
    from ..pipeline import setup
    from ..tasks import get_task
    from .. import paths
    from ..training import distributed as dist

    try:
        cfg = load_config(config, parse_set(set_))
    except ConfigError as exc:
        fail(exc)
    if resume and dry_run:
        fail(ValueError("--resume and --dry-run exclude each other."))
    if nproc > 1 and "WORLD_SIZE" not in os.environ:
        if dry_run:
            fail(ValueError("a dry run measures one process: run it without --nproc."))
        args = ["run", str(config), *[a for item in set_ for a in ("--set", item)], *(["--resume"] if resume else [])]
        code = dist.launch(nproc, args)
        if code:
            typer.secho(f"error: the {nproc}-process run failed (torchrun exit status {code}); the failing rank's "
                        "error is above and the other ranks were stopped. Checkpoints already written (train."
                        f"save_every) are kept: continue with `workbench run {config} --nproc {nproc} --resume`.",
                        fg=typer.colors.RED, err=True)
            raise typer.Exit(code=code)
        if serve_after:
            get_task(cfg.task.type).serve(Path(cfg.output_dir or paths.runs_dir()) / cfg.name, cfg.serve.host, port)
        return
    try:
        result = setup(cfg, resume=resume, dry_run=dry_run)
    except (ValueError, RuntimeError) as exc:
        fail(exc)
    finally:
        dist.shutdown()
    if not dist.is_main():
        return
    if dry_run:
        typer.echo(result.text())
        return
    task = get_task(result.task_type)
    typer.echo(task.summary(result))
    for warning in result.warnings:  # a step cap under 2 epochs, the time cap, a model that learnt nothing
        typer.secho(f"warning: {warning}", fg=typer.colors.YELLOW, err=True)
    typer.echo(f"run directory: {result.run_dir}  ({result.seconds / 60:.1f} min)")
    if serve_after:
        try:
            task.serve(result.run_dir, cfg.serve.host, port)
        except ValueError as exc:  # e.g. serve.host beyond loopback without sign-in configured
            fail(exc)


@app.command("load-sample-data")
def load_sample_data(db: Path = typer.Option(None, help="SQLite file to write (default: $WORKBENCH_HOME/warehouse.db).")) -> None:
    """Write the bundled UCI splice data into a SQLite file that stands in for a warehouse."""
    from .. import paths
    from ..data.samples import load_splice_into_sqlite

    db = db or paths.home() / "warehouse.db"
    n = load_splice_into_sqlite(db)
    typer.echo(f"wrote {n} rows to table `splice` in {db}\nWAREHOUSE_URL=sqlite:///{db.resolve()}")


@app.command()
def quickstart(config: Path = typer.Option(Path("configs/splice.yaml"), help="Run config to use."),
               set_: list[str] = typer.Option([], "--set", help="Override a field, KEY=VALUE; repeatable."),
               serve_after: bool = typer.Option(True, "--serve/--no-serve", help="Serve the demo at the end."),
               port: int = typer.Option(7860, help="Demo TCP port (0 = any free port).")) -> None:
    """The main job: bundled splice data -> SQLite warehouse -> fine-tune -> evaluate -> demo."""
    from .. import paths

    db = paths.home() / "warehouse.db"
    load_sample_data(db)
    os.environ["WAREHOUSE_URL"] = f"sqlite:///{db.resolve()}"
    run(config, set_, serve_after, port, resume=False, dry_run=False, nproc=1)
