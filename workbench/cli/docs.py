"""``workbench docs``: build this documentation site (MkDocs, ``mkdocs.yml`` at the repository root) and serve it on
127.0.0.1. The site makes no request outside the machine it is served from (``docs/writing-docs.md``).

Run as::

    workbench docs                                  # build into $WORKBENCH_HOME/docs/site, serve http://127.0.0.1:8000
    workbench docs --port 8001
    workbench docs --build-only --site-dir public   # just the files, e.g. for an internal web server
"""

from __future__ import annotations

import functools
import http.server
import logging
import os
import shutil
import threading
from pathlib import Path
from typing import Optional

import typer

from .app import app, fail

REPO = Path(__file__).resolve().parents[2]


class DocsError(RuntimeError):
    """Raised when the site cannot be built: no sources here, MkDocs missing, or a strict-mode warning."""


def build_site(site_dir: Path, config_file: Path = REPO / "mkdocs.yml") -> Path:
    """Builds the site in strict mode into a staging folder, then swaps it in for ``site_dir``.

    Args:
        site_dir: Where the built site goes; an earlier build there is replaced only after this one succeeds.
        config_file: The MkDocs config (default: the repository's ``mkdocs.yml``).

    Returns:
        ``site_dir``.

    Raises:
        DocsError: ``config_file`` is missing (an installed package without its repository), MkDocs is not
            installed, or the build failed (a broken link, a missing reference: the message lists MkDocs' warnings).
    """
    if not config_file.is_file():
        raise DocsError(f"{config_file} not found: the documentation sources (mkdocs.yml, docs/) come with a checkout "
                        "of the workbench repository; run `workbench docs` from an editable install of one.")
    os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")  # Material's notice about its successor, on every build
    try:
        from mkdocs.commands.build import build
        from mkdocs.config import load_config
        from mkdocs.exceptions import MkDocsException
    except ImportError:
        raise DocsError("MkDocs is not installed: `pip install -e '.[docs]'` (or `bash scripts/setup.sh --dev`) "
                        "installs the site's tools.") from None
    site_dir = Path(site_dir).resolve()
    site_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = site_dir.with_name(f".{site_dir.name}.building-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    warnings = _Warnings()
    mkdocs_log = logging.getLogger("mkdocs")
    mkdocs_log.addHandler(warnings)
    try:
        build(load_config(config_file=str(config_file), site_dir=str(staging), strict=True))
    except (MkDocsException, SystemExit) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise DocsError(f"the documentation did not build ({exc}); fix these (page and link or reference):\n"
                        + "\n".join(f"  - {m}" for m in warnings.messages[:30])) from None
    finally:
        mkdocs_log.removeHandler(warnings)
    old = site_dir.with_name(f".{site_dir.name}.old-{os.getpid()}")
    if site_dir.exists():
        site_dir.rename(old)
    staging.rename(site_dir)
    shutil.rmtree(old, ignore_errors=True)
    return site_dir


class _Warnings(logging.Handler):
    """Collects MkDocs' warnings during a build, so that the error names them even where logging is not set up."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(" ".join(record.getMessage().split()))


def serve_site(site_dir: Path, port: int = 8000) -> http.server.ThreadingHTTPServer:
    """Starts serving ``site_dir`` on 127.0.0.1 in a background thread (static files only, loopback only).

    Args:
        site_dir: A built site.
        port: TCP port (0 = any free port; the bound one is ``server.server_address[1]``).

    Returns:
        The running server; call ``shutdown()`` to stop it.
    """
    handler = functools.partial(_QuietHandler, directory=str(site_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, name="workbench-docs", daemon=True).start()
    return server


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the base class's name) - one line per file is noise
        pass


@app.command()
def docs(port: int = typer.Option(8000, help="TCP port on 127.0.0.1 (0 = any free port)."),
         site_dir: Optional[Path] = typer.Option(None, "--site-dir", help="Where to build the site (default: "
                                                 "$WORKBENCH_HOME/docs/site)."),
         build_only: bool = typer.Option(False, "--build-only", help="Build the site and exit; do not serve it.")
         ) -> None:
    """Build this documentation site (strict: a broken link fails) and serve it on 127.0.0.1."""
    from .. import paths

    try:
        target = build_site(site_dir or paths.home() / "docs" / "site")
    except DocsError as exc:
        fail(exc)
    typer.echo(f"built the documentation site in {target}")
    if build_only:
        return
    try:
        server = serve_site(target, port)
    except OSError as exc:
        fail(ValueError(f"cannot serve on 127.0.0.1:{port} ({exc}); choose another --port."))
    typer.echo(f"serving http://127.0.0.1:{server.server_address[1]}/ (Ctrl+C stops)")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()
