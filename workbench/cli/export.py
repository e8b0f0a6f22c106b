"""``workbench export``: a run as adapter, merged weights or GGUF, checked by a round trip.

Run as::

    workbench export RUN_DIR --format merged
    workbench export --model splice@champion --format gguf
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .app import MODEL_HELP, app, fail, run_dir_or_model, setup_logging


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
    setup_logging()
    from ..export import export_run, result_dict, summary

    run_dir = run_dir_or_model(run_dir, model)
    if model and out is None:  # a registered version's files are the store's; the export goes under $WORKBENCH_HOME
        from .. import paths

        out = paths.home() / "exports" / model.replace("@", "-") / fmt
    try:
        result = export_run(run_dir, fmt, out, dtype, sequence)
    except (ValueError, OSError) as exc:
        fail(exc)
    typer.echo(json.dumps(result_dict(result)) if as_json else summary(result))
