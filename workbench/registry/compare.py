"""Side-by-side views of registered versions for notebooks: a table and a bar plot.

Run as (in a notebook)::

    from workbench.registry import compare_versions, plot_versions
    table = compare_versions("splice", [1, 2])
    plot_versions(table, "test.accuracy")
"""

from __future__ import annotations

from .versions import list_versions

DEFAULT_METRICS = ("test.accuracy", "test.macro_f1", "test.mcc")


def compare_versions(name: str, versions: list[int] | None = None, metrics: tuple[str, ...] = DEFAULT_METRICS):
    """A table of versions of ``name``: aliases, data fingerprint, the re-tune decision and the chosen metrics.

    Args:
        name: Registered model name.
        versions: Version numbers to show; default all.
        metrics: Logged run metrics to show as columns (``test.*`` from the run's own test split,
            ``frozen_metric`` from a re-tune).

    Returns:
        A :class:`pandas.DataFrame` indexed by version, oldest first.

    Raises:
        workbench.registry.RegistryError: ``name`` has no versions, or a requested version does not exist.
    """
    import pandas as pd

    rows = list_versions(name)
    if versions is not None:
        wanted = {int(v) for v in versions}
        missing = wanted - {r["version"] for r in rows}
        if missing:
            from .tracking import RegistryError

            raise RegistryError(f"{name} has no version(s) {sorted(missing)}.")
        rows = [r for r in rows if r["version"] in wanted]
    table = pd.DataFrame([{
        "version": r["version"], "aliases": ", ".join(r["aliases"]), "data_fingerprint": r["data_fingerprint"][:12],
        "rows": r["tags"].get("data_rows", ""), "decision": r["decision"], "frozen_metric": r["frozen_metric"],
        **{m: r["metrics"].get(m) for m in metrics}} for r in rows])
    return table.set_index("version").sort_index()


def plot_versions(table, metric: str = "test.accuracy"):
    """A bar chart of ``metric`` per version (the champion's bar is marked); returns the matplotlib figure."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3))
    labels = [f"v{v}" + (f"\n({a})" if a else "") for v, a in zip(table.index, table["aliases"])]
    colors = ["tab:green" if "champion" in a else "tab:gray" for a in table["aliases"]]
    ax.bar(labels, table[metric].astype(float), color=colors)
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} per registered version")
    low = float(table[metric].min())
    ax.set_ylim(max(0.0, low - 0.1), min(1.0, float(table[metric].max()) + 0.05) if low >= 0 else None)
    fig.tight_layout()
    return fig
