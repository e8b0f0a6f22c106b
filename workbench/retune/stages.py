"""The stages of one re-tune that :func:`workbench.retune.run.retune` runs under the lock: read the source and find the
champion, decide whether anything needs training, register the challenger, and compare it with the champion on the
frozen evaluation set (promoting a winner).
"""

from __future__ import annotations

import time
from pathlib import Path


def read_source(cfg, name: str, state: dict):
    """Reads the source (frozen column included, no exclusions) and finds the champion; times the read.

    Args:
        cfg: The validated run config.
        name: Registered model name.
        state: Gets ``fingerprint``, ``champion`` and ``timings["read"]``.

    Returns:
        ``(rows, champion)``: the rows read and the champion's registry version (None: no champion yet).
    """
    from ..data.sources import read_sequences
    from ..registry.versions import find_version

    t = time.perf_counter()
    column = cfg.retune.frozen_column
    rows = read_sequences(cfg.model_copy(update={"data": cfg.data.model_copy(update={"exclude_from": None})}),
                          (column,) if column else ())
    state["fingerprint"] = rows.lineage.fingerprint
    champion = find_version(name, "champion")
    state["champion"] = str(champion.version) if champion else None
    state["timings"]["read"] = time.perf_counter() - t
    return rows, champion


def unchanged_reason(name: str, champion, fingerprint: str, force: bool) -> str | None:
    """Why nothing needs training: the data equal the champion's or the last rejected challenger's.

    Args:
        name: Registered model name.
        champion: The champion's registry version, or None.
        fingerprint: The source's data fingerprint.
        force: Retrain regardless.

    Returns:
        The reason, or None when a challenger must be trained.
    """
    from ..registry.versions import find_version

    rejected = find_version(name, "challenger")
    if champion is not None and not force and (champion.tags or {}).get("data_fingerprint") == fingerprint:
        return (f"the source's data fingerprint {fingerprint[:12]}… equals champion "
                f"v{champion.version}'s; nothing trained")
    if (rejected is not None and not force and (rejected.tags or {}).get("decision") == "rejected"
            and (rejected.tags or {}).get("data_fingerprint") == fingerprint):
        return (f"the source's data fingerprint {fingerprint[:12]}… equals that of challenger "
                f"v{rejected.version}, rejected against champion v{champion.version if champion else '-'}; "
                "nothing trained (--force retrains)")
    return None


def register_challenger(run_dir: Path, name: str, frozen, resumed: int | None, state: dict) -> str:
    """Logs and registers the challenger run with the frozen set's tags and points the challenger alias at it.

    Args:
        run_dir: The challenger's run directory.
        name: Registered model name.
        frozen: The frozen evaluation set.
        resumed: The checkpoint step the challenger resumed from, or None.
        state: Gets ``challenger`` and ``timings["register"]``.

    Returns:
        The challenger's registry version.
    """
    from ..registry.aliases import set_challenger
    from ..registry.log import track_run

    t = time.perf_counter()
    tracked = track_run(run_dir, name, register=True, extra_tags={
        "retune": "challenger", "frozen_set_version": str(frozen.version), "frozen_set_fingerprint": frozen.fingerprint,
        "resumed_from_step": str(resumed or "")})
    version = state["challenger"] = tracked.version
    set_challenger(name, version)
    state["timings"]["register"] = time.perf_counter() - t
    return version


def compare_on_frozen(cfg, name: str, champion, version: str, run_dir: Path, frozen, frozen_data, timings: dict):
    """Scores the challenger (and the champion) on the frozen set, tags the challenger and promotes a winner.

    Args:
        cfg: The validated run config.
        name: Registered model name.
        champion: The champion's registry version, or None (the challenger is promoted).
        version: The challenger's registry version.
        run_dir: The challenger's run directory.
        frozen: The frozen evaluation set.
        frozen_data: ``(sequences, labels)`` of the frozen set.
        timings: Gets ``compare``.

    Returns:
        ``(outcome, reason, decision)``: ``promoted`` or ``rejected``, why, and the decision's dict (None for the
        first champion).
    """
    from ..registry.aliases import promote
    from ..registry.versions import resolve_run_dir
    from .decide import decide, predictions

    frozen_seqs, frozen_labels = frozen_data
    t = time.perf_counter()
    truth, chall_pred, task_type = predictions(run_dir, frozen_seqs, frozen_labels)
    if champion is None:
        from .decide import metric_fn

        score = metric_fn(cfg.retune.metric, task_type)(truth, chall_pred)
        reason = (f"promoted: first re-tune, no champion yet; v{version} scores {cfg.retune.metric} {score:.4f} on "
                  f"frozen set v{frozen.version} (n={len(truth)})")
        _tag_frozen(name, version, score)
        promote(name, version, reason=reason, user="retune")
        timings["compare"] = time.perf_counter() - t
        return "promoted", reason, None
    champ_dir = resolve_run_dir(f"{name}@{champion.version}")
    _, champ_pred, _ = predictions(champ_dir, frozen_seqs, frozen_labels)
    decision = decide(truth, champ_pred, chall_pred, task_type, cfg.retune.metric, cfg.retune.margin,
                      cfg.retune.bootstrap, labels=f"challenger v{version} vs champion v{champion.version} on frozen "
                      f"set v{frozen.version}")
    timings["compare"] = time.perf_counter() - t
    _tag_frozen(name, version, decision.challenger)
    if decision.promote:
        promote(name, version, reason=decision.reason, user="retune")
    return ("promoted" if decision.promote else "rejected"), decision.reason, decision.to_dict()


def _tag_frozen(name: str, version: str, score: float) -> None:
    """Tags the challenger's registry version with its frozen-set score.

    Args:
        name: Registered model name.
        version: The challenger's registry version.
        score: Its score on the frozen set.
    """
    from ..registry.aliases import tag_version

    tag_version(name, version, frozen_metric=f"{score:.6f}")
