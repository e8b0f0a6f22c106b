"""Unattended champion/challenger re-tunes: the lock (:mod:`.lock`), the frozen evaluation set (:mod:`.frozen`), the
comparison (:mod:`.decide`), the decision records (:mod:`.record`) and :func:`retune` with its exit codes
(:mod:`.run`). CLI: ``workbench retune CONFIG.yaml``."""

from .run import EXIT_CODES, EXIT_FAILED, EXIT_LOCKED, EXIT_PROMOTED, EXIT_REJECTED, EXIT_UNCHANGED, RetuneResult, retune

__all__ = ["EXIT_CODES", "EXIT_FAILED", "EXIT_LOCKED", "EXIT_PROMOTED", "EXIT_REJECTED", "EXIT_UNCHANGED",
           "RetuneResult", "retune"]
