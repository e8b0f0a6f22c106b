"""The model card's lines on how the rows were split (strategy, groups per split, a source per split) and on leakage
between the splits.

Everything here reads what ``metrics.json`` records (``data.split``, ``data.leakage``, ``data.sources``), so a card
can be rendered again from a run directory.
"""

from __future__ import annotations

from typing import Any

from ..data.leakage import leakage_sentences

_SHOWN = 24  # group names listed per split; metrics.json has them all


def _names(groups: list[str]) -> str:
    shown = ", ".join(groups[:_SHOWN])
    return shown + (f" and {len(groups) - _SHOWN} more" if len(groups) > _SHOWN else "")


def split_lines(dr: dict[str, Any], data_cfg: dict[str, Any], split_how: str) -> str:
    """The ``## Data`` bullet(s) on the split: sizes, strategy and seed, the groups in each split, the sources.

    Args:
        dr: ``metrics.json``'s ``data`` section.
        data_cfg: The run's resolved ``data`` config group (a dict).
        split_how: The task's stratification (e.g. ``stratified by label``).

    Returns:
        Markdown bullet lines without a trailing newline; for the default random split with one source, exactly the
        line cards carried before the strategies existed.
    """
    split = dr["split"]
    strategy = split.get("strategy", "random")
    how = {"random": split_how,
           "column": f"from column `{data_cfg.get('split_column')}`",
           "group": f"whole groups of `{data_cfg.get('group_column')}`"
                    + (f" ({data_cfg['group_pattern']})" if data_cfg.get("group_pattern") else "")
                    + f", {split_how} where possible",
           "cluster": f"clusters of rows sharing a {data_cfg.get('leakage', {}).get('k', 20)}-mer kept whole, "
                      f"{split_how} where possible"}[strategy]
    carved = split.get("carved") or []
    if carved:
        how = ("" if strategy == "random" else how + "; ") + \
            f"{' and '.join(carved)} carved at random from the training rows ({split_how})"
    lines = [f"- split sizes {split['sizes']} ({how}, seed {data_cfg['seed']})"]
    groups = split.get("groups") or {}
    if strategy == "group" and groups:
        lines.append("- groups per split: " + "; ".join(f"{name} {_names(g)}" for name, g in groups.items()))
    elif strategy == "cluster" and groups:
        lines.append("- clusters per split: " + ", ".join(f"{name} {n}" for name, n in groups.items()))
    for origin, facts in (dr.get("sources") or {}).items():
        lin = facts["lineage"]
        part = origin.removesuffix("_source")
        lines.append(f"- {part} rows from `{origin}`: `{lin['kind']}` at `{lin['location']}`, {lin['rows']} rows "
                     f"read, fingerprint `{lin['fingerprint']}`; the main source gave the other splits")
    return "\n".join(lines)


def leakage_lines(dr: dict[str, Any]) -> str:
    """The ``## Data`` bullet on leakage between the splits (empty for runs recorded before the report existed)."""
    report = dr.get("leakage")
    if not report:
        return ""
    said = leakage_sentences(report, strategy=dr["split"].get("strategy", "random"))
    if not said:
        return (f"\n- leakage: no validation or test row shares a stretch of {report['k']} nt or more (either strand) "
                "with a training row")
    return "\n" + "\n".join(f"- **leakage:** {line}" for line in said)
