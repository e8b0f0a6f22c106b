"""Chat SFT: rows -> conversations in the chat template -> LoRA on the assistant tokens -> base vs tuned.

The loss is on assistant tokens only (:mod:`workbench.tasks.chat_loss`); evaluation compares the base model
(adapter disabled) with the adapter on the same held-out test split: loss/perplexity, and normalised exact
match of greedy answers.

Run as::

    workbench run configs/chat_sft.yaml [--resume] [--dry-run]
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import data_connectors as dc

from ..data.conversations import FormatError, normalize_answer, split_conversations, to_conversation
from ..data.sources import chat_mapping, read_chat_source
from ..runs.run_dir import write_json
from ..training.objective import BatchLoss, Objective
from .base import LazyModel, Prepared, Task

log = logging.getLogger(__name__)
BUNDLED_CORPUS = Path(__file__).resolve().parents[1] / "resources" / "handbook" / "handbook_qa.jsonl"  # fictional


def conversations(config, dataset) -> list[list[dict]]:
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


def _exact_match(answers: list[str], references: list[str]) -> dict:
    em = [normalize_answer(a) == normalize_answer(r) for a, r in zip(answers, references)]
    contained = [normalize_answer(r) in normalize_answer(a) for a, r in zip(answers, references)]
    n = len(em)
    return {"exact_match": sum(em) / n if n else float("nan"), "contains_answer": sum(contained) / n if n else
            float("nan"), "n": n}


class SFTTask(Task):
    """``task.type: sft``: validation loss keeps the weights; the base model (adapter off) is the baseline."""

    type = "sft"
    run_files = ("samples.jsonl",)
    log_every = 5

    def max_seq_length(self) -> int:
        return self.config.data.max_length

    def column_mapping(self) -> dc.ColumnMapping:
        """The free-text mapping the source is read with."""
        return chat_mapping(self.config)

    def prepare(self, model: LazyModel) -> Prepared:
        """Reads rows into conversations, tokenises them with the chat template (so the base model is loaded
        here), drops those over ``data.max_length`` tokens and splits the rest by prompt."""
        from ..models.chat_template import encode_chat, end_of_turn_ids, ensure_chat_template

        cfg = self.config
        dataset, lineage = read_chat_source(cfg)
        log.info("read %d rows from %s", lineage.rows, lineage.location)
        convs = conversations(cfg, dataset)
        kinds = dataset[cfg.columns.kind] if cfg.columns.kind else None
        peft_model, tokenizer = model.get()
        base = model.base
        self.template_from = ensure_chat_template(tokenizer, cfg.task.chat_template,
                                                  base.source if base.source_kind != "hf-dir" else None)
        encoded = [encode_chat(tokenizer, c) for c in convs]
        fits = [i for i, (ids, _, _) in enumerate(encoded) if len(ids) <= cfg.data.max_length]
        if not fits:
            raise FormatError(f"all {len(encoded)} rows are longer than data.max_length={cfg.data.max_length} tokens")
        keys = [normalize_answer(" ".join(m["content"] for m in convs[i] if m["role"] == "user")) for i in fits]
        local, split_report = split_conversations(keys, [kinds[i] for i in fits] if kinds else None,
                                                  cfg.data.duplicates, cfg.data.val_fraction, cfg.data.test_fraction,
                                                  cfg.data.seed)
        split = {name: [fits[j] for j in ix] for name, ix in local.items()}
        part = {name: [encoded[i][:2] for i in ix] for name, ix in split.items()}
        ecfg = cfg.eval
        em_rows = [i for i in split["test"] if not kinds or kinds[i] == ecfg.exact_match_kind][: ecfg.max_exact_match]
        fingerprint = dc.fingerprint_rows((tuple(m["content"] for m in convs[i]) for n in ("train", "validation", "test")
                                           for i in split[n]))
        report = {"rows_read": lineage.rows, "too_long_dropped": len(encoded) - len(fits),
                  "max_length": cfg.data.max_length, "split": split_report, "exact_match_rows": len(em_rows),
                  "rows_used_fingerprint": fingerprint}
        self.em_rows, self.em_prompts = em_rows, [encoded[i][0][: encoded[i][2]] for i in em_rows]
        self.em_refs, self.convs, self.kinds, self.dataset = [convs[i][-1]["content"] for i in em_rows], convs, kinds, dataset
        self.stop = end_of_turn_ids(tokenizer)
        return Prepared(lineage, fingerprint, report, part)

    def objective(self, data, model, tokenizer, autocast, device: str):
        from ..models.chat_template import pack_batch, pad_batch
        from .chat_loss import check_packing, evaluate_loss, response_nll

        self.model, self.tokenizer, self.autocast = model, tokenizer, autocast
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.packing_check: dict[str, float] = {}
        model.to(device)
        train, validation, packing = data.part["train"], data.part["validation"], self.config.train.packing
        eval_bs = self.config.eval.batch_size

        def batch_loss(idx: list[int]) -> BatchLoss:
            chosen = [train[i] for i in idx]
            if packing and not self.packing_check:
                self.packing_check = check_packing(model, chosen, self.pad_id, autocast)
                log.info("packing check: %.5f packed vs %.5f padded nats per token",
                         self.packing_check["packed"], self.packing_check["padded"])
            batch = pack_batch(chosen) if packing else pad_batch(chosen, self.pad_id)
            nll, n = response_nll(model, {k: v.to(device) for k, v in batch.items()}, autocast)
            return nll / max(1, n), sum(len(ids) for ids, _ in chosen), n

        def validate() -> float:
            return evaluate_loss(model, validation, self.pad_id, eval_bs, autocast)["loss"]

        def token_counts() -> dict[str, list[int]]:
            return {name: [len(ids) for ids, _ in rows] for name, rows in data.part.items()}

        def eval_forward() -> None:
            response_nll(model, {k: v.to(device) for k, v in pad_batch((validation or train)[:64], self.pad_id).items()},
                         autocast)

        return Objective(model, len(train), batch_loss, validate if validation else None, "loss", False, token_counts,
                         eval_forward, reduction="tokens", val_rows=len(validation))

    def _scores(self, data, label: str) -> tuple[dict, list[str]]:
        from ..models.generation import generate
        from .chat_loss import evaluate_loss

        ecfg, start = self.config.eval, time.perf_counter()
        scores = {name: evaluate_loss(self.model, data.part[name], self.pad_id, ecfg.batch_size, self.autocast)
                  for name in ("test", "validation")}
        answers = generate(self.model, self.tokenizer, self.em_prompts, self.stop, ecfg.max_new_tokens, ecfg.batch_size)
        scores["exact_match"] = _exact_match(answers, self.em_refs)
        scores["eval_seconds"] = time.perf_counter() - start
        log.info("%s: test perplexity %.2f, exact match %.3f (n=%d)", label, scores["test"]["perplexity"],
                 scores["exact_match"]["exact_match"], scores["exact_match"]["n"])
        return scores, answers

    def baselines(self, data) -> dict:
        """The honest baseline: the same base model with the adapter disabled, on the same prompts."""
        with self.model.disable_adapter():
            self.base_scores, self.base_answers = self._scores(data, "base model")
        return {"base": self.base_scores}

    def evaluate(self, data, progress: bool) -> dict:
        tuned, tuned_answers = self._scores(data, "fine-tuned")
        ids = self.dataset["id"] if "id" in self.dataset.column_names else None
        self.samples = [{"id": ids[i] if ids is not None else str(i), "kind": self.kinds[i] if self.kinds else None,
                         "prompt": self.convs[i][-2]["content"] if len(self.convs[i]) > 1 else "",
                         "reference": ref, "base": b, "tuned": t}
                        for i, ref, b, t in zip(self.em_rows, self.em_refs, self.base_answers, tuned_answers)]
        return {"base": self.base_scores, "tuned": tuned}

    def write(self, stage: Path, record) -> None:
        from ..evaluation.metrics import plot_loss
        from .sft_card import sft_model_card

        cfg, samples = self.config, self.samples
        write_json(stage / "task.json", {
            "type": "sft", "system_prompt": cfg.task.system_prompt, "max_new_tokens": cfg.eval.max_new_tokens,
            "base_model": record.base_model_entry(), "stop_token_ids": self.stop,
            "examples": [{"prompt": s["prompt"], "reference": s["reference"]} for s in samples[:8]]})
        with open(stage / "samples.jsonl", "w") as handle:
            for s in samples:
                handle.write(json.dumps(s, ensure_ascii=False) + "\n")
        plot_loss(record.result.loss_history, record.result.val_history, stage / "training.png",
                  val_name="validation loss")
        training = record.training(chat_template_from=self.template_from, best_val_loss=record.result.best_val_score,
                                   packing=cfg.train.packing, packing_check=self.packing_check)
        seconds = record.wall_seconds()
        write_json(stage / "metrics.json", {**record.metrics, "training": training, "data": record.data.report,
                                            "wall_seconds": seconds,
                                            "cpu_seconds": time.process_time() - record.cpu_start})
        (stage / "README.md").write_text(sft_model_card({
            "name": cfg.name, "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "base_model": record.base.to_dict(),
            "lineage": record.data.lineage.to_dict(), "config": record.saved_config, "metrics": record.metrics,
            "training": training, "data_report": record.data.report, "samples": samples[: cfg.eval.samples],
            "versions": record.versions, "seconds": seconds}))

    @staticmethod
    def summary(result) -> str:
        b, t = result.metrics["base"], result.metrics["tuned"]
        return (f"test perplexity {t['test']['perplexity']:.2f} (base {b['test']['perplexity']:.2f})  "
                f"exact match {t['exact_match']['exact_match']:.3f} (base {b['exact_match']['exact_match']:.3f}, "
                f"n={t['exact_match']['n']})")

    @staticmethod
    def serve(run_dir: str | Path, host: str, port: int, block: bool = True, **options):
        from ..serving.chat_app import serve_chat

        if options.get("compare"):
            raise ValueError("--compare is for sequence runs; a chat SFT run is served on its own.")
        return serve_chat(run_dir, host, port, block, auth_file=options.get("auth_file"),
                          limits=options.get("limits"))

    @staticmethod
    def export_refusal(task: dict) -> str | None:
        return ("it is a chat SFT run; its adapter/ and tokenizer/ load with PEFT as they are "
                "(`PeftModel.from_pretrained(base, RUN_DIR/adapter)`), and `workbench chat`/`serve` use it directly.")
