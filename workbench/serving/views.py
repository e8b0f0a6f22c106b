"""What differs between the classification and the regression demo: the output widgets, how one prediction is
shown, the batch table's columns and the programmatic API's answer. :mod:`.sequence_app` lays the tabs out.
"""

import json
from pathlib import Path

from .plots import display_name, probability_figure, range_figure


class ClassificationView:
    """Class probabilities as a bar chart with readable class names (``task.json`` ``label_names``; old runs
    without them show the codes)."""

    api_name = "classify"

    def __init__(self, predictor):
        self.predictor = predictor
        self.names = predictor.task.get("label_names") or {}

    def name(self, code: str) -> str:
        """The class's readable name with its code, e.g. ``donor (exon-intron) [EI]``."""
        return display_name(code, self.names)

    def what(self) -> str:
        """What the model predicts, for the page header."""
        return "one of: " + ", ".join(f"**{self.name(c)}**" for c in self.predictor.labels)

    def components(self, gr, suffix: str = ""):
        """The output components of one prediction: the top classes and the probability chart."""
        return [gr.Label(label="Predicted class", num_top_classes=len(self.predictor.labels),
                         elem_id=f"result{suffix}"),
                gr.Plot(label="Class probabilities", elem_id=f"chart{suffix}", format="png")]

    def show(self, pred, title: str = "Class probabilities") -> list:
        """The values of :meth:`components` for one prediction."""
        return [{self.name(c): p for c, p in pred.probabilities.items()},
                probability_figure(pred.probabilities, self.names, title)]

    def api(self, pred) -> dict:
        """The ``/classify`` answer: ``{"label", "name", "probabilities": {code: p}}``."""
        return {"label": pred.label, "name": self.names.get(pred.label, pred.label),
                "probabilities": pred.probabilities}

    def row(self, rid: str, pred) -> dict:
        """One batch-table row."""
        return {"id": rid, "predicted": pred.label, "name": self.names.get(pred.label, pred.label),
                **{f"p_{c}": round(p, 4) for c, p in pred.probabilities.items()}, "length": len(pred.sequence)}

    def score_choices(self) -> list[tuple[str, str]]:
        """The mutagenesis tab's ``(readable name, code)`` choices."""
        return [(self.name(c), c) for c in self.predictor.labels]

    def score_label(self, target: str) -> str:
        """How the mutagenesis score is called, e.g. ``P(donor (exon-intron) [EI])``."""
        return f"P({self.name(target)})"


class RegressionView:
    """The predicted value beside the range of the training targets (``task.json`` ``target_range``; older runs:
    the test split's range from ``predictions.csv``)."""

    api_name = "predict"

    def __init__(self, predictor):
        self.predictor = predictor
        self.target = predictor.target or "value"
        self.low, self.high, self.range_of = training_range(predictor.task, Path(predictor.run_dir))

    def what(self) -> str:
        """What the model predicts, for the page header."""
        return f"**{self.target}** (regression)"

    def components(self, gr, suffix: str = ""):
        """The output components: the value, a sentence about the range, the range strip."""
        return [gr.Number(label=f"Predicted {self.target}", precision=4, elem_id=f"result{suffix}"),
                gr.Markdown(elem_id=f"range{suffix}"),
                gr.Plot(label="Prediction on the training range", elem_id=f"chart{suffix}", format="png")]

    def show(self, pred, title: str = "") -> list:
        """The values of :meth:`components` for one prediction."""
        value = pred.value
        if self.low is None:
            note = "The training range is not recorded in this run."
        else:
            inside = self.low <= value <= self.high
            note = (f"{self.range_of} of `{self.target}`: {self.low:.4g} to {self.high:.4g}. "
                    + ("The prediction lies inside it." if inside else
                       "**The prediction lies outside it: the model is extrapolating; treat it with caution.**"))
        return [value, note, range_figure(value, self.low, self.high, self.target)]

    def api(self, pred) -> float:
        """The ``/predict`` answer: the value."""
        return pred.value

    def row(self, rid: str, pred) -> dict:
        """One batch-table row."""
        return {"id": rid, f"predicted_{self.target}": round(pred.value, 6), "length": len(pred.sequence)}

    def score_choices(self) -> list[tuple[str, str]]:
        """The mutagenesis tab's one choice: the target."""
        return [(self.target, self.target)]

    def score_label(self, target: str) -> str:
        """How the mutagenesis score is called."""
        return f"predicted {self.target}"


def training_range(task: dict, run_dir: Path) -> tuple[float | None, float | None, str]:
    """``(low, high, what)``: the training targets' range from ``task.json``, else the test split's from
    ``predictions.csv``, else ``(None, None, "")``."""
    if task.get("target_range"):
        return float(task["target_range"]["min"]), float(task["target_range"]["max"]), "Training range"
    csv = run_dir / "predictions.csv"
    if csv.is_file():
        import pandas as pd

        values = pd.read_csv(csv)["target"]
        return float(values.min()), float(values.max()), "Range in the test split (older run: no training range)"
    return None, None, ""


VIEWS = {"classification": ClassificationView, "regression": RegressionView}


def view_for(predictor):
    """The view of the predictor's task type."""
    return VIEWS[predictor.task_type](predictor)


def lineage_summary(run_dir: Path) -> str:
    """Markdown lines naming the run's base model, data fingerprint and source, from ``lineage.json``/``task.json``."""
    lines = [f"- run directory: `{run_dir.name}`"]
    task = json.loads((run_dir / "task.json").read_text()) if (run_dir / "task.json").is_file() else {}
    base = task.get("base_model") or {}
    if base:
        lines.append(f"- base model: `{base.get('spec')}` (sha256 `{str(base.get('sha256', ''))[:12]}…`)")
    lineage_file = run_dir / "lineage.json"
    if lineage_file.is_file():
        lineage = json.loads(lineage_file.read_text())
        if lineage.get("fingerprint"):
            lines.append(f"- data fingerprint: `{lineage['fingerprint']}`")
    return "\n".join(lines)
