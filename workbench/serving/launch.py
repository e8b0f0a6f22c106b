"""Launching a demo safely: sign-in whenever it binds beyond loopback, never a share link, the Gradio queue with a
concurrency limit, upload size capped, errors shown as messages (never a stack trace), and every serve, sign-in
and query appended to the audit log (:mod:`workbench.audit`; queries as counts and digests).
"""

import contextlib
import logging
from pathlib import Path

import gradio as gr

from .. import audit
from ..data.sequences import SequenceError
from .auth import AuthError, Credentials, require_credentials
from .limits import LimitError, Limits
from .uploads import UploadError

log = logging.getLogger(__name__)
INTERNAL = ("the model could not answer this request ({kind}); the details are in the server log. Try again, and "
            "if it happens again tell the demo's administrator.")


@contextlib.contextmanager
def ui_errors():
    """Turns what went wrong in a request into a ``gradio.Error`` with a readable message.

    Input problems (bad letters, too long, bad upload, over a limit) show their own message; anything else is
    logged with its traceback on the server and shown as a short message naming only the exception's type.
    """
    try:
        yield
    except gr.Error:
        raise
    except (SequenceError, LimitError, UploadError, AuthError, ValueError) as exc:
        raise gr.Error(str(exc), print_exception=False) from None
    except Exception as exc:  # noqa: BLE001 - the server keeps serving; the user gets a message, not a trace
        log.exception("demo request failed")
        raise gr.Error(INTERNAL.format(kind=type(exc).__name__), print_exception=False) from None


def record_query(target: str, request, endpoint: str, inputs: list[str], **details) -> None:
    """Appends a ``query`` event: the signed-in user (if any), the endpoint, and the inputs as counts and digests."""
    user = getattr(request, "username", None) if request is not None else None
    client = getattr(getattr(request, "client", None), "host", None) if request is not None else None
    audit.record("query", target, user=user, endpoint=endpoint, client=client, **audit.describe_queries(inputs),
                 **details)


def _auth_callback(credentials: Credentials, target: str):
    def check(username: str, password: str) -> bool:
        ok = credentials.check(username, password)
        audit.record("sign_in", target, user=username or "(empty)", ok=ok)
        return ok
    return check


def launch(demo, target: str, host: str = "127.0.0.1", port: int = 7860, credentials: Credentials | None = None,
           limits: Limits | None = None, allowed_paths: list[str] | None = None, kind: str = "demo") -> str:
    """Queues and launches ``demo``; records a ``serve`` event.

    ``share`` is always False (a share link would tunnel the model to the internet); ``GRADIO_SHARE`` is
    ignored because the argument is given explicitly.

    Args:
        demo: The ``gradio.Blocks`` to launch.
        target: What is served (the run directory), for the audit log.
        host: Interface to bind; anything but loopback needs ``credentials``.
        port: TCP port; 0 picks a free one.
        credentials: Who may sign in; None = no sign-in page (loopback only).
        limits: Queue concurrency and length, upload size.
        allowed_paths: Files the page may show (the run directory's figures).
        kind: ``demo``, ``chat``, for the audit event.

    Returns:
        The local URL.

    Raises:
        AuthError: Binding beyond loopback without credentials.
    """
    limits = limits or Limits()
    require_credentials(host, credentials)
    demo.queue(default_concurrency_limit=limits.concurrency, max_size=limits.queue_size)
    _, url, _ = demo.launch(
        server_name=host, server_port=port or None, share=False, prevent_thread_lock=True, quiet=True,
        ssr_mode=False, inbrowser=False, show_error=True, max_file_size=limits.max_upload_bytes,
        auth=_auth_callback(credentials, target) if credentials else None,
        auth_message="Sign in to use the genome predictor demo." if credentials else None,
        allowed_paths=allowed_paths or [], enable_monitoring=False)
    audit.record("serve", target, kind=kind, host=host, port=demo.server_port, sign_in=credentials is not None,
                 sign_in_from=credentials.source if credentials else None, limits=limits.to_dict())
    return url


def card_tab(run_dir: Path, card: str, figure: str | None = None, figure_label: str = "", figure_alt: str = "") -> None:
    """The model-card tab (inside a ``gr.Blocks``): lineage lines, then the run's card (metrics, baselines) with
    registered secrets redacted, then its figure."""
    from data_connectors import redact

    from .views import lineage_summary

    with gr.Tab("Model card"):
        gr.Markdown("### Lineage\n" + redact(lineage_summary(run_dir)))
        text = card.replace(f"![{figure_alt}]({figure})", "") if figure else card
        gr.Markdown(redact(text) or "This run has no model card (README.md).", elem_id="model_card")
        if figure and (run_dir / figure).is_file():
            gr.Image(str(run_dir / figure), label=figure_label, show_label=True)
