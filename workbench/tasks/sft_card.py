"""The model card (``README.md``) of a chat SFT run: data, training, base-vs-adapter results, samples.

Run as: written by :class:`workbench.tasks.sft.SFTTask` (``workbench run configs/chat_sft.yaml``).
"""

from __future__ import annotations

from typing import Any

from ..runs.card import base_model_section, learning_warning, processes_note, software_section, time_cap_note
from ..runs.card import fmt as _f


def _cell(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def sft_model_card(info: dict[str, Any]) -> str:
    """Renders the SFT run's model card as Markdown.

    Args:
        info: Keys ``name``, ``date``, ``base_model`` (dict), ``lineage`` (dict), ``config`` (redacted dict),
            ``metrics`` (``{"base": ..., "tuned": ...}`` from :meth:`workbench.tasks.sft.SFTTask.evaluate`),
            ``training``,
            ``data_report``, ``samples`` (list of dicts with prompt/reference/base/tuned), ``versions``,
            ``seconds``.

    Returns:
        Markdown text.
    """
    base, lin, cfg, tr, dr = info["base_model"], info["lineage"], info["config"], info["training"], info["data_report"]
    b, t = info["metrics"]["base"], info["metrics"]["tuned"]
    lora, train, cols = cfg["lora"], cfg["train"], cfg["columns"]
    rows = [(f"{base['name']} (base, no adapter)", b), ("+ LoRA adapter (this run)", t)]
    table = "\n".join(
        f"| {name} | {_f(m['test']['loss'])} | {_f(m['test']['perplexity'], 2)} | {_f(m['validation']['perplexity'], 2)}"
        f" | {_f(m['exact_match']['exact_match'], 3)} | {_f(m['exact_match']['contains_answer'], 3)} |"
        for name, m in rows)
    samples = "\n".join(f"| {_cell(s['prompt'])} | {_cell(s['reference'])} | {_cell(s['base'])} | {_cell(s['tuned'])} |"
                        for s in info["samples"])
    mapping = (f"messages column `{cols['messages']}`" if cols.get("messages")
               else f"prompt `{cols['prompt']}` -> response `{cols['response']}`")
    split = dr["split"]
    system = cfg["task"].get("system_prompt")
    shown = f"`{_cell(system, 300)}`" if system else "the chat template's default"
    system_line = f"- system prompt: {shown}"
    return learning_warning(tr) + f"""# {info['name']}

A LoRA adapter for chat / instruction following, fine-tuned with the private fine-tuning workbench on
{info['date']} (supervised fine-tuning, loss on the assistant's tokens only).

{base_model_section(base, f"chat template from: {tr['chat_template_from']}", system_line)}
## Data
- connector: `{lin['kind']}` at `{lin['location']}`; query/pattern `{lin['query'] or '–'}`
- rows read: {lin['rows']} (columns {lin['columns']}); fingerprint sha256 `{lin['fingerprint']}`
- mapping: {mapping}; kind column: `{cols.get('kind') or '–'}`
- longer than {dr['max_length']} tokens (dropped): {dr['too_long_dropped']}
- duplicate prompts (`{split['policy']}`): {split['duplicate_rows_dropped']} dropped; prompts in more than one split:
  {split['cross_split_duplicates']}
- split sizes {split['sizes']} by kind {split['kind_counts']} (seed {cfg['data']['seed']});
  fingerprint of rows used `{dr['rows_used_fingerprint']}`

## Training
- backend: {tr['backend']} ({tr['backend_reason']}); precision {tr['precision']}; {tr['threads']} CPU threads / device {tr['device']}{processes_note(tr)}
- LoRA r={lora['r']}, lora_alpha={lora['lora_alpha']}, dropout {lora['lora_dropout']}, modules {lora['target_modules']},
  layers >= {lora['first_layer']}; trainable parameters {tr['trainable_parameters']:,}
- {train['epochs']} epochs, lr {train['learning_rate']}, batch {train['batch_size']}, warm-up {train['warmup_ratio']},
  seed {train['seed']}; {tr['steps']} steps in {tr['seconds']:.0f} s{time_cap_note(tr, train)}; {tr['trained_tokens']:,} trained (assistant) tokens
  of {tr['tokens_seen']:,}; best validation loss {_f(tr['best_val_loss'])} at step {tr['best_step']} (weights kept)
- whole run: {info['seconds']:.0f} s

## Held-out results (test split, never used for training or model selection)

Loss and perplexity are per assistant token (n = {t['test']['tokens']} test tokens). Exact match compares the
greedy answer with the reference after normalisation (case, punctuation, articles, spaces) on
{t['exact_match']['n']} test rows of kind `{cfg['eval']['exact_match_kind']}`; "contains" counts answers that
include the normalised reference. The base row is the same model with the adapter disabled, same prompts.

| model | test loss | test perplexity | validation perplexity | exact match | contains |
|---|---|---|---|---|---|
{table}

Test questions are held out, but a test question may paraphrase a fact that training rows state in other
words: the figures measure recall of the corpus's facts under new phrasing, not knowledge outside it.

## Sample generations (test split)

| prompt | reference | base | tuned |
|---|---|---|---|
{samples}

{software_section(info["versions"])}"""

