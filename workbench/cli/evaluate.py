"""``workbench evaluate``: score a finished run (or a registered version) on an external labelled test set.

Run as::

    workbench evaluate RUN_DIR --input independent_test.csv
    workbench evaluate splice@champion --source test_set.yaml [--name statlog-test] [--set source.url=...]
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .app import app, fail, parse_set, setup_logging


@app.command()
def evaluate(target: str = typer.Argument(..., help="A run directory, or a registered version NAME@champion, "
                                          "NAME@challenger or NAME@VERSION."),
             source: Optional[Path] = typer.Option(None, "--source", help="YAML file with the external set's "
                                                   "`source:` block (any connector), optional `columns:` and `name:`."),
             input_file: Optional[Path] = typer.Option(None, "--input", help="CSV/TSV/Parquet/JSONL file with the "
                                                       "run's sequence and label columns."),
             name: Optional[str] = typer.Option(None, "--name", help="Name of this evaluation (default: the YAML's "
                                                "`name` or the file name)."),
             sequence_column: Optional[str] = typer.Option(None, help="The external set's sequence column."),
             label_column: Optional[str] = typer.Option(None, help="The external set's label column."),
             set_: list[str] = typer.Option([], "--set", help="Override a field of the run's config, KEY=VALUE, when "
                                            "its training rows are re-read (e.g. a redacted source URL); repeatable."),
             as_json: bool = typer.Option(False, "--json", help="Print the recorded entry as JSON.")) -> None:
    """Score a run on an external labelled set beside its baselines refitted on the run's own training rows; record
    the result in the run's metrics.json, its model card and the tracking store."""
    setup_logging()
    import json

    from ..external import evaluate_external

    try:
        entry = evaluate_external(target, source, input_file, name, parse_set(set_), sequence_column, label_column)
    except (ValueError, OSError) as exc:
        fail(exc)
    if as_json:
        typer.echo(json.dumps(entry, indent=2, default=str))
    else:
        typer.echo(summary(entry))
    from ..data.leakage import leakage_sentences

    for line in leakage_sentences(entry["leakage"], scored="external", strategy="external"):
        typer.secho(f"warning: {line}", fg=typer.colors.YELLOW, err=True)
    typer.echo(f"recorded in {Path(entry['model']['run_dir']) / 'metrics.json'} (external_evaluations) and its "
               f"README.md{'; MLflow run ' + entry['mlflow_run_id'] if entry.get('mlflow_run_id') else ''}")


def summary(entry: dict) -> str:
    """The evaluation as lines: the model's figure, then each baseline's with the difference and its interval."""
    m, vs = entry["metrics"], entry["metrics"].get("vs_baselines", {})
    key = "accuracy" if entry["task_type"] != "regression" else "r2"
    lines = [f"{entry['name']}: n = {m['n']}; this model {key} {m[key]:.4f}"
             + (f", MCC {m['mcc']:.4f}" if "mcc" in m else f", Spearman {m['spearman']:.4f}")]
    for name, b in entry["baselines"].items():
        d = vs.get(name)
        diff = f"  difference {d['difference']:+.4f} [{d['ci95'][0]:+.4f}, {d['ci95'][1]:+.4f}]" if d else ""
        lines.append(f"  {name:<14} {key} {b[key]:.4f}{diff}")
    return "\n".join(lines)
