"""Command-line interface: ``workbench run | predict | chat | serve | demo-user | export | quickstart | ...``.

Run as::

    workbench quickstart                 # bundled data -> SQLite -> train -> evaluate -> demo
    workbench run configs/splice.yaml    # any run config
    workbench run configs/chat_sft.yaml  # task.type: sft -> the chat SFT task (workbench.tasks.sft)
    workbench run configs/splice.yaml --nproc 2   # data-parallel over 2 processes (torchrun underneath)
    workbench predict RUN_DIR --sequence ACGT...
    workbench serve RUN_DIR [--compare OTHER_RUN_DIR] [--auth-file FILE]
    workbench demo-user add USER --file demo_users.txt
    workbench lab                        # JupyterLab on notebooks/, loopback + token
    workbench export RUN_DIR --format merged
    workbench chat RUN_DIR --prompt "How many days of annual leave do I get?"
    workbench models list | show | promote | rollback  # the registry (workbench/registry/commands.py)
    workbench retune configs/splice.yaml             # champion/challenger re-tune; exit 0/3/4/5
    workbench serve --model splice@champion          # a registered version (export --model too)
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Optional

import typer

from .registry.commands import models_app
from .retune.command import retune_cmd

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Private fine-tuning workbench: LoRA fine-tune an open base model on your own data, offline.")
MODEL_HELP = "A registered version instead of RUN_DIR: NAME@champion, NAME@challenger or NAME@VERSION."


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    for noisy in ("httpx", "urllib3", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # torchao (installed with Unsloth's CPU backend, imported by transformers/PEFT) warns on every start that its
    # CUDA kernels do not load; nothing on the CPU path uses them.
    logging.getLogger("torchao").setLevel(logging.ERROR)
    from data_connectors import install_log_redaction

    install_log_redaction()


def _parse_overrides(items: list[str]) -> dict:
    from .config import parse_overrides

    try:
        return parse_overrides(items)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _fail(exc: Exception) -> None:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


def _run_dir_or_model(run_dir: Optional[Path], model: Optional[str]) -> Path:
    """RUN_DIR, or the local run directory of the registered version ``--model NAME@REF`` (exactly one of them)."""
    from .registry import RegistryError, resolve_run_dir

    if (run_dir is None) == (model is None):
        _fail(ValueError("give either RUN_DIR or --model NAME@champion|@challenger|@VERSION."))
    try:
        return Path(run_dir) if run_dir is not None else resolve_run_dir(model)
    except RegistryError as exc:
        _fail(exc)


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
    _logging()
    from .config import ConfigError, load_config
    from .pipeline import setup
    from .tasks import get_task
    from . import paths
    from .training import distributed as dist

    try:
        cfg = load_config(config, _parse_overrides(set_))
    except ConfigError as exc:
        _fail(exc)
    if resume and dry_run:
        _fail(ValueError("--resume and --dry-run exclude each other."))
    if nproc > 1 and "WORLD_SIZE" not in os.environ:
        if dry_run:
            _fail(ValueError("a dry run measures one process: run it without --nproc."))
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
        _fail(exc)
    finally:
        dist.shutdown()
    if not dist.is_main():
        return
    if dry_run:
        typer.echo(result.text())
        return
    task = get_task(result.task_type)
    typer.echo(task.summary(result))
    typer.echo(f"run directory: {result.run_dir}  ({result.seconds / 60:.1f} min)")
    if serve_after:
        try:
            task.serve(result.run_dir, cfg.serve.host, port)
        except ValueError as exc:  # e.g. serve.host beyond loopback without sign-in configured
            _fail(exc)


@app.command()
def chat(run_dir: Path = typer.Argument(..., help="An SFT run directory written by `workbench run`."),
         prompt: list[str] = typer.Option(..., "--prompt", "-p", help="A user message; repeatable (answered one by one)."),
         max_new_tokens: Optional[int] = typer.Option(None, help="Most tokens per answer (default: the run's).")) -> None:
    """Answer prompts with a chat SFT run (greedy decoding, base model + adapter)."""
    _logging()
    from .serving.chat import ChatRun

    try:
        run_ = ChatRun.load(run_dir)
    except (ValueError, OSError) as exc:
        _fail(exc)
    for text in prompt:
        typer.echo(run_.reply(text, max_new_tokens=max_new_tokens))


@app.command()
def predict(run_dir: Path = typer.Argument(..., help="A run directory written by `workbench run`."),
            sequence: Optional[list[str]] = typer.Option(None, "--sequence", "-s", help="A DNA sequence; repeatable."),
            fasta: Optional[Path] = typer.Option(None, "--fasta", help="FASTA file of sequences to classify."),
            as_json: bool = typer.Option(False, "--json", help="Print JSON lines instead of a table.")) -> None:
    """Predict classes (or values, for a regression run) for sequences given with --sequence or --fasta."""
    _logging()
    from .serving.predictor import Predictor, read_fasta

    if not sequence and not fasta:
        _fail(ValueError("give --sequence S (repeatable) or --fasta FILE."))
    try:
        records = [(f"seq{i + 1}", s) for i, s in enumerate(sequence or [])]
        if fasta:
            records += read_fasta(fasta)
        predictor = Predictor.load(run_dir)
        preds = predictor.predict([s for _, s in records])
    except (ValueError, OSError) as exc:
        _fail(exc)
    for (rid, _), p in zip(records, preds):
        typer.echo(json.dumps(p.as_dict(rid)) if as_json else "\t".join([rid, *p.cells()]))


@app.command()
def serve(run_dir: Optional[Path] = typer.Argument(None, help="A run directory written by `workbench run`."),
          model: Optional[str] = typer.Option(None, "--model", help=MODEL_HELP),
          host: str = typer.Option("127.0.0.1", help="Interface to bind; anything but loopback (e.g. 0.0.0.0) "
                                   "requires sign-in (WORKBENCH_DEMO_USER/WORKBENCH_DEMO_PASSWORD or --auth-file)."),
          port: int = typer.Option(7860, help="TCP port (0 = any free port)."),
          compare: Optional[str] = typer.Option(None, "--compare", help="A second run directory, or registered "
                                                "version (NAME@challenger), of the same task and classes, shown "
                                                "side by side (champion vs challenger)."),
          auth_file: Optional[Path] = typer.Option(None, "--auth-file", help="File of `user:pbkdf2_sha256$...` lines "
                                                   "(`workbench demo-user add`); default $WORKBENCH_DEMO_AUTH_FILE."),
          max_request_chars: Optional[int] = typer.Option(None, help="Longest pasted text per request, in characters "
                                                          "(default: the run's serve.max_request_chars, 20000)."),
          max_batch_rows: Optional[int] = typer.Option(None, help="Most sequences per uploaded FASTA/CSV, in rows "
                                                       "(default 1000)."),
          max_upload_mb: Optional[float] = typer.Option(None, help="Largest upload, in megabytes (default 5)."),
          concurrency: Optional[int] = typer.Option(None, help="Requests the model works on at once (default 2)."),
          queue_size: Optional[int] = typer.Option(None, help="Requests that may wait in the queue (default 64)."),
          ) -> None:
    """Serve the run's Gradio demo (Ctrl+C stops it): the task's own view (a chat for SFT runs). No share link."""
    _logging()
    from .serving.limits import limits_for
    from .tasks import get_task

    run_dir = _run_dir_or_model(run_dir, model)
    if compare is not None:
        compare = _run_dir_or_model(None, compare) if "@" in compare and not Path(compare).exists() else Path(compare)
    try:
        task_file = Path(run_dir) / "task.json"
        task = json.loads(task_file.read_text()) if task_file.is_file() else {}
        limits = limits_for(run_dir, max_request_chars=max_request_chars, max_batch_rows=max_batch_rows,
                            max_upload_mb=max_upload_mb, concurrency=concurrency, queue_size=queue_size)
        get_task(task.get("type", "classification")).serve(run_dir, host, port, compare=compare, auth_file=auth_file,
                                                           limits=limits)
    except (ValueError, OSError) as exc:
        _fail(exc)


@app.command("export")
def export(run_dir: Optional[Path] = typer.Argument(None, help="A run directory written by `workbench run`."),
           model: Optional[str] = typer.Option(None, "--model", help=MODEL_HELP),
           fmt: str = typer.Option(..., "--format", "-f", help=(
               "adapter (LoRA adapter + tokenizer for PEFT), merged (base + LoRA as one 16-bit safetensors "
               "directory, no PEFT needed) or gguf (one .gguf file for llama.cpp-family runtimes; llama models only).")),
           out: Optional[Path] = typer.Option(None, "--out", help=(
               "Export directory; unset = RUN_DIR/exports/FORMAT. An existing one is kept, renamed with its timestamp.")),
           dtype: str = typer.Option("float16", "--dtype", help=(
               "Weight type of merged/gguf exports: float16 or bfloat16 (16 bits per weight) or float32 (32 bits); "
               "ignored for adapter. GGUF norm vectors stay float32.")),
           sequence: Optional[list[str]] = typer.Option(None, "--sequence", "-s", help=(
               "DNA sequence (nucleotides, at most the run's max_length) for the round-trip check; repeatable. "
               "Unset = task.json's examples then predictions.csv rows, 24 sequences at most.")),
           as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object.")) -> None:
    """Export a run as adapter, merged model or GGUF; reload it and check it predicts like the adapter."""
    _logging()
    from .export import export_run, result_dict, summary

    run_dir = _run_dir_or_model(run_dir, model)
    if model and out is None:  # a registered version's files are the store's; the export goes under $WORKBENCH_HOME
        from . import paths

        out = paths.home() / "exports" / model.replace("@", "-") / fmt
    try:
        result = export_run(run_dir, fmt, out, dtype, sequence)
    except (ValueError, OSError) as exc:
        _fail(exc)
    typer.echo(json.dumps(result_dict(result)) if as_json else summary(result))


app.command("retune")(retune_cmd)
app.add_typer(models_app, name="models")


@app.command("load-sample-data")
def load_sample_data(db: Path = typer.Option(None, help="SQLite file to write (default: $WORKBENCH_HOME/warehouse.db).")) -> None:
    """Write the bundled UCI splice data into a SQLite file that stands in for a warehouse."""
    from . import paths
    from .data.samples import load_splice_into_sqlite

    db = db or paths.home() / "warehouse.db"
    n = load_splice_into_sqlite(db)
    typer.echo(f"wrote {n} rows to table `splice` in {db}\nWAREHOUSE_URL=sqlite:///{db.resolve()}")


@app.command()
def quickstart(config: Path = typer.Option(Path("configs/splice.yaml"), help="Run config to use."),
               set_: list[str] = typer.Option([], "--set", help="Override a field, KEY=VALUE; repeatable."),
               serve_after: bool = typer.Option(True, "--serve/--no-serve", help="Serve the demo at the end."),
               port: int = typer.Option(7860, help="Demo TCP port (0 = any free port).")) -> None:
    """The main job: bundled splice data -> SQLite warehouse -> fine-tune -> evaluate -> demo."""
    from . import paths

    db = paths.home() / "warehouse.db"
    load_sample_data(db)
    os.environ["WAREHOUSE_URL"] = f"sqlite:///{db.resolve()}"
    run(config, set_, serve_after, port, resume=False, dry_run=False, nproc=1)


from . import cli_tools  # noqa: E402,F401  (registers demo-user, data preview, lab, make-gc-data on `app`)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # `python -m workbench.cli`: run the imported module, on whose app cli_tools registered
    from workbench.cli import main as _main

    sys.exit(_main())
