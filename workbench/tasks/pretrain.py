"""Continued pretraining on unlabelled DNA (``task.type: pretrain``): the company's own genome language model.

Corpus -> windows (streamed, held out by whole blocks; :mod:`workbench.data.corpus_store`) -> LoRA causal LM with
the loss over the DNA tokens' LM-head rows (:mod:`workbench.models.dna_lm`) -> bits per base on held-out blocks,
beside the uniform 2 bits, the Markov chain fitted on the same training windows, and the base model before
pretraining. The run directory is a base model for predictors: ``model.base_model: <run dir> | NAME@champion``
(:mod:`workbench.models.pretrained` merges it once).

Run as::

    workbench run configs/genome_lm.yaml [--resume] [--dry-run]
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from pathlib import Path

import numpy as np

import data_connectors as dc

from .. import paths
from ..data.corpus import Tiling
from ..data.corpus_store import CorpusSpec, build_store, reverse_complement
from ..data.markov import UNIFORM_BITS
from ..runs.run_dir import write_json
from ..training.objective import BatchLoss, Objective
from .base import LazyModel, Prepared, Task

log = logging.getLogger(__name__)


class ContextError(ValueError):
    """A window (plus the prompt's prefix) longer than the base model's context."""


def evenly(n: int, most: int) -> list[int]:
    """At most ``most`` indices spread evenly over ``range(n)`` (all of them when ``n <= most``)."""
    if n <= most:
        return list(range(n))
    return sorted(set(np.linspace(0, n - 1, most).round().astype(int).tolist()))


def block_bootstrap(diff: np.ndarray, block: int, resamples: int = 1000, seed: int = 0) -> list[float]:
    """95 % interval of the mean of per-window differences by a moving-block bootstrap (runs of ``block``
    consecutive windows resampled, as windows of one held-out block are correlated; at most a tenth of the windows
    per run, so that a resample draws at least 10 runs)."""
    n = len(diff)
    if n == 0:
        return [math.nan, math.nan]
    block = max(1, min(block, n // 10))  # at least 10 blocks per resample
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, n - block + 1, size=(resamples, math.ceil(n / block)))
    idx = (starts[..., None] + np.arange(block)).reshape(resamples, -1)[:, :n]
    means = diff[idx].mean(axis=1)
    return [float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))]


class PretrainTask(Task):
    """``task.type: pretrain``: validation bits per base keeps the weights (lower is better)."""

    type = "pretrain"
    run_files = ("markov.json", "training.png", "corpus.json")
    log_every = 10

    def max_seq_length(self) -> int:
        return self.config.task.window + 16

    def column_mapping(self) -> dc.ColumnMapping:
        """The mapping ``source:`` is read with (the sequence column, no label), for ``workbench data preview``.

        Raises:
            ValueError: The config has no ``source:`` (its corpus is FASTA/VCF files only).
        """
        if self.config.source is None:
            raise ValueError("this pretraining config has no `source:` to preview: its corpus.fasta / corpus.vcf files "
                             "are streamed by the run itself (look at one with `zcat FILE | head`).")
        col = self.config.columns.sequence
        return dc.ColumnMapping(col, col, text=True)

    def corpus_spec(self) -> CorpusSpec:
        """The corpus and tiling of this config."""
        cfg, t, d = self.config, self.config.task, self.config.data
        tiling = Tiling(window=t.window, stride=t.stride, min_length=t.min_length, max_n_fraction=t.max_n_fraction,
                        repeats=t.repeats, block=d.block, val_fraction=d.val_fraction, test_fraction=d.test_fraction,
                        seed=d.seed)
        vcf = cfg.corpus.vcf.model_dump() if cfg.corpus.vcf else None
        return CorpusSpec(list(cfg.corpus.fasta), vcf, cfg.source, cfg.columns.sequence, tiling, t.strands,
                          t.markov_order)

    def check_context(self, model: LazyModel) -> None:
        """Refuses a window that does not fit the base model's context, before the corpus is read.

        Raises:
            ContextError: Naming the window, the prompt's tokens and the model's limit, and what to change.
        """
        from transformers import AutoConfig, AutoTokenizer

        base = model.base
        limit = getattr(AutoConfig.from_pretrained(base.path), "max_position_embeddings", None)
        prefix = len(AutoTokenizer.from_pretrained(base.path)(self.config.task.prompt.split("{sequence}")[0],
                                                              add_special_tokens=False).input_ids)
        if limit and self.config.task.window + prefix > limit:
            raise ContextError(f"task.window={self.config.task.window} nt needs {self.config.task.window + prefix} "
                               f"tokens (one per base + {prefix} of prompt), but {base.name} ({base.path}, "
                               f"config.json max_position_embeddings) reads at most {limit}. Set task.window to at "
                               f"most {limit - prefix}.")

    def prepare(self, model: LazyModel) -> Prepared:
        """Checks the window against the context, then builds (or reuses) the tiled corpus."""
        self.check_context(model)
        self.spec = self.corpus_spec()
        self.store = store = build_store(self.spec, paths.home() / "corpus")
        man = store.manifest
        most = self.config.task.max_eval_windows
        part = {"train": store.count("train"), "validation": evenly(store.count("validation"), most),
                "test": evenly(store.count("test"), most)}
        self.held = {s: store.read(s, part[s]) for s in ("validation", "test")}
        where = [f["path"] for f in man["files"]] + ([man["vcf"]["path"]] if man["vcf"] else []) + \
            ([man["source"]["location"]] if man["source"] else [])
        lineage = dc.Lineage("corpus", ", ".join(where), None, sum(man["windows"].values()), ["sequence"],
                             man["fingerprint"], {k: man[k] for k in ("counts", "files", "tiling", "strands")})
        self.train_windows = part["train"] * (2 if self.spec.strands == "both" else 1)
        report = {"corpus": {k: man[k] for k in ("windows", "counts", "strands", "markov_k", "fingerprint")},
                  "store": str(store.directory), "training_windows": self.train_windows,
                  "training_bases": self.train_windows * self.spec.tiling.window,
                  "scored_windows": {s: len(part[s]) for s in ("validation", "test")},
                  "rows_used_fingerprint": man["fingerprint"]}
        log.info("corpus: %s windows (train/validation/test), fingerprint %s", man["windows"], man["fingerprint"][:12])
        return Prepared(lineage, man["fingerprint"], report, part)

    def fetch(self, idx: list[int]) -> list[str]:
        """Training windows by index; indices past the stored count are the reverse complements (``strands: both``)."""
        n = self.store.count("train")
        windows = self.store.read("train", [i % n for i in idx])
        return [reverse_complement(w) if i >= n else w for i, w in zip(idx, windows)]

    def objective(self, data, model, tokenizer, autocast, device: str):
        from ..models.dna_lm import DnaLM, bits_per_base

        t = self.config.task
        self.tokenizer = tokenizer
        self.lm = lm = DnaLM(model, tokenizer, t.prompt, autocast, t.loss, t.train_dna_rows, t.dna_rows_lr_ratio)
        lm.to(device)
        self.markov = self.store.markov()
        val = self.held["validation"]
        markov_val = self.markov.bits_per_base(val)[0] if val else None

        def batch_loss(idx: list[int]) -> BatchLoss:
            batch = {k: v.to(device) for k, v in lm.encode(self.fetch(idx)).items()}
            loss, scored = lm(**batch)
            return loss, int(batch["attention_mask"].sum()), scored

        def validate() -> float:
            self.val_bits = lm.base_bits(val)
            return bits_per_base(self.val_bits)[0]

        def stderr(_score: float) -> float:
            per = np.nanmean(getattr(self, "val_bits", np.full((1, 1), np.nan)), axis=1)
            per = per[~np.isnan(per)]
            return float(per.std(ddof=1) / math.sqrt(len(per))) if len(per) > 1 else 0.0

        def token_counts() -> dict[str, list[int]]:
            width = self.spec.tiling.window + len(lm.prefix)
            return {"train": [width] * min(self.train_windows, 100_000), "validation": [width] * len(val),
                    "test": [width] * len(self.held["test"])}

        def eval_forward() -> None:
            lm.base_bits((val or self.fetch(list(range(64))))[:64])

        return Objective(lm, self.train_windows, batch_loss, validate if val else None, "bits_per_base", False,
                         token_counts, eval_forward, reduction="tokens", val_rows=len(val), val_stderr=stderr,
                         chance_score=markov_val, loss_check=False, short_run_check=False)

    def baselines(self, data) -> dict:
        """Uniform, the Markov chain and the base model before pretraining (adapter off), on the test windows."""
        from ..models.dna_lm import bits_per_base

        test = self.held["test"]
        self.markov_bits = self.markov.base_bits(test)
        with self.lm.model.disable_adapter():
            self.base_bits = self.lm.base_bits(test)
        k = self.markov.k
        return {"uniform": {"bits_per_base": UNIFORM_BITS},
                f"markov_k{k}": {"bits_per_base": bits_per_base(self.markov_bits)[0], "k": k,
                                 "smoothing": "add-one (Laplace)", "fitted_on": "the training windows"},
                "base_model": {"bits_per_base": bits_per_base(self.base_bits)[0], "what": "before pretraining"}}

    def evaluate(self, data, progress: bool) -> dict:
        from ..models.dna_lm import bits_per_base

        start = time.perf_counter()
        test = self.held["test"]
        self.test_bits = self.lm.base_bits(test)
        value, bases = bits_per_base(self.test_bits)
        markov = getattr(self, "markov_bits", None)
        markov = self.markov.base_bits(test) if markov is None else markov
        both = ~np.isnan(self.test_bits) & ~np.isnan(markov)
        diff = np.array([(self.test_bits[i][both[i]] - markov[i][both[i]]).mean() for i in range(len(test))
                         if both[i].any()])
        per_block = max(1, min(self.config.data.block // self.config.task.window, len(diff) // 10))
        self.eval_seconds = time.perf_counter() - start
        return {"bits_per_base": value, "bases": bases, "windows": len(test), "markov_k": self.markov.k,
                "markov_bits_per_base": bits_per_base(markov)[0], "uniform_bits_per_base": UNIFORM_BITS,
                "vs_markov": {"difference": float(np.nanmean(self.test_bits[both] - markov[both])),
                              "ci95": block_bootstrap(diff, per_block, seed=self.config.train.seed),
                              "how": f"moving-block bootstrap of per-window differences, blocks of {per_block} "
                                     "consecutive windows, 1,000 resamples"}}

    def write(self, stage: Path, record) -> None:
        from ..evaluation.metrics import plot_loss
        from ..models.dna_lm import DNA_ROWS_FILE
        from .pretrain_card import pretrain_card

        cfg, result = self.config, record.result
        shutil.copy(self.store.directory / "markov.json", stage / "markov.json")
        shutil.copy(self.store.directory / "manifest.json", stage / "corpus.json")
        if self.lm.rows is not None:
            self.lm.save_rows(stage / DNA_ROWS_FILE)
        plot_loss(result.loss_history, result.val_history, stage / "training.png", val_name="validation bits per base")
        corpus = {"fingerprint": record.data.fingerprint, "location": record.data.lineage.location,
                  "windows": self.store.manifest["windows"], "training_bases": record.data.report["training_bases"]}
        write_json(stage / "task.json", {
            "type": "pretrain", "name": cfg.name, "prompt": cfg.task.prompt, "spaced": True, "kmer": 1, "window": cfg.task.window,
            "strands": cfg.task.strands, "loss": cfg.task.loss, "num_layers": cfg.model.num_layers,
            "dna_rows_file": DNA_ROWS_FILE if self.lm.rows is not None else None, "markov_file": "markov.json",
            "base_model": record.base_model_entry(), "corpus": corpus, "tokens_seen": result.tokens_seen,
            "bits_per_base": record.metrics["bits_per_base"], "max_length": cfg.task.window,
            "examples": [{"sequence": w} for w in self.held["test"][:2]]})
        training = record.training(eval_seconds=self.eval_seconds, best_val_bits_per_base=result.best_val_score)
        write_json(stage / "metrics.json", {"test": record.metrics, "baselines": record.baselines,
                                            "training": training, "data": record.data.report,
                                            "wall_seconds": record.wall_seconds()})
        (stage / "README.md").write_text(pretrain_card({
            "name": cfg.name, "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "base_model": record.base.to_dict(),
            "lineage": record.data.lineage.to_dict(), "data_report": record.data.report, "config": record.saved_config,
            "metrics": record.metrics, "baselines": record.baselines, "training": training,
            "versions": record.versions}))

    @staticmethod
    def summary(result) -> str:
        m, b = result.metrics, result.baselines
        k = m.get("markov_k", 5)
        ci = m["vs_markov"]["ci95"]
        return (f"test bits per base {m['bits_per_base']:.4f}  (Markov-{k} {m['markov_bits_per_base']:.4f}, "
                f"difference {m['vs_markov']['difference']:+.4f} [{ci[0]:+.4f}, {ci[1]:+.4f}]; uniform 2.0; "
                f"base model before pretraining {b.get('base_model', {}).get('bits_per_base', float('nan')):.3f})")

    @staticmethod
    def serve(run_dir: str | Path, host: str, port: int, block: bool = True, **options):
        from ..serving.surprise import serve_surprise

        return serve_surprise(run_dir, host, port, block, **options)

    @staticmethod
    def export_refusal(task: dict) -> str | None:
        return None

    @staticmethod
    def export(run_dir: Path, fmt: str, out: Path | None, dtype: str):
        """Exports a pretraining run as merged weights (:func:`workbench.models.pretrained.export_merged`)."""
        from ..models.base_model import resolve_base_model
        from ..models.pretrained import export_merged

        if fmt != "merged":
            raise ValueError(f"a pretraining run exports as merged weights only (--format merged), not {fmt}: it is "
                             "a base model for predictors.")
        return export_merged(run_dir, out or Path(run_dir) / "exports" / "merged", resolve_base_model, dtype)


def read_task(run_dir: Path) -> dict:
    """The ``task.json`` of a run directory."""
    return json.loads((Path(run_dir) / "task.json").read_text())
