"""The Gradio app of a sequence run (classification or regression): Predict (one pasted sequence), Batch (a
FASTA or CSV upload -> a results table to download), Mutagenesis (the in-silico mutagenesis heat map, and beside it
the gradient attribution, labelled as the approximation it is), an
optional side-by-side comparison of two versions, and the model card.

Programmatic endpoints: ``/classify`` (classification: ``{"label", "name", "probabilities"}``) or ``/predict``
(regression: the value). Every request is checked against the :class:`~workbench.serving.limits.Limits`, shows
a message (never a stack trace) when the input is wrong, and is recorded in the audit log.
"""

import shutil
import tempfile
import time
import uuid
from pathlib import Path

import gradio as gr

from ..data.sequences import check_records
from .launch import card_tab, record_query, ui_errors
from .limits import Limits
from .attribution import input_x_gradient
from .mutagenesis import saturation_mutagenesis
from .plots import attribution_figure, mutagenesis_figure
from .uploads import read_upload
from .views import view_for

UPLOAD_TYPES = [".fa", ".fasta", ".fna", ".fas", ".csv", ".tsv", ".txt"]
KEEP_RESULTS_S = 3600


def prune(results_dir: Path, keep_s: float = KEEP_RESULTS_S) -> None:
    """Deletes batch-result folders older than ``keep_s`` seconds (Gradio serves its own copy of each file)."""
    for folder in results_dir.iterdir():
        if time.time() - folder.stat().st_mtime > keep_s:
            shutil.rmtree(folder, ignore_errors=True)


def build_sequence_app(predictor, limits: Limits | None = None, compare=None, figure: str = "",
                       figure_label: str = "", figure_alt: str = ""):
    """Builds the Blocks of a sequence run.

    Args:
        predictor: A loaded :class:`~workbench.serving.predictor.Predictor`.
        limits: Request, batch and upload limits (default :class:`Limits`).
        compare: A second Predictor of the same task and classes (e.g. the challenger beside the champion): adds a
            side-by-side tab. None = no such tab.
        figure: The run directory's figure shown on the model card (``confusion_matrix.png``, ``scatter.png``).

    Returns:
        A ``gradio.Blocks`` (not yet launched).

    Raises:
        ValueError: If ``compare`` has another task type or other classes.
    """
    limits = limits or Limits()
    results_dir = Path(tempfile.mkdtemp(prefix="workbench_batch_"))
    view = view_for(predictor)
    max_nt = predictor.task["max_length"]
    if compare is not None and (compare.task_type, compare.labels) != (predictor.task_type, predictor.labels):
        raise ValueError(f"cannot compare {compare.run_dir} with {predictor.run_dir}: they predict different things "
                         f"({compare.task_type} {compare.labels} vs {predictor.task_type} {predictor.labels}).")

    cache = (KEEP_RESULTS_S, KEEP_RESULTS_S)  # Gradio deletes its copies of uploads and results after an hour
    with gr.Blocks(title="Genome predictor", analytics_enabled=False, delete_cache=cache) as demo:
        gr.Markdown(f"# Genome predictor\nPaste a DNA sequence (A, C, G, T; IUPAC codes allowed; up to {max_nt} nt). "
                    f"The fine-tuned model predicts {view.what()}.")
        examples = predictor.task.get("examples") or []
        _predict_tab(predictor, view, limits, examples)
        _batch_tab(predictor, view, limits, results_dir)
        _mutagenesis_tab(predictor, view, limits, examples)
        if compare is not None:
            _compare_tab(predictor, compare, view, limits)
        card_tab(Path(predictor.run_dir), predictor.model_card, figure, figure_label, figure_alt)
        gr.api(_api_handler(predictor, view, limits), api_name=view.api_name)
    return demo


def _predict_tab(predictor, view, limits: Limits, examples: list[dict]) -> None:
    """Adds the Predict tab: one pasted sequence, its prediction, and the test split's examples.

    Args:
        predictor: The loaded run.
        view: The task's widgets (:func:`~workbench.serving.views.view_for`).
        limits: Request limits.
        examples: ``task.json``'s examples (may be empty).
    """
    target = str(predictor.run_dir)

    def one(sequence, request: gr.Request):
        with ui_errors():
            text = limits.check_text(sequence, "the sequence")
            pred = predictor.predict([text])[0]
            record_query(target, request, "predict_ui", [text])
            return view.show(pred)

    with gr.Tab("Predict"):
        with gr.Row():
            with gr.Column():
                box = gr.Textbox(label="DNA sequence", lines=4, placeholder="ACGT…", elem_id="sequence",
                                 max_length=limits.max_request_chars)
                button = gr.Button("Predict", variant="primary", elem_id="predict")
            with gr.Column():
                outs = view.components(gr)
        button.click(one, inputs=box, outputs=outs, api_visibility="undocumented")
        box.submit(one, inputs=box, outputs=outs, api_visibility="undocumented")
        if examples:
            gr.Examples([[e["sequence"]] for e in examples], inputs=box, label="Examples from the test split")


def _batch_tab(predictor, view, limits: Limits, results_dir: Path) -> None:
    """Adds the Batch tab: a FASTA or CSV upload scored into a results table and a CSV to download.

    Args:
        predictor: The loaded run.
        view: The task's widgets.
        limits: Batch and upload limits.
        results_dir: Where the result CSVs are written (pruned after :data:`KEEP_RESULTS_S`).
    """
    target = str(predictor.run_dir)
    max_nt = predictor.task["max_length"]

    def batch(upload, request: gr.Request):
        with ui_errors():
            if not upload:
                raise gr.Error("no file uploaded: choose a FASTA (.fa, .fasta) or CSV (with a 'sequence' column) "
                               "file first.", print_exception=False)
            records = read_upload(upload, limits, predictor.task.get("sequence_column"))
            clean = check_records(records, max_nt)
            preds = predictor.predict(clean)
            record_query(target, request, "batch", clean, file_bytes=Path(upload).stat().st_size)
            import pandas as pd

            frame = pd.DataFrame([view.row(rid, p) for (rid, _), p in zip(records, preds)])
            out = results_dir / uuid.uuid4().hex / f"{Path(target).name}_predictions.csv"
            out.parent.mkdir()
            frame.to_csv(out, index=False)
            prune(results_dir)
            return frame, str(out), f"Scored {len(frame)} sequences from `{Path(upload).name}`."

    with gr.Tab("Batch"):
        gr.Markdown(f"Upload a FASTA file or a CSV with a `sequence` column (and optionally `id`): at most "
                    f"{limits.max_batch_rows:,} sequences and {limits.max_upload_mb:g} MB.")
        upload = gr.File(label="FASTA or CSV", file_types=UPLOAD_TYPES, type="filepath", elem_id="upload")
        run_batch = gr.Button("Predict batch", variant="primary", elem_id="predict_batch")
        status = gr.Markdown(elem_id="batch_status")
        table = gr.Dataframe(label="Results", interactive=False, elem_id="batch_table", max_height=400)
        download = gr.File(label="Download results (CSV)", elem_id="batch_download", interactive=False)
        run_batch.click(batch, inputs=upload, outputs=[table, download, status], api_visibility="undocumented")


def _mutagenesis_tab(predictor, view, limits: Limits, examples: list[dict]) -> None:
    """Adds the Mutagenesis tab: the saturation-mutagenesis heat map and, beside it, the gradient attribution.

    Args:
        predictor: The loaded run.
        view: The task's widgets.
        limits: Request and mutagenesis limits.
        examples: ``task.json``'s examples; the first one fills the sequence box.
    """
    target = str(predictor.run_dir)

    def mutate(sequence, score_of, request: gr.Request):
        with ui_errors():
            text = limits.check_text(sequence, "the sequence")
            limits.check_mutagenesis(text)
            result = saturation_mutagenesis(predictor, text, score_of if predictor.task_type != "regression" else None)
            attribution = input_x_gradient(predictor, text, result.target if predictor.task_type != "regression"
                                           else None)
            record_query(target, request, "mutagenesis", [text], variants=result.variants)
            top = "\n".join(f"| {pos} | {ref}→{new} | {d:+.4f} |" for pos, ref, new, d in result.top(5))
            summary = (f"{result.variants} variants of a {len(result.sequence)}-nt sequence scored in "
                       f"{result.seconds:.1f} s. Reference {view.score_label(result.target)} = {result.reference:.4f}."
                       f"\n\n| position | change | Δ |\n|---|---|---|\n{top}")
            label = view.score_label(result.target)
            return mutagenesis_figure(result, label), summary, attribution_figure(attribution, label)

    with gr.Tab("Mutagenesis"):
        gr.Markdown("In-silico saturation mutagenesis: every base is changed to each other base and the change in "
                    "the prediction is drawn per position (red: the variant raises it, blue: lowers it); at most "
                    f"{limits.max_mutagenesis_nt} nt.")
        mut_box = gr.Textbox(label="DNA sequence", lines=3, elem_id="mut_sequence",
                             max_length=limits.max_request_chars,
                             value=examples[0]["sequence"] if examples else None)
        choices = view.score_choices()
        score_of = gr.Dropdown(choices, value=choices[0][1], label="Score", elem_id="mut_class",
                               visible=predictor.task_type != "regression")
        mut_button = gr.Button("Run mutagenesis", variant="primary", elem_id="mutate")
        heat = gr.Plot(label="Mutagenesis heat map", elem_id="heatmap", format="png")
        mut_summary = gr.Markdown(elem_id="mut_summary")
        attr_plot = gr.Plot(label="Gradient attribution (input × gradient): an approximation, one pass",
                            elem_id="attribution", format="png")
        mut_button.click(mutate, inputs=[mut_box, score_of], outputs=[heat, mut_summary, attr_plot],
                         api_visibility="undocumented")


def _compare_tab(predictor, compare, view, limits: Limits) -> None:
    """Adds the Champion vs challenger tab: one input through both versions, side by side.

    Args:
        predictor: The loaded run (left).
        compare: The second loaded run of the same task and classes (right).
        view: The task's widgets.
        limits: Request limits.
    """
    target = str(predictor.run_dir)

    def side_by_side(sequence, request: gr.Request):
        with ui_errors():
            text = limits.check_text(sequence, "the sequence")
            a, b = predictor.predict([text])[0], compare.predict([text])[0]
            record_query(target, request, "compare", [text], compare_with=str(compare.run_dir))
            return [*view.show(a, Path(predictor.run_dir).name), *view_b.show(b, Path(compare.run_dir).name)]

    view_b = view_for(compare)
    with gr.Tab("Champion vs challenger"):
        gr.Markdown(f"The same input through two versions: **{Path(predictor.run_dir).name}** (left) and "
                    f"**{Path(compare.run_dir).name}** (right).")
        cmp_box = gr.Textbox(label="DNA sequence", lines=3, elem_id="compare_sequence",
                             max_length=limits.max_request_chars)
        cmp_button = gr.Button("Compare", variant="primary", elem_id="compare")
        with gr.Row():
            with gr.Column():
                left = view.components(gr, "_a")
            with gr.Column():
                right = view_b.components(gr, "_b")
        cmp_button.click(side_by_side, inputs=cmp_box, outputs=[*left, *right], api_visibility="undocumented")


def _api_handler(predictor, view, limits: Limits):
    """The programmatic endpoint's function (``/classify`` or ``/predict``), typed for Gradio's API page.

    Args:
        predictor: The loaded run.
        view: The task's widgets (its ``api_name`` and ``api`` formatting).
        limits: Request limits.

    Returns:
        ``api(sequence, request)``: a dict (classification) or a float (regression).
    """
    target = str(predictor.run_dir)

    def api(sequence: str, request: gr.Request) -> dict:
        with ui_errors():
            text = limits.check_text(sequence, "the sequence")
            pred = predictor.predict([text])[0]
            record_query(target, request, view.api_name, [text])
            return view.api(pred)

    api.__annotations__["return"] = dict if predictor.task_type == "classification" else float
    return api
