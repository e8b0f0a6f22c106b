"""``retune(config)``: re-read the source; if it changed, train a challenger, compare it with the champion on the
frozen evaluation set, and promote it only if it wins by the margin. Exit codes a scheduler can act on.

Run as::

    workbench retune configs/splice.yaml        # exit 0 unchanged/promoted, 3 rejected, 4 locked, 5 failed

Safe to schedule: one re-tune per model at a time (:mod:`.lock`; a stale lock of a killed process is cleared), free
disk is checked before training, the challenger checkpoints every ``retune.save_every`` steps and a re-tune after a
``kill -9`` resumes from the last checkpoint when the data are unchanged. Nothing touches the champion until the
challenger is registered and has won.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .. import paths

log = logging.getLogger(__name__)
EXIT_UNCHANGED, EXIT_PROMOTED, EXIT_REJECTED, EXIT_LOCKED, EXIT_FAILED = 0, 0, 3, 4, 5
EXIT_CODES = {"unchanged": EXIT_UNCHANGED, "promoted": EXIT_PROMOTED, "rejected": EXIT_REJECTED,
              "locked": EXIT_LOCKED, "failed": EXIT_FAILED}


@dataclass
class RetuneResult:
    """What a re-tune did.

    Attributes:
        name: Registered model name.
        outcome: ``unchanged``, ``promoted``, ``rejected``, ``locked`` or ``failed``.
        reason: Why, in one sentence (also in the registry and the audit log).
        exit_code: See :data:`EXIT_CODES`.
        champion: The champion's version after the re-tune.
        challenger: The version trained by this re-tune, if any.
        decision: The frozen-set comparison (:meth:`~workbench.retune.decide.Decision.to_dict`), if one ran.
        frozen: The frozen set used (:meth:`~workbench.retune.frozen.FrozenSet.to_dict`).
        data_fingerprint: The source fingerprint read.
        resumed_from_step: The checkpoint step the challenger resumed from (None: trained from the start).
        seconds: Wall time.
        timings: Seconds per stage (read, train, register, compare).
    """

    name: str
    outcome: str
    reason: str
    exit_code: int
    champion: str | None = None
    challenger: str | None = None
    decision: dict | None = None
    frozen: dict | None = None
    data_fingerprint: str = ""
    resumed_from_step: int | None = None
    seconds: float = 0.0
    timings: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-serialisable form."""
        return asdict(self)


def retune(config_path: str | Path, overrides: dict | None = None, new_frozen_set: bool = False,
           progress: bool = False, force: bool = False) -> RetuneResult:
    """Runs one champion/challenger re-tune; never raises for the outcomes a scheduler acts on.

    Args:
        config_path: The model's run config YAML (its ``retune`` and ``registry`` groups apply).
        overrides: ``--set`` style overrides (dotted key -> value).
        new_frozen_set: Carve a new frozen-set version and compare on it (and retrain even if the data are unchanged).
        progress: Show training progress bars.
        force: Train a challenger even if the data equal the champion's or the last rejected challenger's.

    Returns:
        A :class:`RetuneResult`; ``outcome`` ``failed`` carries the error in ``reason``.
    """
    from ..config import ConfigError, load_config
    from .lock import LockedError, retune_lock
    from .record import record_decision

    start = time.perf_counter()
    try:
        cfg = load_config(config_path, overrides or {})
    except ConfigError as exc:
        return RetuneResult(str(config_path), "failed", f"invalid config: {exc}", EXIT_FAILED)
    name = cfg.registry.model_name or cfg.name
    state: dict = {"timings": {}}
    try:
        with retune_lock(name) as lock:
            if lock["stale_cleared"]:
                log.warning("cleared a stale lock of pid %s", lock["stale_cleared"].get("pid"))
            result = _retune_locked(cfg, name, new_frozen_set or force, progress, state, start, new_frozen_set)
    except LockedError as exc:
        from .. import audit

        audit.record("retune", f"{name}@champion", outcome="locked", exit_code=EXIT_LOCKED, reason=str(exc))
        return RetuneResult(name, "locked", str(exc), EXIT_LOCKED, seconds=time.perf_counter() - start)
    except Exception as exc:  # noqa: BLE001 - every failure becomes exit 5 with its reason recorded
        from data_connectors import redact

        log.exception("re-tune of %s failed", name)
        reason = f"{type(exc).__name__}: {redact(str(exc))}"
        result = RetuneResult(name, "failed", reason, EXIT_FAILED, champion=state.get("champion"),
                              challenger=state.get("challenger"), data_fingerprint=state.get("fingerprint", ""),
                              seconds=time.perf_counter() - start, timings=state["timings"])
        record_decision(name, "failed", reason, data_fingerprint=result.data_fingerprint, champion=result.champion,
                        challenger=result.challenger, frozen=state.get("frozen"), seconds=result.seconds,
                        exit_code=EXIT_FAILED)
    return result


def _retune_locked(cfg, name: str, force: bool, progress: bool, state: dict, start: float,
                   new_frozen_set: bool) -> RetuneResult:
    """Runs the re-tune while holding the model's lock: read, skip if unchanged, train, register, compare.

    Args:
        cfg: The validated run config.
        name: Registered model name.
        force: Train even if the data equal the champion's or the last rejected challenger's.
        progress: Show training progress bars.
        state: What is known so far (fingerprint, champion, challenger, frozen set, timings), for a failure's record.
        start: ``time.perf_counter()`` when the re-tune started.
        new_frozen_set: Carve a new frozen-set version.

    Returns:
        The :class:`RetuneResult` (``unchanged``, ``promoted`` or ``rejected``).
    """
    from ..registry.log import learnt_nothing, track_run
    from . import frozen as fz
    from .lock import check_disk
    from .stages import compare_on_frozen, read_source, register_challenger, unchanged_reason

    if cfg.task.type not in ("classification", "regression"):
        raise ValueError(f"re-tunes compare sequence models on a frozen set; task.type {cfg.task.type!r} is not one.")
    rows, champion = read_source(cfg, name, state)
    unchanged = unchanged_reason(name, champion, state["fingerprint"], force)
    if unchanged:
        state["frozen"] = fz.latest_frozen(name)
        return _finish(name, state, start, "unchanged", unchanged)
    frozen = state["frozen"] = _frozen_set(cfg, name, rows, state["fingerprint"], new_frozen_set)
    frozen_data = frozen.load()
    check_disk(cfg.retune.min_free_gb)

    t = time.perf_counter()
    run_dir, resumed = _train_challenger(cfg, name, frozen, progress)
    state["timings"]["train"] = time.perf_counter() - t
    nothing = learnt_nothing(json.loads((run_dir / "metrics.json").read_text()))
    if nothing:  # logged for the record, never registered or promoted
        track_run(run_dir, name, register=False, extra_tags={"retune": "challenger", "learnt_nothing": "true"})
        return _finish(name, state, start, "rejected", f"challenger not registered: {nothing}",
                       resumed_from_step=resumed)
    version = register_challenger(run_dir, name, frozen, resumed, state)
    outcome, reason, decision = compare_on_frozen(cfg, name, champion, version, run_dir, frozen, frozen_data,
                                                  state["timings"])
    return _finish(name, state, start, outcome, reason, challenger=version, decision=decision,
                   resumed_from_step=resumed)


def _frozen_set(cfg, name: str, rows, fingerprint: str, new_frozen_set: bool):
    """The frozen evaluation set to compare on: the latest one, or a newly carved one.

    Args:
        cfg: The validated run config.
        name: Registered model name.
        rows: The rows read from the source.
        fingerprint: The source's data fingerprint.
        new_frozen_set: Carve a new version even if one exists.

    Returns:
        The :class:`~workbench.retune.frozen.FrozenSet`.
    """
    from . import frozen as fz

    frozen = None if new_frozen_set else fz.latest_frozen(name)
    if frozen is None:
        frozen = fz.carve_for(cfg, name, rows, fingerprint)
        log.info("carved frozen evaluation set v%d (%d rows) at %s", frozen.version, frozen.rows, frozen.path)
    return frozen


def _finish(name: str, state: dict, start: float, outcome: str, reason: str, **kw) -> RetuneResult:
    """Records the re-tune's decision, logs it and builds its :class:`RetuneResult`.

    Args:
        name: Registered model name.
        state: What the re-tune knows (fingerprint, champion, frozen set, timings).
        start: ``time.perf_counter()`` when the re-tune started.
        outcome: ``unchanged``, ``promoted`` or ``rejected``.
        reason: Why, in one sentence.
        **kw: Further :class:`RetuneResult` fields (``challenger``, ``decision``, ``resumed_from_step``).

    Returns:
        The :class:`RetuneResult`.
    """
    from ..registry.aliases import champion_number
    from .record import record_decision

    seconds = time.perf_counter() - start
    frozen = state.get("frozen")
    fingerprint = state["fingerprint"]
    record_decision(name, outcome, reason, data_fingerprint=fingerprint, champion=state["champion"],
                    challenger=kw.get("challenger"), decision=kw.get("decision"), frozen=frozen, seconds=seconds,
                    exit_code=EXIT_CODES[outcome])
    log.info("re-tune of %s: %s (%s)", name, outcome, reason)
    return RetuneResult(name, outcome, reason, EXIT_CODES[outcome], champion=champion_number(name),
                        frozen=frozen.to_dict() if frozen else None, data_fingerprint=fingerprint,
                        seconds=seconds, timings=state["timings"], **kw)


def retune_dir(name: str) -> Path:
    """Where a model's challengers are trained: ``$WORKBENCH_HOME/retune/<name>`` (run directories, checkpoints)."""
    return paths.home() / "retune" / name


def _train_challenger(cfg, name: str, frozen, progress: bool) -> tuple[Path, int | None]:
    """Trains the challenger without the frozen rows, resuming an interrupted one; returns ``(run_dir, resumed)``."""
    from ..config import validate_config
    from ..pipeline import setup
    from ..runs.partial import partial_dir
    from ..training.checkpoints import list_checkpoints

    data = cfg.model_dump(mode="json")
    data["output_dir"] = str(retune_dir(name))
    data["data"]["exclude_from"] = str(frozen.path)
    data["registry"]["track"] = False  # the re-tune logs and registers it itself, with the frozen set's tags
    data["train"]["save_every"] = cfg.retune.save_every or cfg.train.save_every
    challenger_cfg = validate_config(data)
    partial = partial_dir(challenger_cfg.output_dir, challenger_cfg.name)
    resume = bool(list_checkpoints(partial / "checkpoints"))
    try:
        result = setup(challenger_cfg, progress=progress, resume=resume)
    except ValueError as exc:
        if not (resume and str(exc).startswith("cannot resume")):
            raise
        log.warning("the interrupted challenger's checkpoints do not fit (%s); training from the start", exc)
        shutil.rmtree(partial, ignore_errors=True)
        result = setup(challenger_cfg, progress=progress, resume=False)
    training = json.loads((result.run_dir / "metrics.json").read_text())["training"]
    return result.run_dir, training.get("resumed_from_step")
