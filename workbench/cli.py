"""Command-line interface: ``workbench run | predict | chat | serve | quickstart | load-sample-data``.

Run as::

    workbench quickstart                 # bundled data -> SQLite -> train -> evaluate -> demo
    workbench run configs/splice.yaml    # any run config
    workbench run configs/chat_sft.yaml  # task.type: sft -> the chat SFT recipe (workbench.sft)
    workbench predict RUN_DIR --sequence ACGT...
    workbench chat RUN_DIR --prompt "How many days of annual leave do I get?"
    workbench serve RUN_DIR              # classifier demo, or a chat for SFT runs
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Private fine-tuning workbench: LoRA fine-tune an open base model on your own data, offline.")


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    for noisy in ("httpx", "urllib3", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from data_connectors import install_log_redaction

    install_log_redaction()


def _parse_overrides(items: list[str]) -> dict:
    import yaml

    out = {}
    for item in items:
        if "=" not in item:
            raise typer.BadParameter(f"--set expects KEY=VALUE (e.g. train.epochs=0.5), got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(value)
    return out


def _fail(exc: Exception) -> None:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


@app.command()
def run(config: Path = typer.Argument(..., help="Run config YAML (see configs/)."),
        set_: list[str] = typer.Option([], "--set", help="Override a field, KEY=VALUE with a dotted key "
                                       "(e.g. --set train.epochs=0.5); repeatable."),
        serve_after: bool = typer.Option(False, "--serve", help="Serve the demo when the run finishes."),
        port: int = typer.Option(7860, help="Demo TCP port with --serve (0 = any free port).")) -> None:
    """Connect -> split -> train -> evaluate -> save a run directory (printed at the end)."""
    _logging()
    from .config import ConfigError, load_config, task_type
    from .recipe import setup

    try:
        if task_type(config) == "sft":
            return _run_sft(config, set_, serve_after, port)
        cfg = load_config(config, _parse_overrides(set_))
    except ConfigError as exc:
        _fail(exc)
    try:
        result = setup(cfg)
    except (ValueError, RuntimeError) as exc:
        _fail(exc)
    m, b = result.metrics, result.baselines
    typer.echo(f"test accuracy {m['accuracy']:.4f}  MCC {m['mcc']:.4f}  macro-F1 {m['macro_f1']:.4f}  "
               f"(one-hot baseline {b['onehot_logreg']['accuracy']:.4f}, k-mer baseline {b['kmer_logreg']['accuracy']:.4f})")
    typer.echo(f"run directory: {result.run_dir}  ({result.seconds / 60:.1f} min)")
    if serve_after:
        from .demo import serve as serve_demo

        serve_demo(result.run_dir, cfg.serve.host, port)


def _run_sft(config: Path, set_: list[str], serve_after: bool, port: int) -> None:
    """`workbench run` for a config with ``task.type: sft`` (chat SFT recipe)."""
    from .sft import setup
    from .sft_config import load_sft_config

    cfg = load_sft_config(config, _parse_overrides(set_))
    try:
        result = setup(cfg)
    except (ValueError, RuntimeError) as exc:
        _fail(exc)
    b, t = result.metrics["base"], result.metrics["tuned"]
    typer.echo(f"test perplexity {t['test']['perplexity']:.2f} (base {b['test']['perplexity']:.2f})  "
               f"exact match {t['exact_match']['exact_match']:.3f} (base {b['exact_match']['exact_match']:.3f}, "
               f"n={t['exact_match']['n']})")
    typer.echo(f"run directory: {result.run_dir}  ({result.seconds / 60:.1f} min)")
    if serve_after:
        from .chat import serve_chat

        serve_chat(result.run_dir, cfg.serve.host, port)


@app.command()
def chat(run_dir: Path = typer.Argument(..., help="An SFT run directory written by `workbench run`."),
         prompt: list[str] = typer.Option(..., "--prompt", "-p", help="A user message; repeatable (answered one by one)."),
         max_new_tokens: Optional[int] = typer.Option(None, help="Most tokens per answer (default: the run's).")) -> None:
    """Answer prompts with a chat SFT run (greedy decoding, base model + adapter)."""
    _logging()
    from .chat import ChatRun

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
    """Predict classes for sequences given with --sequence or --fasta."""
    _logging()
    from .predictor import Predictor, read_fasta

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
        if as_json:
            typer.echo(json.dumps({"id": rid, "label": p.label, "probabilities": p.probabilities}))
        else:
            probs = "  ".join(f"{k}={v:.3f}" for k, v in p.probabilities.items())
            typer.echo(f"{rid}\t{p.label}\t{probs}")


@app.command()
def serve(run_dir: Path = typer.Argument(..., help="A run directory written by `workbench run`."),
          host: str = typer.Option("127.0.0.1", help="Interface to bind; 0.0.0.0 exposes the demo to the network."),
          port: int = typer.Option(7860, help="TCP port (0 = any free port).")) -> None:
    """Serve the Gradio demo for a run (Ctrl+C stops it); a chat for SFT runs."""
    _logging()
    from .demo import serve as serve_demo

    try:
        task = json.loads((Path(run_dir) / "task.json").read_text()) if (Path(run_dir) / "task.json").is_file() else {}
        if task.get("type") == "sft":
            from .chat import serve_chat

            serve_chat(run_dir, host, port)
            return
        serve_demo(run_dir, host, port)
    except ValueError as exc:
        _fail(exc)


data_app = typer.Typer(no_args_is_help=True, help="Look at a run config's data source without training.")
app.add_typer(data_app, name="data")


@data_app.command("preview")
def data_preview(config: Path = typer.Argument(..., help="Run config YAML whose `source:` to preview."),
                 rows: int = typer.Option(5, "--rows", "-n", help="Rows to show (>= 1)."),
                 set_: list[str] = typer.Option([], "--set", help="Override a field, KEY=VALUE; repeatable.")) -> None:
    """Show the source's schema, first rows and whether the column mapping fits; writes nothing."""
    _logging()
    from data_connectors import ColumnMapping, ConnectorError, preview_text

    from .config import ConfigError, load_config, task_type

    try:
        if task_type(config) == "sft":
            from .sft_config import load_sft_config

            cfg = load_sft_config(config, _parse_overrides(set_))
            c = cfg.columns
            mapping = ColumnMapping(c.messages, c.messages, True) if c.messages else ColumnMapping(c.prompt, c.response, True)
        else:
            cfg = load_config(config, _parse_overrides(set_))
            mapping = ColumnMapping(cfg.columns.sequence, cfg.columns.label)
        typer.echo(preview_text(cfg.source, mapping, n=rows))
    except (ConfigError, ConnectorError, ValueError) as exc:
        _fail(exc)


@app.command("load-sample-data")
def load_sample_data(db: Path = typer.Option(None, help="SQLite file to write (default: $WORKBENCH_HOME/warehouse.db).")) -> None:
    """Write the bundled UCI splice data into a SQLite file that stands in for a warehouse."""
    from . import paths
    from .quickstart import load_splice_into_sqlite

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
    run(config, set_, serve_after, port)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    sys.exit(main())
