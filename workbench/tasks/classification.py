"""Sequence classification: label words scored through the restricted LM head (or a linear head).

Run as::

    workbench run configs/splice.yaml [--resume] [--dry-run]
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from ..runs.card import fmt
from .sequence import SequenceTask, prompt_objective


class ClassificationTask(SequenceTask):
    """``task.type: classification``: cross-entropy on the label logits; validation accuracy keeps the weights.

    Baselines: k-mer and position-wise one-hot logistic regression and RBF SVMs (``C`` chosen on validation) and
    the majority class. Exportable as adapter, merged weights and GGUF when ``task.classifier`` is ``lm_head``.
    """

    type = "classification"
    demo_builder = "build_classification_demo"
    run_files = ("predictions.csv", "validation_predictions.csv", "confusion_matrix.png")

    def split(self, sequences: list[str], labels: list, info):
        from ..data.strategies import split_sequences

        splits, report = split_sequences(sequences, labels, self.config.data, info)
        names = sorted(set(labels))
        for key in ("label_words", "label_names"):
            unknown = sorted(set(getattr(self.config.task, key)) - set(names))
            if unknown:
                raise ValueError(f"task.{key} names labels {unknown} that are not in the data (labels: {names}).")
        part = {name: ([sequences[i] for i in ix], [names.index(labels[i]) for i in ix]) for name, ix in splits.items()}
        return part, splits, report, {"labels": names}

    def prepare(self, model):
        """Reads and splits the rows (see :meth:`SequenceTask.prepare`), then settles ``task.reverse_complement``."""
        from ..data.sequences import task_prompt
        from ..data.strand import probe_strand_symmetry, reverse_complement

        prepared = super().prepare(model)
        setting, part = self.config.task.reverse_complement, prepared.part
        probe = probe_strand_symmetry(*part["train"], *part["validation"]) if setting == "auto" else None
        self.strand = {"setting": setting, "on": probe.symmetric if probe else setting == "on",
                       "probe": probe.to_dict() if probe else None}
        prepared.report["strand"] = self.strand
        self.rc_prompts = ({name: [task_prompt(reverse_complement(s), self.config.task) for s in part[name][0]]
                            for name in part} if self.strand["on"] else None)
        return prepared

    def _proba(self, split: str, progress: bool = False):
        from ..models.heads import predict_proba

        reverse = self.rc_prompts[split] if self.rc_prompts else None
        return predict_proba(self.scorer, self.tokenizer, self.prompts[split], progress=progress,
                             reverse_prompts=reverse)

    def objective(self, data, model, tokenizer, autocast, device: str):
        from ..evaluation.metrics import accuracy_stderr
        from ..models.heads import LabelScorer, label_token_ids

        self.adapt(data, model, tokenizer, autocast, device)
        self.tokenizer = tokenizer
        self.labels = data.extra["labels"]
        self.words = [self.config.task.label_words.get(y, y) for y in self.labels]
        self.scorer = LabelScorer(model, label_token_ids(tokenizer, self.words), autocast,
                                  pooling=self.config.task.pooling, classifier=self.config.task.classifier)
        self.scorer.to(device)
        val_prompts, y_val = self.prompts["validation"], torch.tensor(data.part["validation"][1], dtype=torch.long)

        def validate() -> float:
            return (self._proba("validation").argmax(-1) == y_val).float().mean().item()

        targets = torch.tensor(data.part["train"][1], dtype=torch.long)
        train_prompts = self.prompts["train"]
        if self.rc_prompts:  # reverse-complement augmentation: one epoch = every row in both orientations
            train_prompts, targets = train_prompts + self.rc_prompts["train"], torch.cat([targets, targets])
        prior = torch.bincount(targets, minlength=len(self.labels)).double() / len(targets)
        majority = int(prior.argmax())  # a model that learnt nothing predicts the training majority class
        return prompt_objective(self.scorer, tokenizer, train_prompts, targets,
                                torch.nn.functional.cross_entropy, validate if val_prompts else None, "accuracy",
                                self.prompts, val_passes=2 if self.rc_prompts else 1,
                                val_stderr=lambda p: accuracy_stderr(p, len(val_prompts)),
                                chance_score=(y_val == majority).double().mean().item() if val_prompts else None,
                                chance_loss=float(-(prior[prior > 0] * prior[prior > 0].log()).sum()))

    def baselines(self, data) -> dict:
        from ..evaluation.baselines import run_baselines

        results, self.baseline_pred = run_baselines(*data.part["train"], *data.part["test"], data.extra["labels"],
                                                    return_predictions=True, val_seqs=data.part["validation"][0],
                                                    val_y=data.part["validation"][1])
        return results

    def evaluate(self, data, progress: bool) -> dict:
        from ..evaluation.metrics import classification_metrics, paired_difference_ci

        start = time.perf_counter()
        self.proba = self._proba("test", progress).numpy()
        self.pred = self.proba.argmax(1).tolist()
        # the kept weights' validation-split probabilities, for thresholds, calibration or blends chosen off the test
        self.val_proba = self._proba("validation").numpy() if self.prompts["validation"] else None
        y_test = data.part["test"][1]
        metrics = classification_metrics(y_test, self.pred, self.labels, self.proba)
        # accuracy difference (this model - baseline) with its paired-bootstrap interval, per baseline
        metrics["vs_baselines"] = {name: paired_difference_ci(y_test, self.pred, pred)
                                   for name, pred in getattr(self, "baseline_pred", {}).items()}
        self.eval_seconds = time.perf_counter() - start
        return metrics

    def write(self, stage: Path, record) -> None:
        from ..evaluation.metrics import plot_confusion_matrix, plot_loss
        from ..models.heads import CLASSIFIER_HEAD_FILE

        labels, test, metrics = self.labels, record.data.part["test"], record.metrics
        examples, counts = [], {i: 0 for i in range(len(labels))}
        for seq, y in zip(*test):
            if counts[y] < 2:
                examples.append({"sequence": seq, "label": labels[y]})
                counts[y] += 1
        probability_frame(test, labels, self.proba, self.pred).to_csv(stage / "predictions.csv", index=False)
        probability_frame(record.data.part["validation"], labels, self.val_proba).to_csv(
            stage / "validation_predictions.csv", index=False)
        plot_confusion_matrix(metrics["confusion_matrix"], labels, stage / "confusion_matrix.png",
                              f"{self.config.name}: test split (n={metrics['n']})")
        plot_loss(record.result.loss_history, record.result.val_history, stage / "training.png")
        task = {"labels": labels, "label_words": self.words, "label_token_ids": self.scorer.label_ids.tolist(),
                "classifier": self.scorer.classifier, "examples": examples,
                "label_names": {y: self.config.task.label_names.get(y, y) for y in labels},
                "reverse_complement": self.strand["on"]}
        if self.scorer.classifier == "linear":
            self.scorer.save_head(stage / CLASSIFIER_HEAD_FILE)
            task["head_file"] = CLASSIFIER_HEAD_FILE
        card_fields = {"labels": labels, "label_words": self.words,
                       "what": f"DNA sequence classification ({', '.join(labels)})", "split_how": "stratified by label",
                       "head": f"label words {self.words}; {strand_note(self.strand)}"}
        self.write_sequence_run(stage, record, task, card_fields, results_section, self.eval_seconds,
                                best_val_accuracy=record.result.best_val_score)

    @staticmethod
    def summary(result) -> str:
        m, b = result.metrics, result.baselines
        versus = ""
        if b:
            name = max(b, key=lambda k: b[k]["accuracy"])
            versus = (f"  (strongest baseline {name} {b[name]['accuracy']:.4f}, difference "
                      f"{difference_cell(m.get('vs_baselines', {}).get(name))})")
        return f"test accuracy {m['accuracy']:.4f}  MCC {m['mcc']:.4f}  macro-F1 {m['macro_f1']:.4f}{versus}"

    @staticmethod
    def export_refusal(task: dict) -> str | None:
        if task.get("classifier", "lm_head") != "lm_head":
            return (f"it was trained with task.classifier={task['classifier']}: its classifier layer is not part of "
                    "the LM weights, so merged/GGUF/adapter exports would lose it. Use the run directory, or retrain "
                    "with task.classifier: lm_head to export.")
        return None


def probability_frame(split: tuple[list[str], list[int]], labels: list[str], proba, predicted: list[int] | None = None):
    """One split's rows with the model's class probabilities, as written to ``predictions.csv`` and
    ``validation_predictions.csv``.

    Args:
        split: ``(sequences, targets)`` of one split, targets as indices into ``labels``.
        labels: Class names, in the model's output order.
        proba: ``(n, n_labels)`` probabilities (rows sum to 1), or ``None`` for an empty split.
        predicted: Predicted class indices, ``(n,)``; adds a ``predicted`` column when given.

    Returns:
        A DataFrame with ``sequence``, ``label``, [``predicted``], then ``p_<label>`` per class rounded to 6 places.
    """
    import pandas as pd

    frame = pd.DataFrame({"sequence": split[0], "label": [labels[i] for i in split[1]]})
    if predicted is not None:
        frame["predicted"] = [labels[i] for i in predicted]
    for j, name in enumerate(labels):
        frame[f"p_{name}"] = proba[:, j].round(6) if proba is not None else []
    return frame


def strand_note(strand: dict) -> str:
    """The model card's line on ``task.reverse_complement`` (what was used and, for ``auto``, why)."""
    used = ("reverse-complement augmentation and test-time averaging of both strands" if strand["on"]
            else "forward strand only (no reverse-complement augmentation)")
    probe = strand.get("probe")
    if not probe:
        return f"{used} (task.reverse_complement: {strand['setting']})"
    return (f"{used} (task.reverse_complement: auto; the {probe['baseline']} baseline scored validation accuracy "
            f"{probe['plain_val_accuracy']:.4f} trained on the forward strand, {probe['augmented_val_accuracy']:.4f} "
            "with reverse complements added)")


def results_section(info: dict[str, Any]) -> str:
    """The model card's test-split results: this model beside the baselines, intervals, per-class figures."""
    m, base = info["metrics"], info["base_model"]
    rows = [("this model (LoRA, " + base["name"] + ")", m)] + [(k, v) for k, v in info["baselines"].items()]
    vs = m.get("vs_baselines", {})
    table = "\n".join(
        f"| {name} | {fmt(v['accuracy'])} | {difference_cell(vs.get(name))} | {fmt(v['macro_f1'])} | {fmt(v['mcc'])} "
        f"| {fmt(v.get('auroc', '–'))} |" for name, v in rows)
    published = ""
    if info.get("published"):
        pub = info["published"]
        published = (f"\n\nPublished results on the same data (different split; {pub['source']}):\n\n"
                     "| method | test accuracy |\n|---|---|\n"
                     + "\n".join(f"| {k} | {v:.3f} |" for k, v in pub["test_accuracy"].items()))
    per_class = "\n".join(
        f"| {k} | {v['precision']:.4f} | {v['recall']:.4f} | {v['f1']:.4f} | {v['support']} |"
        for k, v in m["per_class"].items())
    ci = m.get("ci95") or {}
    ci = (f"\nThis model's 95 % bootstrap intervals (test rows resampled 1,000 times; split uncertainty only): "
          f"accuracy [{ci['accuracy'][0]:.4f}, {ci['accuracy'][1]:.4f}], MCC [{ci['mcc'][0]:.4f}, {ci['mcc'][1]:.4f}].\n"
          if ci else "")
    return f"""## Test-split results (n = {m['n']}; never used for model selection)

| model | accuracy | accuracy difference, this model − baseline [95 % CI] | macro-F1 | MCC | AUROC |
|---|---|---|---|---|---|
{table}
{ci}{verdict_sentence(vs)}{tuning_sentence(info["baselines"])}{published}

Per class (this model):

| class | precision | recall | F1 | support |
|---|---|---|---|---|
{per_class}

![confusion matrix](confusion_matrix.png)
"""




def tuning_sentence(baselines: dict) -> str:
    """One line naming each baseline's regularisation strength ``C`` and whether validation chose it (older runs
    recorded no ``C``: empty)."""
    tuned = {k: v for k, v in baselines.items() if v.get("C") is not None}
    if not tuned:
        return ""
    chosen = any(v.get("val_accuracy") is not None for v in tuned.values())
    how = ("chosen by validation accuracy, as the model's weights are" if chosen
           else "each baseline's default (no validation split to choose by)")
    return (f"Baselines' regularisation strength C ({how}): "
            + ", ".join(f"{k} {v['C']:g}" for k, v in tuned.items()) + ".\n")


def difference_cell(vs: dict | None) -> str:
    """``+0.0123 [+0.0051, +0.0198]`` for one baseline's row of the card, or ``–`` (this model's own row)."""
    if not vs:
        return "–"
    return f"{vs['difference']:+.4f} [{vs['ci95'][0]:+.4f}, {vs['ci95'][1]:+.4f}]"


def verdict_sentence(vs: dict) -> str:
    """One line saying, per baseline, whether the paired-bootstrap interval of the difference excludes 0."""
    if not vs:
        return ""
    said = {"above": [], "below": [], "level": []}
    for name, v in vs.items():
        low, high = v["ci95"]
        said["above" if low > 0 else "below" if high < 0 else "level"].append(name)
    parts = [f"better than {', '.join(said['above'])} (interval above 0)" if said["above"] else "",
             f"worse than {', '.join(said['below'])} (interval below 0)" if said["below"] else "",
             f"not distinguishable from {', '.join(said['level'])} (interval contains 0)" if said["level"] else ""]
    return ("Paired bootstrap of the accuracy difference (the same 1,000 resamples of test rows for both models): "
            f"this model is {'; '.join(p for p in parts if p)}.\n")
