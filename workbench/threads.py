"""How torch's CPU threads wait: the OpenMP wait policy, set on import before torch loads its OpenMP runtime.

A CPU run trains on ``train.threads`` torch threads (0 = all cores). Between parallel regions, libgomp's threads
spin for a while before they sleep; on a machine where another process takes a core, the spinning threads fight it
for the core and every step waits for the slowest thread. Measured on a 2-core AMD EPYC (AVX2) with one competing
``while True: pass`` process (benchmarks/results/shared_cpu.md): the quickstart recipe's step took 3.1x its quiet
time with the runtime's default policy, 1.7x with ``OMP_WAIT_POLICY=PASSIVE`` and 1.6x on one thread, while
``PASSIVE`` costs about 12 % on a quiet machine and one thread 56 %. So the workbench sets
``OMP_WAIT_POLICY=PASSIVE`` unless the user set ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` already (on a dedicated
machine, ``GOMP_SPINCOUNT=300000``, libgomp's own default, gets the spinning back). The wait policy changes when
threads sleep, never what they compute: results are the same bit for bit (tests/integration/test_reproducible.py).
"""

from __future__ import annotations

import logging
import os
import sys

log = logging.getLogger(__name__)
WAIT_POLICY = "PASSIVE"


def apply_thread_env() -> str | None:
    """Sets ``OMP_WAIT_POLICY=PASSIVE`` unless the user chose a wait policy or spin count, or torch is loaded.

    Returns:
        The value set, or ``None`` if nothing was set (the user's choice stands, or torch was imported before the
        workbench, when OpenMP has already read its environment).
    """
    if "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ:
        return None
    if "torch" in sys.modules:
        log.debug("torch was imported before workbench: OpenMP keeps its own wait policy in this process")
        return None
    os.environ["OMP_WAIT_POLICY"] = WAIT_POLICY
    return WAIT_POLICY


def wait_policy() -> str:
    """The wait policy this process's OpenMP runtime reads: ``PASSIVE``, ``ACTIVE``, ``spincount N`` or
    ``default`` (recorded in every run's ``metrics.json``)."""
    if "OMP_WAIT_POLICY" in os.environ:
        return os.environ["OMP_WAIT_POLICY"].upper()
    if "GOMP_SPINCOUNT" in os.environ:
        return f"spincount {os.environ['GOMP_SPINCOUNT']}"
    return "default"
