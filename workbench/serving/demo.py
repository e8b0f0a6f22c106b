"""Gradio demo for a finished sequence run: paste a DNA sequence (class probabilities with readable class names,
or the predicted value on its training range), upload a FASTA/CSV batch, look at the in-silico mutagenesis heat
map, compare two versions side by side, read the model card (:mod:`.sequence_app`).

Binds 127.0.0.1 by default; binding anything else requires sign-in (:mod:`.auth`); never creates a share link;
analytics off; request, batch and upload limits and the queue's concurrency from :mod:`.limits`.

Run as::

    workbench serve RUN_DIR [--host 127.0.0.1] [--port 7860] [--compare OTHER_RUN_DIR] [--auth-file FILE]
"""

from __future__ import annotations

from pathlib import Path

from .auth import load_credentials
from .limits import Limits, limits_for
from .predictor import Predictor


def build_classification_demo(predictor: Predictor, limits: Limits | None = None, compare: Predictor | None = None):
    """Builds the Gradio Blocks app of a classification run.

    The ``classify`` endpoint (``api_name="classify"``) takes a sequence string and returns
    ``{"label": code, "name": readable name, "probabilities": {code: probability}}``. Invalid input raises
    ``gradio.Error`` with the validation message.

    Args:
        predictor: A loaded :class:`~workbench.serving.predictor.Predictor`.
        limits: Request, batch and upload limits.
        compare: A second version of the model, shown side by side (champion vs challenger).

    Returns:
        A ``gradio.Blocks`` (not yet launched).
    """
    from .sequence_app import build_sequence_app

    return build_sequence_app(predictor, limits, compare, "confusion_matrix.png", "Confusion matrix (test split)",
                              "confusion matrix")


def build_regression_demo(predictor: Predictor, limits: Limits | None = None, compare: Predictor | None = None):
    """Builds the Gradio Blocks app of a regression run: the ``predict`` endpoint (``api_name="predict"``)
    returns the predicted value as a float; the page shows it on the training range."""
    from .sequence_app import build_sequence_app

    return build_sequence_app(predictor, limits, compare, "scatter.png", "Predicted vs true (test split)",
                              "predicted vs true")


DEMOS = {"classification": build_classification_demo, "regression": build_regression_demo}


def serve(run_dir: str | Path, host: str = "127.0.0.1", port: int = 7860, block: bool = True, build=None,
          compare: str | Path | None = None, auth_file: str | Path | None = None, limits: Limits | None = None,
          credentials=None):
    """Loads a run and launches its demo.

    Args:
        run_dir: A run directory written by ``workbench run``.
        host: Interface to bind (``127.0.0.1`` keeps it on this machine; anything else requires sign-in).
        port: TCP port; 0 picks a free one.
        block: Keep serving until interrupted (False returns right after start, for tests/notebooks).
        build: ``(predictor, limits=, compare=) -> gradio.Blocks``; default: :data:`DEMOS` for the run's task type
            (what ``Task.demo`` of the sequence tasks returns).
        compare: A second run directory of the same task and classes, shown side by side.
        auth_file: Password file (see :mod:`.auth`); default ``$WORKBENCH_DEMO_AUTH_FILE`` or the
            ``WORKBENCH_DEMO_USER``/``WORKBENCH_DEMO_PASSWORD`` variables.
        limits: Default: the run's saved ``serve:`` settings (:func:`~workbench.serving.limits.limits_for`).
        credentials: A :class:`~workbench.serving.auth.Credentials` to use instead of ``auth_file``/the environment.

    Returns:
        ``(demo, local_url)``.

    Raises:
        workbench.serving.auth.AuthError: Binding beyond loopback without credentials (checked before the model
            loads), or malformed credentials.
    """
    from .auth import require_credentials
    from .launch import launch

    credentials = credentials or load_credentials(auth_file)
    require_credentials(host, credentials)
    limits = limits or limits_for(run_dir)
    predictor = Predictor.load(run_dir)
    other = Predictor.load(compare) if compare else None
    demo = (build or DEMOS[predictor.task_type])(predictor, limits=limits, compare=other)
    paths = [str(Path(p).resolve()) for p in (run_dir, compare) if p]
    url = launch(demo, str(Path(run_dir)), host, port, credentials, limits, paths)
    print(f"Demo running at {url}" + (" (sign-in required)" if credentials else "") + " (Ctrl+C to stop)", flush=True)
    if block:
        demo.block_thread()
    return demo, url
