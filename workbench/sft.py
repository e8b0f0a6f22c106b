"""The chat SFT recipe: connect -> format with the chat template -> split -> train -> evaluate -> save.

One typed function, :func:`setup`, that the CLI, the notebooks and the tests call. The loss is on
assistant tokens only; evaluation compares the base model (adapter disabled) with the adapter on the
same held-out test split: loss/perplexity, and normalised exact match of greedy answers.

Run as::

    workbench run configs/chat_sft.yaml
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import yaml

import data_connectors as dc

from . import artifacts, paths
from .base_model import resolve_base_model
from .chat import generate
from .chat_format import (FormatError, encode_chat, end_of_turn_ids, ensure_chat_template, normalize_answer,
                          split_conversations, to_conversation)
from .engine import LoRASpec, load_lora_model, resolve_precision, select_backend, set_threads
from .metrics import plot_loss
from .recipe import package_versions
from .sft_card import sft_model_card
from .sft_config import SFTConfig
from .sft_train import evaluate_loss, train_sft

log = logging.getLogger(__name__)
BUNDLED_CORPUS = Path(__file__).parent / "resources" / "handbook" / "handbook_qa.jsonl"  # fictional handbook Q&A


@dataclass
class SFTResult:
    """Where an SFT run went and how it scored.

    Attributes:
        run_dir: The completed run directory.
        metrics: ``{"base": {...}, "tuned": {...}}``: test loss, perplexity, exact match (0-1) per model.
        seconds: Wall time of the whole recipe, in seconds.
    """

    run_dir: Path
    metrics: dict
    seconds: float


def read_source(config: SFTConfig):
    """Reads the configured source through ``data_connectors`` as free text.

    The prompt column arrives as ``sequence`` and the response as ``label`` (a messages column as
    both); ``columns.kind`` is carried along as a kept column.

    Returns:
        ``(dataset, lineage)``; see :func:`data_connectors.read_source`.
    """
    cols = config.columns
    mapping = (dc.ColumnMapping(cols.messages, cols.messages, text=True) if cols.messages
               else dc.ColumnMapping(cols.prompt, cols.response, text=True))
    source = config.source
    if cols.kind and cols.kind not in source.keep_columns:
        source = source.model_copy(update={"keep_columns": [*source.keep_columns, cols.kind]})
    return dc.read_source(source, mapping)


def conversations(config: SFTConfig, dataset) -> list[list[dict]]:
    """Turns every row into a conversation (system prompt added where configured).

    Raises:
        FormatError: Naming the first row that cannot be formatted.
    """
    out = []
    for i, row in enumerate(dataset):
        try:
            if config.columns.messages:
                out.append(to_conversation(None, None, row["sequence"], config.task.system_prompt))
            else:
                out.append(to_conversation(row["sequence"], row["label"], None, config.task.system_prompt))
        except FormatError as exc:
            raise FormatError(f"row {i}: {exc}") from None
    return out


def saved_config(config: SFTConfig) -> dict:
    """The resolved config as saved beside the adapter, with every secret redacted."""
    return dc.redact_config(config.model_dump(mode="json"))


def _exact_match(answers: list[str], references: list[str]) -> dict:
    em = [normalize_answer(a) == normalize_answer(r) for a, r in zip(answers, references)]
    contained = [normalize_answer(r) in normalize_answer(a) for a, r in zip(answers, references)]
    n = len(em)
    return {"exact_match": sum(em) / n if n else float("nan"), "contains_answer": sum(contained) / n if n else
            float("nan"), "n": n}


def setup(config: SFTConfig, progress: bool = True) -> SFTResult:
    """Runs the whole SFT recipe and writes a complete run directory atomically.

    Args:
        config: A validated SFT config (see :func:`workbench.sft_config.load_sft_config`).
        progress: Show progress bars.

    Returns:
        An :class:`SFTResult`.

    Raises:
        data_connectors.ConnectorError: The source cannot be read or lacks the mapped columns.
        workbench.chat_format.FormatError: A row cannot be formatted, or no chat template exists.
        workbench.splits.SplitError: Too few rows to split.
        workbench.base_model.BaseModelError: The base model cannot be found.
    """
    start, cpu_start = time.perf_counter(), time.process_time()
    backend, reason = select_backend(config.train.backend)  # before transformers is imported (Unsloth patches it)
    threads = set_threads(config.train.threads)
    dataset, lineage = read_source(config)
    log.info("read %d rows from %s", lineage.rows, lineage.location)
    convs = conversations(config, dataset)
    kinds = dataset[config.columns.kind] if config.columns.kind else None

    base = resolve_base_model(config.model.base_model)
    autocast = resolve_precision(config.train.precision)
    model, tokenizer = load_lora_model(base.path, LoRASpec(**config.lora.model_dump()), backend, config.train.seed,
                                       config.data.max_length)
    template_from = ensure_chat_template(tokenizer, config.task.chat_template,
                                         base.source if base.source_kind != "hf-dir" else None)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    encoded = [encode_chat(tokenizer, c) for c in convs]
    fits = [i for i, (ids, _, _) in enumerate(encoded) if len(ids) <= config.data.max_length]
    too_long = len(encoded) - len(fits)
    if not fits:
        raise FormatError(f"all {len(encoded)} rows are longer than data.max_length={config.data.max_length} tokens")
    keys = [normalize_answer(" ".join(m["content"] for m in convs[i] if m["role"] == "user")) for i in fits]
    local, split_report = split_conversations(keys, [kinds[i] for i in fits] if kinds else None,
                                              config.data.duplicates, config.data.val_fraction,
                                              config.data.test_fraction, config.data.seed)
    split = {name: [fits[j] for j in ix] for name, ix in local.items()}
    part = {name: [encoded[i][:2] for i in ix] for name, ix in split.items()}
    ecfg = config.eval
    em_rows = [i for i in split["test"] if not kinds or kinds[i] == ecfg.exact_match_kind][: ecfg.max_exact_match]
    em_prompts = [encoded[i][0][: encoded[i][2]] for i in em_rows]
    em_refs = [convs[i][-1]["content"] for i in em_rows]
    stop = end_of_turn_ids(tokenizer)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device)

    def evaluate(label: str) -> tuple[dict, list[str]]:
        t0 = time.perf_counter()
        scores = {"test": evaluate_loss(model, part["test"], pad_id, ecfg.batch_size, autocast),
                  "validation": evaluate_loss(model, part["validation"], pad_id, ecfg.batch_size, autocast)}
        answers = generate(model, tokenizer, em_prompts, stop, ecfg.max_new_tokens, ecfg.batch_size)
        scores["exact_match"] = _exact_match(answers, em_refs)
        scores["eval_seconds"] = time.perf_counter() - t0
        log.info("%s: test perplexity %.2f, exact match %.3f (n=%d)", label, scores["test"]["perplexity"],
                 scores["exact_match"]["exact_match"], scores["exact_match"]["n"])
        return scores, answers

    with model.disable_adapter():  # the honest baseline: the same base model, no adapter
        base_scores, base_answers = evaluate("base model")
    tcfg = config.train
    result = train_sft(model, part["train"], part["validation"], pad_id=pad_id, epochs=tcfg.epochs,
                       learning_rate=tcfg.learning_rate, batch_size=tcfg.batch_size, warmup_ratio=tcfg.warmup_ratio,
                       weight_decay=tcfg.weight_decay, max_grad_norm=tcfg.max_grad_norm, seed=tcfg.seed,
                       autocast_dtype=autocast, eval_batch_size=ecfg.batch_size, progress=progress,
                       packing=tcfg.packing)
    tuned_scores, tuned_answers = evaluate("fine-tuned")
    samples = [{"id": dataset["id"][i] if "id" in dataset.column_names else str(i),
                "kind": kinds[i] if kinds else None, "prompt": convs[i][-2]["content"] if len(convs[i]) > 1 else "",
                "reference": ref, "base": b, "tuned": t}
               for i, ref, b, t in zip(em_rows, em_refs, base_answers, tuned_answers)]

    final = Path(config.output_dir or paths.runs_dir()) / config.name
    training = {"backend": backend, "backend_reason": reason, "device": device, "threads": threads,
                "precision": "bf16" if autocast is not None else "fp32", "chat_template_from": template_from,
                **asdict(result)}
    data_report = {"rows_read": lineage.rows, "too_long_dropped": too_long, "max_length": config.data.max_length,
                   "split": split_report, "exact_match_rows": len(em_rows),
                   "rows_used_fingerprint": dc.fingerprint_rows(
                       (tuple(m["content"] for m in convs[i]) for n in ("train", "validation", "test")
                        for i in split[n]))}
    metrics = {"base": base_scores, "tuned": tuned_scores}
    with artifacts.staged_run_dir(final) as stage:
        model.save_pretrained(stage / "adapter")
        tokenizer.save_pretrained(stage / "tokenizer")
        (stage / "config.yaml").write_text(yaml.safe_dump(saved_config(config), sort_keys=False))
        artifacts.write_json(stage / "lineage.json", lineage.to_dict())
        artifacts.write_json(stage / "task.json", {
            "type": "sft", "system_prompt": config.task.system_prompt, "max_new_tokens": ecfg.max_new_tokens,
            "base_model": {"spec": config.model.base_model, **base.to_dict()}, "stop_token_ids": stop,
            "examples": [{"prompt": s["prompt"], "reference": s["reference"]} for s in samples[:8]]})
        with open(stage / "samples.jsonl", "w") as handle:
            for s in samples:
                handle.write(json.dumps(s, ensure_ascii=False) + "\n")
        plot_loss(result.loss_history, result.val_history, stage / "training.png", val_name="validation loss")
        seconds = time.perf_counter() - start
        artifacts.write_json(stage / "metrics.json", {**metrics, "training": training, "data": data_report,
                                                      "wall_seconds": seconds,
                                                      "cpu_seconds": time.process_time() - cpu_start})
        (stage / "README.md").write_text(sft_model_card({
            "name": config.name, "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "base_model": base.to_dict(),
            "lineage": lineage.to_dict(), "config": saved_config(config), "metrics": metrics, "training": training,
            "data_report": data_report, "samples": samples[: ecfg.samples], "versions": package_versions(),
            "seconds": seconds}))
    log.info("run directory %s complete in %.0f s", final, seconds)
    return SFTResult(final, metrics, seconds)
