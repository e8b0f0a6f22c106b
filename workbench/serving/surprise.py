"""The demo of a pretraining run: a per-base "surprise" track, the bits the DNA language model spends on each base
of a pasted sequence, drawn along the sequence with the run's Markov chain beside it (stakeholders see what the
model has learnt; scientists see motifs and repeats stand out as low-surprise stretches).

Run as::

    workbench serve RUNS/genome-lm            # a pretraining run directory
"""

import json  # no `from __future__ import annotations`: Gradio reads the gr.Request annotation at run time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.markov import MarkovModel
from ..data.sequences import SequenceError, check_sequence
from .auth import load_credentials
from .limits import Limits, limits_for


@dataclass
class Surprise:
    """Bits per base of one sequence.

    Attributes:
        sequence: The normalised sequence.
        model_bits: Bits the language model spends on each base (NaN for N), shape ``(len(sequence),)``.
        markov_bits: The same for the run's Markov chain.
        k: The chain's order.
    """

    sequence: str
    model_bits: np.ndarray
    markov_bits: np.ndarray
    k: int = 5

    def summary(self) -> dict:
        """Mean bits per base of each model over the scored bases, and how many there were."""
        scored = ~np.isnan(self.model_bits)
        return {"bases": int(scored.sum()), "model_bits_per_base": float(np.nanmean(self.model_bits)),
                "markov_bits_per_base": float(np.nanmean(self.markov_bits)), "uniform_bits_per_base": 2.0}


class SurpriseScorer:
    """A pretraining run loaded for the demo: the adapted model and the run's Markov chain.

    Args:
        run_dir: A pretraining run directory.
        max_nt: Longest sequence accepted, in nucleotides (default: the model's context minus the prompt).
    """

    def __init__(self, run_dir: str | Path, max_nt: int | None = None):
        from ..models.base_model import resolve_base_model
        from ..models.pretrained import load_run_lm

        self.run_dir = Path(run_dir)
        self.task = json.loads((self.run_dir / "task.json").read_text())
        self.lm = load_run_lm(self.run_dir, resolve_base_model)
        self.markov = MarkovModel.load(self.run_dir / self.task.get("markov_file", "markov.json"))
        context = getattr(self.lm.model.config, "max_position_embeddings", 2048)
        self.max_nt = min(max_nt or context, context - len(self.lm.prefix))
        card = self.run_dir / "README.md"
        self.card = card.read_text() if card.is_file() else ""

    def score(self, sequence: str) -> Surprise:
        """Scores one sequence.

        Raises:
            SequenceError: Empty, too long, or letters outside IUPAC (the message says which).
        """
        seq = check_sequence(sequence, self.max_nt)
        if len(seq) < 2:
            raise SequenceError("paste at least 2 bases: the track shows how surprising each base is after the ones "
                                "before it.")
        model = self.lm.base_bits([seq])[0]
        markov = self.markov.base_bits([seq])[0]
        return Surprise(seq, model, markov, self.markov.k)


def surprise_figure(result: Surprise, smooth: int = 5):
    """The surprise track: bits per base along the sequence, the model and the Markov chain (a rolling mean over
    ``smooth`` bases drawn over the per-base points), with the uniform 2 bits as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    x = np.arange(1, len(result.sequence) + 1)
    fig, ax = plt.subplots(figsize=(9, 3.2), dpi=110)
    for bits, name, colour in ((result.markov_bits, f"Markov chain (k = {result.k})", "tab:gray"),
                               (result.model_bits, "genome language model", "tab:blue")):
        ax.plot(x, bits, ".", color=colour, alpha=0.35, markersize=3)
        kernel = np.ones(smooth) / smooth
        filled = np.where(np.isnan(bits), np.nanmean(bits), bits)
        smoothed = np.convolve(filled, kernel, mode="same") / np.convolve(np.ones_like(filled), kernel, mode="same")
        ax.plot(x, smoothed, color=colour, label=f"{name}: {np.nanmean(bits):.3f} bits/base")
    ax.axhline(2.0, color="black", linestyle="--", linewidth=0.8, label="uniform: 2 bits/base")
    ax.set_xlabel("position (nt)")
    ax.set_ylabel("surprise (bits)")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title("Per-base surprise: low = predictable (repeats, motifs), high = unexpected")
    fig.tight_layout()
    return fig


def build_surprise_demo(scorer: SurpriseScorer, limits: Limits | None = None):
    """The Gradio Blocks of a pretraining run: paste a sequence, see its surprise track and the mean bits per base.

    The ``surprise`` endpoint (``api_name="surprise"``) returns ``{"bases", "model_bits_per_base",
    "markov_bits_per_base", "uniform_bits_per_base", "bits": [per-base model bits, null for N]}``.
    """
    import gradio as gr

    from .launch import card_tab, record_query, ui_errors

    limits = limits or Limits()
    example = (scorer.task.get("examples") or [{"sequence": "ACGT" * 20}])[0]["sequence"]
    with gr.Blocks(title=f"Genome language model: {scorer.run_dir.name}", analytics_enabled=False) as demo:
        gr.Markdown(f"## {scorer.run_dir.name}: how surprising is each base?\nPaste DNA (at most {scorer.max_nt} nt). "
                    "The model's bits per base are drawn beside the Markov chain fitted on the same corpus.")
        with gr.Tab("Surprise track"):
            text = gr.Textbox(label="DNA sequence", value=example, lines=4, max_length=limits.max_request_chars)
            button = gr.Button("Score", variant="primary")
            plot = gr.Plot(label="surprise track")
            out = gr.JSON(label="bits per base")

        def run(sequence: str, request: gr.Request):
            with ui_errors():
                result = scorer.score(sequence)
                record_query(str(scorer.run_dir), request, "surprise", [result.sequence])
                bits = [None if np.isnan(b) else round(float(b), 4) for b in result.model_bits]
                return surprise_figure(result), {**result.summary(), "bits": bits}

        button.click(run, [text], [plot, out], api_name="surprise")
        card_tab(scorer.run_dir, scorer.card, "training.png", "Training", "training")
    return demo


def serve_surprise(run_dir: str | Path, host: str = "127.0.0.1", port: int = 7860, block: bool = True,
                   auth_file: str | Path | None = None, limits: Limits | None = None, **_ignored):
    """Loads a pretraining run and launches its surprise-track demo; returns ``(demo, local_url)``.

    Raises:
        workbench.serving.auth.AuthError: Binding beyond loopback without credentials.
    """
    from .auth import require_credentials
    from .launch import launch

    credentials = load_credentials(auth_file)
    require_credentials(host, credentials)
    limits = limits or limits_for(run_dir)
    demo = build_surprise_demo(SurpriseScorer(run_dir), limits)
    url = launch(demo, str(Path(run_dir)), host, port, credentials, limits, [str(Path(run_dir).resolve())])
    print(f"Demo running at {url}" + (" (sign-in required)" if credentials else "") + " (Ctrl+C to stop)", flush=True)
    if block:
        demo.block_thread()
    return demo, url
