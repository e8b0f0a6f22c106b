"""One re-tune per registered model at a time: an ``O_EXCL`` lock file under ``$WORKBENCH_HOME/locks``.

The lock file holds the owner's pid, host name and start time. A lock whose process no longer runs on this host
(killed with ``kill -9``, a reboot) is stale: the next re-tune says so, removes it and goes on. A lock held by a
live process makes the second re-tune exit with :data:`workbench.retune.run.EXIT_LOCKED`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
import socket
from pathlib import Path
from typing import Iterator

from .. import paths

log = logging.getLogger(__name__)


class LockedError(RuntimeError):
    """Raised when another live process holds the re-tune lock of the same model."""


def lock_path(name: str) -> Path:
    """``$WORKBENCH_HOME/locks/retune-<name>.lock``."""
    folder = paths.home() / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"retune-{name}.lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def read_lock(path: Path) -> dict | None:
    """The lock's owner record, or None if there is no lock (an unreadable file counts as ``{}``)."""
    try:
        return json.loads(path.read_text() or "{}")
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}


def is_stale(owner: dict) -> bool:
    """Whether a lock's owner is gone: same host and its pid is not running (another host's lock is never stale)."""
    if owner.get("host") != socket.gethostname():
        return False
    pid = owner.get("pid")
    return not isinstance(pid, int) or not _alive(pid)


def clear_stale(name: str) -> dict | None:
    """Removes the lock of ``name`` if its owner is gone; returns the stale owner record (None if none was removed)."""
    path = lock_path(name)
    owner = read_lock(path)
    if owner is None or not is_stale(owner):
        return None
    log.warning("removing the stale re-tune lock %s (pid %s on %s, started %s, no longer running)", path,
                owner.get("pid"), owner.get("host"), owner.get("started"))
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    return owner


@contextlib.contextmanager
def retune_lock(name: str) -> Iterator[dict]:
    """Holds the re-tune lock of ``name`` for the block; yields ``{"path", "stale_cleared"}``.

    Raises:
        LockedError: A live process holds it (the message names the pid, host and start time).
    """
    path = lock_path(name)
    stale = clear_stale(name)
    record = {"pid": os.getpid(), "host": socket.gethostname(),
              "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        owner = read_lock(path) or {}
        raise LockedError(f"another re-tune of {name!r} is running (pid {owner.get('pid')} on {owner.get('host')}, "
                          f"started {owner.get('started')}; lock {path}). Wait for it to finish; if that process is "
                          "gone from another host, delete the lock file.") from None
    try:
        os.write(fd, json.dumps(record).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        yield {"path": path, "stale_cleared": stale}
    finally:
        if (read_lock(path) or {}).get("pid") == os.getpid():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


class DiskSpaceError(RuntimeError):
    """Raised when ``$WORKBENCH_HOME`` has less free disk than ``retune.min_free_gb`` before training."""


def check_disk(min_free_gb: float, where: Path | None = None) -> float:
    """Returns the free GB under ``where`` (default ``$WORKBENCH_HOME``).

    Raises:
        DiskSpaceError: Less than ``min_free_gb`` is free (the message says how much is, and what to do).
    """
    import shutil

    where = where or paths.home()
    free = shutil.disk_usage(where).free / 1e9
    if free < min_free_gb:
        raise DiskSpaceError(f"only {free:.2f} GB free under {where}; a re-tune needs retune.min_free_gb="
                             f"{min_free_gb:g} GB before training (checkpoints, run directory, registry copy). Free "
                             "space (old run directories under $WORKBENCH_HOME/retune/) or lower retune.min_free_gb.")
    return free
