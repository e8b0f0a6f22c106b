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
    from ..data.sources import read_sequences
    from ..registry.aliases import champion_number, promote, set_challenger
    from ..registry.log import learnt_nothing, track_run
    from ..registry.versions import find_version, resolve_run_dir
    from . import frozen as fz
    from .decide import decide, predictions
    from .lock import check_disk
    from .record import record_decision

    if cfg.task.type not in ("classification", "regression"):
        raise ValueError(f"re-tunes compare sequence models on a frozen set; task.type {cfg.task.type!r} is not one.")
    t = time.perf_counter()
    column = cfg.retune.frozen_column
    rows = read_sequences(cfg.model_copy(update={"data": cfg.data.model_copy(update={"exclude_from": None})}),
                          (column,) if column else ())
    fingerprint = state["fingerprint"] = rows.lineage.fingerprint
    champion = find_version(name, "champion")
    state["champion"] = str(champion.version) if champion else None
    state["timings"]["read"] = time.perf_counter() - t

    def finish(outcome: str, reason: str, **kw) -> RetuneResult:
        seconds = time.perf_counter() - start
        frozen = state.get("frozen")
        record_decision(name, outcome, reason, data_fingerprint=fingerprint, champion=state["champion"],
                        challenger=kw.get("challenger"), decision=kw.get("decision"), frozen=frozen, seconds=seconds,
                        exit_code=EXIT_CODES[outcome])
        log.info("re-tune of %s: %s (%s)", name, outcome, reason)
        return RetuneResult(name, outcome, reason, EXIT_CODES[outcome], champion=champion_number(name),
                            frozen=frozen.to_dict() if frozen else None, data_fingerprint=fingerprint,
                            seconds=seconds, timings=state["timings"], **kw)

    rejected = find_version(name, "challenger")
    if champion is not None and not force and (champion.tags or {}).get("data_fingerprint") == fingerprint:
        state["frozen"] = fz.latest_frozen(name)
        return finish("unchanged", f"the source's data fingerprint {fingerprint[:12]}… equals champion "
                      f"v{champion.version}'s; nothing trained")
    if (rejected is not None and not force and (rejected.tags or {}).get("decision") == "rejected"
            and (rejected.tags or {}).get("data_fingerprint") == fingerprint):
        state["frozen"] = fz.latest_frozen(name)
        return finish("unchanged", f"the source's data fingerprint {fingerprint[:12]}… equals that of challenger "
                      f"v{rejected.version}, rejected against champion v{champion.version if champion else '-'}; "
                      "nothing trained (--force retrains)")
    frozen = None if new_frozen_set else fz.latest_frozen(name)
    if frozen is None:
        frozen = fz.carve_for(cfg, name, rows, fingerprint)
        log.info("carved frozen evaluation set v%d (%d rows) at %s", frozen.version, frozen.rows, frozen.path)
    state["frozen"] = frozen
    frozen_seqs, frozen_labels = frozen.load()
    check_disk(cfg.retune.min_free_gb)

    t = time.perf_counter()
    run_dir, resumed = _train_challenger(cfg, name, frozen, progress)
    state["timings"]["train"] = time.perf_counter() - t
    nothing = learnt_nothing(json.loads((run_dir / "metrics.json").read_text()))
    if nothing:  # logged for the record, never registered or promoted
        track_run(run_dir, name, register=False, extra_tags={"retune": "challenger", "learnt_nothing": "true"})
        return finish("rejected", f"challenger not registered: {nothing}", resumed_from_step=resumed)
    t = time.perf_counter()
    tracked = track_run(run_dir, name, register=True, extra_tags={
        "retune": "challenger", "frozen_set_version": str(frozen.version), "frozen_set_fingerprint": frozen.fingerprint,
        "resumed_from_step": str(resumed or "")})
    version = state["challenger"] = tracked.version
    set_challenger(name, version)
    state["timings"]["register"] = time.perf_counter() - t

    t = time.perf_counter()
    truth, chall_pred, task_type = predictions(run_dir, frozen_seqs, frozen_labels)
    if champion is None:
        from .decide import metric_fn

        score = metric_fn(cfg.retune.metric, task_type)(truth, chall_pred)
        reason = (f"promoted: first re-tune, no champion yet; v{version} scores {cfg.retune.metric} {score:.4f} on "
                  f"frozen set v{frozen.version} (n={len(truth)})")
        _tag_frozen(name, version, score)
        promote(name, version, reason=reason, user="retune")
        state["timings"]["compare"] = time.perf_counter() - t
        return finish("promoted", reason, challenger=version, resumed_from_step=resumed)
    champ_dir = resolve_run_dir(f"{name}@{champion.version}")
    _, champ_pred, _ = predictions(champ_dir, frozen_seqs, frozen_labels)
    decision = decide(truth, champ_pred, chall_pred, task_type, cfg.retune.metric, cfg.retune.margin,
                      cfg.retune.bootstrap, labels=f"challenger v{version} vs champion v{champion.version} on frozen "
                      f"set v{frozen.version}")
    state["timings"]["compare"] = time.perf_counter() - t
    _tag_frozen(name, version, decision.challenger)
    if decision.promote:
        promote(name, version, reason=decision.reason, user="retune")
        return finish("promoted", decision.reason, challenger=version, decision=decision.to_dict(),
                      resumed_from_step=resumed)
    return finish("rejected", decision.reason, challenger=version, decision=decision.to_dict(),
                  resumed_from_step=resumed)


def _tag_frozen(name: str, version: str, score: float) -> None:
    from ..registry.aliases import tag_version

    tag_version(name, version, frozen_metric=f"{score:.6f}")


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
