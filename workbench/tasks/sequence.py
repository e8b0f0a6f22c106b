"""What the two sequence tasks (classification, regression) share: rows -> prompts, the prompt objective, the
run directory's ``task.json``/``metrics.json``/model card, the CLI line and the demo.

A sequence becomes a prompt (space-separated nucleotides by default, one token per base); a scorer on the
LoRA-adapted decoder maps a batch of prompts to outputs, and the task's loss scores them.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, ClassVar

import torch

import data_connectors as dc

from ..data.leakage import leakage_report, leakage_sentences
from ..data.sequences import task_prompt
from ..data.sources import sequence_mapping
from ..data.strategies import read_run_rows
from ..runs import card
from ..runs.run_dir import write_json
from ..training.objective import BatchLoss, Objective
from .adaptive import adaptive_pretrain, apply_label_fraction, unlabelled_rows
from .base import Prepared, Task


def prompt_objective(scorer: torch.nn.Module, tokenizer, prompts: list[str], targets: torch.Tensor,
                     loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                     validate: Callable[[], float] | None = None, val_metric: str = "accuracy",
                     all_prompts: dict[str, list[str]] | None = None, val_passes: int = 1,
                     val_stderr: Callable[[float], float] | None = None, chance_score: float | None = None,
                     chance_loss: float | None = None) -> Objective:
    """The :class:`~workbench.training.objective.Objective` of a sequence task.

    Args:
        scorer: Module mapping ``input_ids``/``attention_mask`` of shape ``(batch, seq_len)`` to outputs.
        tokenizer: The base model's tokenizer.
        prompts: Training prompts, shape ``(n_train,)``.
        targets: Training targets, shape ``(n_train,)`` (class indices or standardised values).
        loss_fn: ``(outputs, targets) -> scalar loss``.
        validate: Returns the validation score (higher is better), or ``None``.
        val_metric: Name of that score.
        all_prompts: Prompts per split, for the dry run's token counts and validation timing (default: train only).
        val_passes: Forward passes per validation prompt (2 with test-time reverse-complement averaging), so the
            wall-time budget prices a validation pass before the first one.
        val_stderr: The standard error of a validation score at a given score (``Objective.val_stderr``).
        chance_score: The validation score of a model that learnt nothing (``Objective.chance_score``).
        chance_loss: The training loss of predicting the labels' prior (``Objective.chance_loss``).

    Returns:
        The objective; the tokens it reports are the prompts' real tokens (padding excluded).
    """
    from ..models.heads import encode_prompts

    device = next(p.device for p in scorer.parameters())
    splits = all_prompts or {"train": prompts, "validation": [], "test": []}

    def batch_loss(idx: list[int]) -> BatchLoss:
        batch = encode_prompts(tokenizer, [prompts[i] for i in idx])
        outputs = scorer(**{k: v.to(device) for k, v in batch.items()})
        return loss_fn(outputs, targets[idx].to(device)), int(batch["attention_mask"].sum()), 0

    def token_counts() -> dict[str, list[int]]:
        return {name: [len(tokenizer(p, add_special_tokens=False).input_ids) for p in ps] for name, ps in splits.items()}

    def eval_forward() -> None:
        val = splits["validation"][:64] or prompts[:64]
        scorer(**{k: v.to(device) for k, v in encode_prompts(tokenizer, val).items()})

    val_rows = len(splits["validation"]) * val_passes if validate is not None else 0
    return Objective(scorer, len(prompts), batch_loss, validate, val_metric, True, token_counts, eval_forward,
                     val_rows=val_rows, val_stderr=val_stderr if validate is not None else None,
                     chance_score=chance_score if validate is not None else None, chance_loss=chance_loss)


class SequenceTask(Task):
    """Shared stages of the sequence tasks; subclasses split the rows, build the head and score the test split."""

    def max_seq_length(self) -> int:
        return self.config.data.max_length * 2 + 64

    def column_mapping(self) -> dc.ColumnMapping:
        """The (sequence, label) mapping the source is read with."""
        return sequence_mapping(self.config)

    def read_and_split(self):
        """Reads and validates the rows of every source (:func:`workbench.data.strategies.read_run_rows`) and splits
        them by ``data.split``; ``workbench evaluate`` calls it to recover a finished run's training rows.

        Returns:
            ``(rows, part, splits, report, extra, sources)``: see :meth:`split`; ``rows`` the
            :class:`~workbench.data.sources.SequenceRows` the indices refer to, ``sources`` the extra sources'
            lineage.
        """
        rows, info, sources = read_run_rows(self.config)
        part, splits, report, extra = self.split(rows.sequences, rows.labels, info)
        return rows, part, splits, report, extra, sources

    def prepare(self, model) -> Prepared:
        """Reads, validates and splits the rows (:meth:`read_and_split`), then reports leakage between the splits."""
        d = self.config.data
        rows, part, splits, report, extra, sources = self.read_and_split()
        fingerprint = dc.fingerprint_rows((rows.sequences[i], rows.labels[i]) for name in ("train", "validation", "test")
                                          for i in splits[name])
        leak = leakage_report({name: part[name][0] for name in ("train", "validation", "test")}, d.leakage.k,
                              {name: [rows.ids[i] for i in splits[name]] for name in splits}, d.leakage.examples)
        data_report = {"ambiguity": _asdict(rows.ambiguity), "split": report.to_dict(), "leakage": leak.to_dict(),
                       "rows_used_fingerprint": fingerprint}
        if sources:
            data_report["sources"] = sources
        if d.exclude_from:
            data_report["excluded"] = {"rows": rows.excluded, "file": d.exclude_from}
        part, aside, labels_used = apply_label_fraction(part, self.config.train.label_fraction, self.config.train.seed)
        if labels_used:
            data_report["labels_used"] = labels_used
        if self.config.train.pretrain_steps:
            self.unlabelled, data_report["pretrain_phase"] = unlabelled_rows(self.config, part, aside)
        self.prompts = {name: [task_prompt(s, self.config.task) for s in part[name][0]] for name in part}
        return Prepared(rows.lineage, fingerprint, data_report, part, extra,
                        warnings=leakage_sentences(data_report["leakage"], strategy=d.split))

    def adapt(self, data: Prepared, model, tokenizer, autocast, device: str) -> None:
        """The task-adaptive pretraining phase before the supervised one (``train.pretrain_steps``; else nothing)."""
        if self.config.train.pretrain_steps:
            data.report["pretrain_phase"].update(adaptive_pretrain(
                self.config, data.part["train"][0], self.unlabelled, model, tokenizer, autocast, device))

    def split(self, sequences: list[str], labels: list, info):
        """``(part, splits, report, extra)``: split name -> ``(sequences, targets)``, the row indices per split,
        the :class:`~workbench.data.splits.SplitReport`, and task values kept in ``Prepared.extra``; ``info`` is
        the rows' :class:`~workbench.data.strategies.RowInfo` (origin, split column, group column)."""
        raise NotImplementedError

    def write_sequence_run(self, stage: Path, record, task_fields: dict, card_fields: dict, results: str,
                           eval_seconds: float, **training_fields) -> None:
        """Writes ``task.json``, ``metrics.json`` and the model card of a sequence run."""
        cfg = self.config
        write_json(stage / "task.json", {
            "type": cfg.task.type, **task_fields, "prompt": cfg.task.prompt, "spaced": cfg.task.spaced,
            "kmer": cfg.task.kmer,
            "pooling": cfg.task.pooling, "max_length": cfg.data.max_length, "num_layers": cfg.model.num_layers,
            "sequence_column": cfg.columns.sequence,
            "base_model": record.base_model_entry()})
        training = record.training(eval_seconds=eval_seconds)
        training.update(training_fields)
        published = cfg.published.model_dump() if cfg.published else None
        info = {"name": cfg.name, "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "task_type": cfg.task.type,
                "base_model": record.base.to_dict(), "lineage": record.data.lineage.to_dict(),
                "config": record.saved_config, "metrics": record.metrics, "baselines": record.baselines,
                "published": published, "training": training, "versions": record.versions,
                "data_report": record.data.report, "citation": cfg.published.citation if cfg.published else None,
                **card_fields}
        write_json(stage / "metrics.json", {
            "test": record.metrics, "baselines": record.baselines, "published": published, "training": training,
            "data": record.data.report, "wall_seconds": record.wall_seconds()})
        info["results"] = results if isinstance(results, str) else results(info)
        (stage / "README.md").write_text(card.model_card(info))

    demo_builder: ClassVar[str] = ""
    """Name of the :mod:`workbench.serving.demo` function that builds this task's Gradio Blocks."""

    @classmethod
    def demo(cls, predictor, **options):
        """The Gradio Blocks of this task's demo for a loaded :class:`~workbench.serving.predictor.Predictor`
        (``options``: ``limits``, ``compare``)."""
        from ..serving import demo

        return getattr(demo, cls.demo_builder)(predictor, **options)

    @classmethod
    def serve(cls, run_dir: str | Path, host: str, port: int, block: bool = True, **options):
        """Serves the run's demo; ``options`` go to :func:`workbench.serving.demo.serve` (``compare``,
        ``auth_file``, ``limits``)."""
        from ..serving.demo import serve

        return serve(run_dir, host, port, block, build=cls.demo, **options)


def _asdict(report) -> dict:
    from dataclasses import asdict

    return asdict(report)
