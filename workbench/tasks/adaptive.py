"""What a sequence predictor can learn from rows without labels: a seeded subset of the training labels
(``train.label_fraction``) and a task-adaptive pretraining phase (``train.pretrain_steps``) on unlabelled rows.

Task-adaptive pretraining (Gururangan et al., "Don't Stop Pretraining", ACL 2020): before the supervised phase,
the LoRA adapter is trained for ``pretrain_steps`` causal-LM steps, one token per base with the loss over the
A/C/G/T LM-head rows (:class:`workbench.models.dna_lm.DnaLM`), on the training split's own sequences plus the
source's unlabelled rows (and, with ``label_fraction`` < 1, the training rows whose labels were set aside). The
validation and test splits never take part: an unlabelled row whose sequence is in either is left out and counted.
The same loop trains it (:func:`workbench.training.loop.train`), with the run's seed, learning rate and batch size.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)


def label_subset(targets: list, fraction: float, seed: int) -> list[int]:
    """Indices of a stratified, seeded ``fraction`` of the training rows (at least one per class).

    Classes are the targets themselves (class indices) or, for numeric targets, 5 quantile bins. Reuses
    :func:`workbench.data.splits.stratified_split`: its ``test`` part, ``round(n * fraction)`` rows of each class
    drawn with ``numpy.random.default_rng(seed)``, is the subset.
    """
    from ..data.splits import quantile_bins, stratified_split

    strata = ([str(t) for t in targets] if all(isinstance(t, int) for t in targets)
              else quantile_bins([float(t) for t in targets], 5))
    return stratified_split(strata, 1e-9, fraction, seed)["test"]


def apply_label_fraction(part: dict, fraction: float, seed: int) -> tuple[dict, list[str], dict | None]:
    """Keeps a :func:`label_subset` of ``part["train"]``; the other training sequences become unlabelled.

    Returns:
        ``(part, set-aside sequences, report or None when fraction is 1)``.
    """
    if fraction >= 1:
        return part, [], None
    seqs, targets = part["train"]
    keep = label_subset(targets, fraction, seed)
    kept = set(keep)
    part = {**part, "train": ([seqs[i] for i in keep], [targets[i] for i in keep])}
    aside = [s for i, s in enumerate(seqs) if i not in kept]
    return part, aside, {"fraction": fraction, "seed": seed, "labelled_rows": len(keep), "of": len(seqs)}


def unlabelled_rows(config, part: dict, aside: list[str]) -> tuple[list[str], dict]:
    """The unlabelled sequences of the pretraining phase: the source's rows without a label plus ``aside``, minus
    any sequence that is in the validation or test split (counted)."""
    from ..data.sources import read_unlabelled

    source_rows, report = read_unlabelled(config) if config.train.pretrain_steps else ([], {"rows": 0})
    held = set(part["validation"][0]) | set(part["test"][0])
    rows = source_rows + aside
    kept = [s for s in rows if s not in held]
    return kept, {"source_unlabelled": report, "set_aside_labels": len(aside), "held_out_dropped": len(rows) - len(kept),
                  "unlabelled_used": len(kept)}


def adaptive_pretrain(config, train_sequences: list[str], unlabelled: list[str], model, tokenizer, autocast,
                      device: str) -> dict:
    """Runs the task-adaptive pretraining phase on the adapter, in place.

    Args:
        config: The sequence run config (``train.pretrain_steps``, learning rate, batch size, seed).
        train_sequences: The training split's sequences (labelled rows).
        unlabelled: Unlabelled sequences (see :func:`unlabelled_rows`).
        model: The PEFT-wrapped model; its adapter trains.
        tokenizer: Its tokenizer.
        autocast: ``torch.bfloat16`` or ``None``.
        device: Where the model is.

    Returns:
        The model card's record: rows used each way, steps, tokens, loss at the start and end, seconds.
    """
    from ..models.dna_lm import DnaLM
    from ..training.loop import train
    from ..training.objective import Objective, TrainOptions

    cfg = config.train
    rows = list(train_sequences) + list(unlabelled)
    prompt = config.task.prompt.split("{sequence}")[0] + "{sequence}"
    lm = DnaLM(model, tokenizer, prompt, autocast).to(device)

    def batch_loss(idx: list[int]):
        batch = {k: v.to(device) for k, v in lm.encode([rows[i] for i in idx]).items()}
        loss, scored = lm(**batch)
        return loss, int(batch["attention_mask"].sum()), scored

    start = time.perf_counter()
    objective = Objective(lm, len(rows), batch_loss, reduction="tokens", loss_check=False)
    per_epoch = -(-len(rows) // cfg.batch_size)
    options = TrainOptions(epochs=(cfg.pretrain_steps - 1e-6) / per_epoch, learning_rate=cfg.learning_rate, batch_size=cfg.batch_size,
                           warmup_ratio=cfg.warmup_ratio, max_grad_norm=cfg.max_grad_norm, seed=cfg.seed)
    log.info("task-adaptive pretraining: %d steps on %d training + %d unlabelled sequences", cfg.pretrain_steps,
             len(train_sequences), len(unlabelled))
    result = train(objective, options, progress=False)
    losses = [loss for _, loss in result.loss_history]
    return {"steps": result.steps, "training_rows": len(train_sequences), "unlabelled_rows": len(unlabelled),
            "tokens_seen": result.tokens_seen, "bases_scored": result.trained_tokens,
            "loss_start": losses[0] if losses else None, "loss_end": losses[-1] if losses else None,
            "seconds": time.perf_counter() - start, "prompt": prompt}
