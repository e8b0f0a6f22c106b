"""``workbench serve``: the run's Gradio demo on this machine.

Run as::

    workbench serve RUN_DIR [--compare OTHER_RUN_DIR] [--auth-file FILE] [--port 7860]
    workbench serve --model splice@champion --compare splice@challenger
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .app import MODEL_HELP, app, fail, run_dir_or_model, setup_logging


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
    setup_logging()
    from ..serving.limits import limits_for
    from ..tasks import get_task

    run_dir = run_dir_or_model(run_dir, model)
    if compare is not None:
        compare = run_dir_or_model(None, compare) if "@" in compare and not Path(compare).exists() else Path(compare)
    try:
        task_file = Path(run_dir) / "task.json"
        task = json.loads(task_file.read_text()) if task_file.is_file() else {}
        limits = limits_for(run_dir, max_request_chars=max_request_chars, max_batch_rows=max_batch_rows,
                            max_upload_mb=max_upload_mb, concurrency=concurrency, queue_size=queue_size)
        get_task(task.get("type", "classification")).serve(run_dir, host, port, compare=compare, auth_file=auth_file,
                                                           limits=limits)
    except (ValueError, OSError) as exc:
        fail(exc)
