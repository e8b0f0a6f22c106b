"""``workbench predict`` and ``workbench chat``: use a run directory (or a registered version) from the command line.

Run as::

    workbench predict RUN_DIR --sequence ACGT... [--fasta FILE] [--json]
    workbench predict splice@champion --source new_rows.yaml --to 'postgresql+psycopg://...#splice_scores' \\
        --if-exists replace                                   # batch: any source -> a table, swapped in atomically
    workbench predict splice@champion --input new.fasta --out scores.parquet
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


def resolve_model(model: str) -> tuple[Path, dict]:
    """MODEL as a run directory and ``{"name", "version"}``: a directory, or ``NAME@REF`` from the registry."""
    from ..registry import RegistryError, get_version, parse_spec, resolve_run_dir

    if Path(model).is_dir():
        return Path(model), {}
    if "@" not in model:
        fail(ValueError(f"{model!r} is neither a run directory nor a registered version; give RUN_DIR or "
                        "NAME@champion|@challenger|@VERSION (`workbench models list`)."))
    try:
        name, ref = parse_spec(model)
        return resolve_run_dir(model), {"name": name, "version": str(get_version(name, ref).version)}
    except RegistryError as exc:
        fail(exc)


@app.command()
def predict(model: str = typer.Argument(..., help="A run directory, or a registered version NAME@champion|@VERSION."),
            sequence: Optional[list[str]] = typer.Option(None, "--sequence", "-s", help="A DNA sequence; repeatable."),
            fasta: Optional[Path] = typer.Option(None, "--fasta", help="FASTA file of sequences to classify."),
            as_json: bool = typer.Option(False, "--json", help="Print JSON lines instead of a table."),
            source: Optional[Path] = typer.Option(None, help="Batch: a YAML with a `source:` block (any connector)."),
            input_file: Optional[Path] = typer.Option(None, "--input", help="Batch: a CSV/TSV/Parquet/JSONL/FASTA file."),
            out: Optional[Path] = typer.Option(None, help="Batch: write the scores to FILE.parquet or FILE.csv."),
            to: Optional[str] = typer.Option(None, help="Batch: write them to a table, URL#TABLE (${env:...} for "
                                                        "secrets)."),
            if_exists: str = typer.Option("fail", help="Batch --to: fail, replace or append when the table exists."),
            strict: bool = typer.Option(False, help="Batch: fail on a refused sequence instead of writing its reason."),
            sequence_column: Optional[str] = typer.Option(None, help="Batch: the source's sequence column "
                                                                     "(default: the run's)."),
            chunk_rows: int = typer.Option(4096, min=1, help="Batch: rows scored and written per chunk.")) -> None:
    """Predict classes (or values, for a regression run) for --sequence/--fasta, or score a whole source (--source or
    --input) into a file (--out) or a warehouse table (--to), atomically."""
    setup_logging()
    from ..serving.predictor import Predictor, read_fasta

    batch = source is not None or input_file is not None
    if batch and (out is None) == (to is None):
        fail(ValueError("batch scoring writes to exactly one of --out FILE.parquet|.csv or --to URL#TABLE."))
    if not batch and not sequence and not fasta:
        fail(ValueError("give --sequence S (repeatable) or --fasta FILE, or --source/--input with --out/--to."))
    run_dir, info = resolve_model(model)
    if batch:
        _score_batch(run_dir, info, source, input_file, out, to, if_exists, strict, sequence_column, chunk_rows)
        return
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


def _score_batch(run_dir: Path, info: dict, source, input_file, out, to, if_exists, strict, column, chunk_rows) -> None:
    """``workbench predict --source/--input ... --out/--to ...``: :func:`workbench.scoring.job.score_source`."""
    from ..scoring.job import score_source, source_from
    from ..scoring.targets import FileTarget, TableTarget
    from ..serving.predictor import Predictor

    try:
        block, named = source_from(source, input_file)
        predictor = Predictor.load(run_dir)
        factory = ((lambda schema: FileTarget(out, schema)) if out else
                   (lambda schema: TableTarget(to, schema, if_exists)))
        result = score_source(predictor, block, factory, column=column or named, model=info, strict=strict,
                              chunk_rows=chunk_rows)
    except (ValueError, OSError) as exc:
        fail(exc)
    for rid, reason in result.refused[:10]:
        typer.secho(f"refused: id {rid}: {reason}", fg=typer.colors.YELLOW, err=True)
    more = " (the first 10 listed above; all have their reason in the `error` column)" if result.refused_rows > 10 else ""
    typer.echo(f"scored {result.rows:,} rows -> {result.target} in {result.seconds:.1f} s "
               f"({result.rows / max(result.seconds, 1e-9):,.0f} rows/s); {result.refused_rows} refused{more}; "
               f"data fingerprint {result.fingerprint[:12]}")
