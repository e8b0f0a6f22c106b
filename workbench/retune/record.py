"""Where each re-tune decision is kept: an MLflow run in the model's experiment (tags ``decision`` and ``reason``, the
champion/challenger figures as metrics, the frozen set as an artifact), the model's ``last_retune`` tag, the
challenger version's tags, and the audit log."""

from __future__ import annotations

import logging
import time

from .. import audit

log = logging.getLogger(__name__)


def record_decision(name: str, outcome: str, reason: str, *, data_fingerprint: str = "", champion: str | None = None,
                    challenger: str | None = None, decision: dict | None = None, frozen=None, seconds: float = 0.0,
                    exit_code: int = 0) -> str | None:
    """Records one re-tune decision in the registry; returns the MLflow run id of the record (None if the store
    could not be written, which is logged; the audit log gets the event either way).

    Args:
        name: Registered model name.
        outcome: ``unchanged``, ``promoted``, ``rejected`` or ``failed``.
        reason: The sentence a person reads.
        data_fingerprint: The source's fingerprint this re-tune read.
        champion: The champion's version before the decision.
        challenger: The challenger's version (if one was trained).
        decision: :meth:`workbench.retune.decide.Decision.to_dict` (if champion and challenger were compared).
        frozen: The :class:`~workbench.retune.frozen.FrozenSet` used.
        seconds: Wall time of the re-tune.
        exit_code: The exit code ``workbench retune`` returns.
    """
    facts = {"outcome": outcome, "reason": reason, "exit_code": exit_code, "champion_before": champion,
             "challenger": challenger, "data_fingerprint": data_fingerprint, "seconds": round(seconds, 1),
             "frozen_set": (f"v{frozen.version}:{frozen.fingerprint}" if frozen else None), "decision": decision}
    audit.record("retune", f"{name}@champion", **facts)
    try:
        return _to_registry(name, facts, frozen)
    except Exception as exc:  # noqa: BLE001 - the audit log already holds the event
        log.warning("could not record the re-tune decision in the registry: %s: %s", type(exc).__name__, exc)
        return None


def _to_registry(name: str, facts: dict, frozen) -> str:
    from mlflow.entities import Metric

    from ..registry.aliases import record_model_decision, tag_version
    from ..registry.tracking import client, experiment_id

    c = client()
    tags = {"kind": "retune-decision", "registered_model": name, "decision": facts["outcome"],
            "reason": facts["reason"][:5000], "exit_code": str(facts["exit_code"]),
            "data_fingerprint": facts["data_fingerprint"], "champion_before": str(facts["champion_before"] or ""),
            "challenger": str(facts["challenger"] or ""), "frozen_set": str(facts["frozen_set"] or "")}
    run = c.create_run(experiment_id(c, f"workbench/{name}"), run_name=f"retune-{time.strftime('%Y%m%d-%H%M%S')}",
                       tags=tags)
    now = int(time.time() * 1000)
    values = [Metric("retune_seconds", float(facts["seconds"]), now, 0)]
    d = facts["decision"]
    if d:
        values += [Metric(f"frozen.{k}", float(d[k]), now, 0) for k in ("champion", "challenger", "difference")]
        values += [Metric("frozen.ci95_low", float(d["ci95"][0]), now, 0),
                   Metric("frozen.ci95_high", float(d["ci95"][1]), now, 0), Metric("frozen.n", float(d["n"]), now, 0)]
    c.log_batch(run.info.run_id, metrics=values)
    if frozen is not None:
        c.log_artifact(run.info.run_id, str(frozen.path), "frozen")
        c.log_artifact(run.info.run_id, str(frozen.path.with_suffix(".json")), "frozen")
    c.set_terminated(run.info.run_id, status="FAILED" if facts["outcome"] == "failed" else "FINISHED")
    if _model_exists(c, name):
        record_model_decision(name, {k: v for k, v in facts.items()})
    if facts["challenger"]:
        tag_version(name, facts["challenger"], decision=facts["outcome"], decision_reason=facts["reason"][:5000],
                    decision_run=run.info.run_id)
    return run.info.run_id


def _model_exists(c, name: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        c.get_registered_model(name)
        return True
    except MlflowException:
        return False
