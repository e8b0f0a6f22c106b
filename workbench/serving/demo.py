"""Gradio demo for a finished run: paste a DNA sequence, get the class and its probabilities
(or, for a regression run, the predicted value).

Binds 127.0.0.1 by default, never creates a share link, analytics off.

Run as::

    workbench serve RUN_DIR [--host 127.0.0.1] [--port 7860]
"""

from __future__ import annotations

from pathlib import Path

from ..data.sequences import SequenceError
from .predictor import Predictor


def _sequence_app(predictor: Predictor, predicts: str, answer, make_output, api_name: str, examples_label: str,
                  figure: str, figure_label: str, figure_alt: str):
    """The Blocks both sequence demos share: a sequence box and a button on the Predict tab, examples from the
    test split, and the model card with its figure. ``answer(prediction)`` turns one prediction into the output
    component's value; invalid input raises ``gradio.Error`` with the validation message."""
    import gradio as gr

    def respond(sequence: str):
        try:
            return answer(predictor.predict([sequence or ""])[0])
        except SequenceError as exc:
            raise gr.Error(str(exc)) from None

    with gr.Blocks(title="Genome predictor", analytics_enabled=False) as demo:
        gr.Markdown(f"# Genome predictor\nPaste a DNA sequence (A, C, G, T; up to {predictor.task['max_length']} nt). "
                    f"The fine-tuned model predicts {predicts}.")
        with gr.Tab("Predict"):
            with gr.Row():
                with gr.Column():
                    box = gr.Textbox(label="DNA sequence", lines=4, placeholder="ACGT…", elem_id="sequence")
                    button = gr.Button("Predict", variant="primary", elem_id="predict")
                out = make_output()
            button.click(respond, inputs=box, outputs=out, api_name=api_name)
            box.submit(respond, inputs=box, outputs=out, api_name=False)
            examples = predictor.task.get("examples") or []
            if examples:
                gr.Examples([[e["sequence"]] for e in examples], inputs=box, label=examples_label)
        with gr.Tab("Model card"):
            gr.Markdown(predictor.model_card.replace(f"![{figure_alt}]({figure})", ""))
            gr.Image(str(Path(predictor.run_dir) / figure), label=figure_label, show_label=True)
    return demo


def build_classification_demo(predictor: Predictor):
    """Builds the Gradio Blocks app of a classification run.

    The ``classify`` endpoint (``api_name="classify"``) takes a sequence string and returns
    ``{label: probability}``. Invalid input raises ``gradio.Error`` with the validation message.

    Args:
        predictor: A loaded :class:`~workbench.serving.predictor.Predictor`.

    Returns:
        A ``gradio.Blocks`` (not yet launched).
    """
    import gradio as gr

    examples = predictor.task.get("examples") or []
    return _sequence_app(
        predictor, f"one of: **{', '.join(predictor.labels)}**", lambda p: p.probabilities,
        lambda: gr.Label(label="Class probabilities", num_top_classes=len(predictor.labels), elem_id="result"),
        "classify", "Examples from the test split (" + ", ".join(e["label"] for e in examples) + ")",
        "confusion_matrix.png", "Confusion matrix (test split)", "confusion matrix")


def build_regression_demo(predictor: Predictor):
    """Builds the Gradio Blocks app of a regression run: the ``predict`` endpoint (``api_name="predict"``)
    returns the predicted value as a float; invalid input raises ``gradio.Error`` with the message."""
    import gradio as gr

    target, examples = predictor.target or "value", predictor.task.get("examples") or []
    return _sequence_app(
        predictor, f"**{target}** (regression)", lambda p: p.value,
        lambda: gr.Number(label=f"Predicted {target}", precision=4, elem_id="result"), "predict",
        f"Examples from the test split (true {target}: " + ", ".join(f"{e['value']:.4g}" for e in examples) + ")",
        "scatter.png", "Predicted vs true (test split)", "predicted vs true")


DEMOS = {"classification": build_classification_demo, "regression": build_regression_demo}


def serve(run_dir: str | Path, host: str = "127.0.0.1", port: int = 7860, block: bool = True, build=None):
    """Loads a run and launches its demo.

    Args:
        run_dir: A run directory written by ``workbench run``.
        build: ``(predictor) -> gradio.Blocks``; default: :data:`DEMOS` for the run's task type (what
            ``Task.demo`` of the sequence tasks returns).
        host: Interface to bind (``127.0.0.1`` keeps it on this machine; ``0.0.0.0`` exposes it).
        port: TCP port; 0 picks a free one.
        block: Keep serving until interrupted (False returns right after start, for tests/notebooks).

    Returns:
        ``(demo, local_url)``.
    """
    predictor = Predictor.load(run_dir)
    demo = (build or DEMOS[predictor.task_type])(predictor)
    demo.queue(default_concurrency_limit=1)
    _, url, _ = demo.launch(server_name=host, server_port=port or None, share=False, prevent_thread_lock=True,
                            quiet=True, ssr_mode=False, inbrowser=False, show_error=True,
                            allowed_paths=[str(Path(run_dir).resolve())])
    print(f"Demo running at {url} (Ctrl+C to stop)", flush=True)
    if block:
        demo.block_thread()
    return demo, url
