"""Gradio demo for a finished run: paste a DNA sequence, get the class and its probabilities
(or, for a regression run, the predicted value).

Binds 127.0.0.1 by default, never creates a share link, analytics off.

Run as::

    workbench serve RUN_DIR [--host 127.0.0.1] [--port 7860]
"""

from __future__ import annotations

from pathlib import Path

from .predictor import Predictor
from .sequences import SequenceError


def build_demo(predictor: Predictor):
    """Builds the Gradio Blocks app for a predictor.

    Classification runs: the ``classify`` endpoint (``api_name="classify"``) takes a sequence string
    and returns ``{label: probability}``. Regression runs: the ``predict`` endpoint
    (``api_name="predict"``) returns the predicted value as a float. Invalid input raises
    ``gradio.Error`` with the validation message.

    Args:
        predictor: A loaded :class:`~workbench.predictor.Predictor`.

    Returns:
        A ``gradio.Blocks`` (not yet launched).
    """
    import gradio as gr

    if predictor.task_type == "regression":
        return _build_regression_demo(predictor)
    labels = ", ".join(predictor.labels)
    max_length = predictor.task["max_length"]

    def classify(sequence: str) -> dict[str, float]:
        try:
            return predictor.predict([sequence or ""])[0].probabilities
        except SequenceError as exc:
            raise gr.Error(str(exc)) from None

    with gr.Blocks(title="Genome predictor", analytics_enabled=False) as demo:
        gr.Markdown(
            f"# Genome predictor\nPaste a DNA sequence (A, C, G, T; up to {max_length} nt). "
            f"The fine-tuned model predicts one of: **{labels}**.")
        with gr.Tab("Predict"):
            with gr.Row():
                with gr.Column():
                    box = gr.Textbox(label="DNA sequence", lines=4, placeholder="ACGT…", elem_id="sequence")
                    button = gr.Button("Predict", variant="primary", elem_id="predict")
                out = gr.Label(label="Class probabilities", num_top_classes=len(predictor.labels), elem_id="result")
            button.click(classify, inputs=box, outputs=out, api_name="classify")
            box.submit(classify, inputs=box, outputs=out, api_name=False)
            examples = predictor.task.get("examples") or []
            if examples:
                gr.Examples([[e["sequence"]] for e in examples], inputs=box,
                            label="Examples from the test split (" + ", ".join(e["label"] for e in examples) + ")")
        with gr.Tab("Model card"):
            gr.Markdown(predictor.model_card.replace("![confusion matrix](confusion_matrix.png)", ""))
            gr.Image(str(Path(predictor.run_dir) / "confusion_matrix.png"), label="Confusion matrix (test split)",
                     show_label=True)
    return demo


def _build_regression_demo(predictor: Predictor):
    """The regression variant of :func:`build_demo`: sequence in, predicted value out."""
    import gradio as gr

    target, max_length = predictor.target or "value", predictor.task["max_length"]

    def predict(sequence: str) -> float:
        try:
            return predictor.predict([sequence or ""])[0].value
        except SequenceError as exc:
            raise gr.Error(str(exc)) from None

    with gr.Blocks(title="Genome predictor", analytics_enabled=False) as demo:
        gr.Markdown(f"# Genome predictor\nPaste a DNA sequence (A, C, G, T; up to {max_length} nt). "
                    f"The fine-tuned model predicts **{target}** (regression).")
        with gr.Tab("Predict"):
            with gr.Row():
                with gr.Column():
                    box = gr.Textbox(label="DNA sequence", lines=4, placeholder="ACGT…", elem_id="sequence")
                    button = gr.Button("Predict", variant="primary", elem_id="predict")
                out = gr.Number(label=f"Predicted {target}", precision=4, elem_id="result")
            button.click(predict, inputs=box, outputs=out, api_name="predict")
            box.submit(predict, inputs=box, outputs=out, api_name=False)
            examples = predictor.task.get("examples") or []
            if examples:
                gr.Examples([[e["sequence"]] for e in examples], inputs=box, label="Examples from the test split "
                            f"(true {target}: " + ", ".join(f"{e['value']:.4g}" for e in examples) + ")")
        with gr.Tab("Model card"):
            gr.Markdown(predictor.model_card.replace("![predicted vs true](scatter.png)", ""))
            gr.Image(str(Path(predictor.run_dir) / "scatter.png"), label="Predicted vs true (test split)",
                     show_label=True)
    return demo


def serve(run_dir: str | Path, host: str = "127.0.0.1", port: int = 7860, block: bool = True):
    """Loads a run and launches its demo.

    Args:
        run_dir: A run directory written by ``workbench run``.
        host: Interface to bind (``127.0.0.1`` keeps it on this machine; ``0.0.0.0`` exposes it).
        port: TCP port; 0 picks a free one.
        block: Keep serving until interrupted (False returns right after start, for tests/notebooks).

    Returns:
        ``(demo, local_url)``.
    """
    predictor = Predictor.load(run_dir)
    demo = build_demo(predictor)
    demo.queue(default_concurrency_limit=1)
    _, url, _ = demo.launch(server_name=host, server_port=port or None, share=False, prevent_thread_lock=True,
                            quiet=True, ssr_mode=False, inbrowser=False, show_error=True,
                            allowed_paths=[str(Path(run_dir).resolve())])
    print(f"Demo running at {url} (Ctrl+C to stop)", flush=True)
    if block:
        demo.block_thread()
    return demo, url
