"""``workbench predict`` and ``workbench chat``: use a run directory from the command line.

Run as::

    workbench predict RUN_DIR --sequence ACGT... [--fasta FILE] [--json]
    workbench chat RUN_DIR --prompt "How many days of annual leave do I get?"
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .app import app, fail, setup_logging


@app.command()
def chat(run_dir: Path = typer.Argument(..., help="An SFT run directory written by `workbench run`."),
         prompt: list[str] = typer.Option(..., "--prompt", "-p", help="A user message; repeatable (answered one by one)."),
         max_new_tokens: Optional[int] = typer.Option(None, help="Most tokens per answer (default: the run's).")) -> None:
    """Answer prompts with a chat SFT run (greedy decoding, base model + adapter)."""
    setup_logging()
    from ..serving.chat import ChatRun

    try:
        run_ = ChatRun.load(run_dir)
    except (ValueError, OSError) as exc:
        fail(exc)
    for text in prompt:
        typer.echo(run_.reply(text, max_new_tokens=max_new_tokens))


@app.command()
def predict(run_dir: Path = typer.Argument(..., help="A run directory written by `workbench run`."),
            sequence: Optional[list[str]] = typer.Option(None, "--sequence", "-s", help="A DNA sequence; repeatable."),
            fasta: Optional[Path] = typer.Option(None, "--fasta", help="FASTA file of sequences to classify."),
            as_json: bool = typer.Option(False, "--json", help="Print JSON lines instead of a table.")) -> None:
    """Predict classes (or values, for a regression run) for sequences given with --sequence or --fasta."""
    setup_logging()
    from ..serving.predictor import Predictor, read_fasta

    if not sequence and not fasta:
        fail(ValueError("give --sequence S (repeatable) or --fasta FILE."))
    try:
        records = [(f"seq{i + 1}", s) for i, s in enumerate(sequence or [])]
        if fasta:
            records += read_fasta(fasta)
        predictor = Predictor.load(run_dir)
        preds = predictor.predict([s for _, s in records])
    except (ValueError, OSError) as exc:
        fail(exc)
    for (rid, _), p in zip(records, preds):
        typer.echo(json.dumps(p.as_dict(rid)) if as_json else "\t".join([rid, *p.cells()]))
