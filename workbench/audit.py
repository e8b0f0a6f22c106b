"""Append-only audit log: who ran, trained, promoted, served and queried what.

One JSON object per line in ``$WORKBENCH_HOME/audit.jsonl``. Each line is written with a
single ``write`` on a file opened ``O_APPEND`` and flushed to disk, so concurrent writers
(the demo's worker threads, a re-tune from cron) never interleave or truncate lines, and
nothing in the package ever rewrites or deletes the file.

Queries are recorded as counts and SHA-256 digests, not the sequences or prompts
themselves, unless the admin sets ``WORKBENCH_AUDIT_QUERIES=1``. Every string goes through
:func:`data_connectors.redact` first, so registered secrets and ``user:password@`` URL parts
never reach the log.

Run as (read the log)::

    python -m workbench.audit            # prints the last 20 events
"""

from __future__ import annotations

import datetime as _dt
import getpass
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Iterable

from workbench.paths import home

ACTIONS = ("run", "train", "evaluate", "promote", "rollback", "retune", "serve", "query", "export", "sign_in", "lab",
           "predict")
"""The actions the workbench records. Anything else is refused, so a typo cannot create a new kind of event."""


def audit_path() -> Path:
    """Returns the audit log's path, ``$WORKBENCH_HOME/audit.jsonl`` (the file may not exist yet)."""
    return home() / "audit.jsonl"


def actor() -> str:
    """Returns who is acting: ``$WORKBENCH_USER`` if set, else the operating-system user name."""
    name = os.environ.get("WORKBENCH_USER")
    if name:
        return name
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        return f"uid:{os.getuid()}"


def digest(text: str) -> str:
    """Returns ``sha256:<hex>`` of ``text`` (UTF-8), the form in which queries are logged."""
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def describe_queries(queries: Iterable[str]) -> dict[str, Any]:
    """Summarises demo or API inputs for the audit log without storing them.

    Args:
        queries: The raw inputs (sequences, prompts), one string each.

    Returns:
        ``{"count": n, "chars": total length, "sha256": [digest per input]}``, plus ``"raw"``
        (the inputs themselves) only when ``WORKBENCH_AUDIT_QUERIES=1``.
    """
    items = [str(q) for q in queries]
    out: dict[str, Any] = {"count": len(items), "chars": sum(len(q) for q in items),
                           "sha256": [digest(q) for q in items[:100]]}
    if os.environ.get("WORKBENCH_AUDIT_QUERIES") == "1":
        out["raw"] = items
    return out


def _scrub(value: Any) -> Any:
    from data_connectors import redact_config

    return redact_config(value)


def record(action: str, target: str = "", user: str | None = None, **details: Any) -> dict[str, Any]:
    """Appends one event to the audit log.

    Args:
        action: One of :data:`ACTIONS`.
        target: What was acted on (a run directory, ``NAME@champion``, a config path).
        user: Who acted; default :func:`actor`. The demo passes its signed-in user.
        **details: JSON-serialisable facts (metrics, exit code, bind address). Secret-like keys and
            registered secret values are redacted.

    Returns:
        The event as written.

    Raises:
        ValueError: If ``action`` is not one of :data:`ACTIONS`.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}; use one of {', '.join(ACTIONS)}")
    event = {"time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds"),
             "user": user or actor(), "action": action, "target": _scrub(str(target)), "pid": os.getpid(),
             **_scrub(details)}
    line = (json.dumps(event, default=str, sort_keys=False) + "\n").encode("utf-8")
    fd = os.open(audit_path(), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    return event


def read_events(path: Path | None = None) -> list[dict[str, Any]]:
    """Returns every event in the audit log, oldest first (empty if there is no log yet)."""
    path = path or audit_path()
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


if __name__ == "__main__":  # pragma: no cover - manual inspection
    for ev in read_events()[-20:]:
        json.dump(ev, sys.stdout)
        sys.stdout.write("\n")
