"""Figures of the demos (matplotlib, drawn without pyplot so concurrent requests do not share state): class
probabilities with readable class names, the mutagenesis heat map, and a regression value on its training range.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .mutagenesis import BASE_ORDER, Mutagenesis


def display_name(code: str, names: dict[str, str] | None) -> str:
    """``"donor (exon-intron) [EI]"`` when the run has a readable name for ``code``, else the code."""
    name = (names or {}).get(code)
    return f"{name} [{code}]" if name and name != code else code


def probability_figure(probabilities: dict[str, float], names: dict[str, str] | None = None,
                       title: str = "Class probabilities") -> Figure:
    """A horizontal bar chart of ``{class code: probability}``, labelled with the readable class names."""
    codes = list(probabilities)
    values = [probabilities[c] for c in codes]
    fig = Figure(figsize=(6.4, 0.6 + 0.55 * len(codes)), layout="constrained")
    ax = fig.add_subplot()
    best = int(np.argmax(values))
    bars = ax.barh(range(len(codes)), values, color=["#1f77b4" if i == best else "#9ecae1" for i in range(len(codes))])
    ax.set_yticks(range(len(codes)), [display_name(c, names) for c in codes])
    ax.invert_yaxis()
    ax.set_xlim(0, 1.12)
    ax.set_xlabel("probability")
    ax.set_title(title)
    for bar, v in zip(bars, values):
        ax.text(bar.get_width() + 0.01, bar.get_y() + bar.get_height() / 2, f"{v:.1%}", va="center")
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def mutagenesis_figure(result: Mutagenesis, label: str) -> Figure:
    """The heat map of ``result.delta`` (bases × positions), diverging around 0, reference bases marked with dots.

    Args:
        result: From :func:`workbench.serving.mutagenesis.saturation_mutagenesis`.
        label: What the score is, e.g. ``"P(donor (exon-intron) [EI])"``.
    """
    length = len(result.sequence)
    fig = Figure(figsize=(min(max(6.0, 0.16 * length + 2), 30.0), 2.8), layout="constrained")
    ax = fig.add_subplot()
    bound = float(np.abs(result.delta).max()) or 1e-6
    image = ax.imshow(result.delta, aspect="auto", cmap="RdBu_r", vmin=-bound, vmax=bound, interpolation="nearest")
    for i, ref in enumerate(result.sequence):
        if ref in BASE_ORDER:
            ax.plot(i, BASE_ORDER.index(ref), marker="o", markersize=2.5, color="black", linestyle="none")
    ax.set_yticks(range(4), list(BASE_ORDER))
    step = 1 if length <= 40 else 5 if length <= 120 else 10 if length <= 300 else 50
    ticks = [t for t in range(0, length, step)]
    ax.set_xticks(ticks, [str(t + 1) for t in ticks], fontsize=7)
    ax.set_xlabel("position (reference bases dotted)")
    ax.set_title(f"In-silico mutagenesis: change in {label} (reference {result.reference:.3g})", fontsize=10)
    fig.colorbar(image, ax=ax, label=f"Δ {label}", shrink=0.9)
    return fig


def range_figure(value: float, low: float | None, high: float | None, target: str) -> Figure:
    """A strip showing a regression prediction on the range of the training targets."""
    fig = Figure(figsize=(6.4, 1.4), layout="constrained")
    ax = fig.add_subplot()
    if low is not None and high is not None:
        ax.axvspan(low, high, color="#c6dbef", label="training range")
        span = max(high - low, abs(value - low), abs(value - high), 1e-9)
        ax.set_xlim(min(low, value) - 0.1 * span, max(high, value) + 0.1 * span)
    ax.axvline(value, color="#d62728", linewidth=2, label=f"prediction {value:.4g}")
    ax.set_yticks([])
    ax.set_xlabel(target)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 1.45), ncol=2, frameon=False, fontsize=8)
    return fig


def attribution_figure(result, label: str) -> Figure:
    """Bars of input × gradient per base (:func:`workbench.serving.attribution.input_x_gradient`), titled as the
    approximation it is.

    Args:
        result: An :class:`~workbench.serving.attribution.Attribution`, ``scores`` of shape ``(L,)``.
        label: What the score is, e.g. ``"P(donor (exon-intron) [EI])"``.
    """
    length = len(result.sequence)
    fig = Figure(figsize=(min(max(6.0, 0.16 * length + 2), 30.0), 2.2), layout="constrained")
    ax = fig.add_subplot()
    ax.bar(range(length), result.scores, color=["tab:red" if v > 0 else "tab:blue" for v in result.scores], width=0.9)
    ax.axhline(0, color="black", linewidth=0.5)
    step = 1 if length <= 40 else 5 if length <= 120 else 10 if length <= 300 else 50
    ticks = list(range(0, length, step))
    ax.set_xticks(ticks, [str(t + 1) for t in ticks], fontsize=7)
    ax.set_xlim(-0.5, length - 0.5)
    ax.set_xlabel("position")
    ax.set_ylabel("input × gradient")
    ax.set_title(f"Gradient attribution for {label}: an approximation (one pass), not a measured change", fontsize=10)
    return fig
