"""Refuses every non-loopback network connection of the process it is installed in, and records it.

The test suite installs it in its own process (tests/conftest.py) and in the processes its tests start
(the notebook kernel, `workbench predict` subprocesses): there, set ``WORKBENCH_TEST_NETLOG`` to a file
that each refused attempt is appended to, and check that it stays empty. Use::

    import tests.netguard; tests.netguard.install()
"""

from __future__ import annotations

import ipaddress
import os
import socket

ATTEMPTS: list[str] = []
_real_connect = socket.socket.connect


def is_loopback(address) -> bool:
    """True for AF_UNIX paths, ``localhost`` and loopback IP addresses."""
    if not isinstance(address, tuple):  # AF_UNIX path
        return True
    host = address[0]
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _guarded_connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(address):
        ATTEMPTS.append(repr(address))
        log = os.environ.get("WORKBENCH_TEST_NETLOG")
        if log:
            with open(log, "a") as f:
                f.write(f"{os.getpid()} {address!r}\n")
        raise OSError(f"test guard: connection to non-loopback address {address!r} refused (the workbench is offline)")
    return _real_connect(self, address)


def install() -> None:
    """Installs the guard on ``socket.socket.connect`` (idempotent)."""
    socket.socket.connect = _guarded_connect
