"""The model card (``README.md``) of a run: the sections every task shares, and the sequence tasks' frame.

A task supplies what differs (what the adapter does, its results section); the chat SFT task renders its own
body around the same shared sections (:mod:`workbench.tasks.sft_card`).
"""

from __future__ import annotations

from typing import Any

from .split_card import leakage_lines, split_lines


def fmt(value: Any, digits: int = 4) -> str:
    """A float with ``digits`` decimals; anything else as ``str``."""
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def base_model_section(base: dict[str, Any], *extra_lines: str) -> str:
    """The ``## Base model`` section: name, kind, sha256, source, the pretraining lineage of a base model that is a
    pretraining run, then ``extra_lines`` (each a Markdown bullet)."""
    lines = [f"- {base['name']} ({base['source_kind']}), sha256 `{base['sha256']}`", f"- source: `{base['source']}`"
             + (f"; {extra_lines[0]}" if extra_lines else ""), *pretraining_lines(base.get("pretraining")),
             *extra_lines[1:]]
    return "## Base model\n" + "\n".join(lines) + "\n"


def pretraining_lines(pre: dict[str, Any] | None) -> list[str]:
    """The base model's pretraining lineage as card bullets (empty for a base model that is not a pretraining run)."""
    if not pre:
        return []
    ref = f" (registry `{pre['reference']}`)" if pre.get("reference") else ""
    bits = pre.get("bits_per_base")
    return [f"- pretrained by the run `{pre['run']}`{ref} on {pre.get('base_model')}: corpus `{pre['corpus']}`, "
            f"corpus fingerprint `{pre['corpus_fingerprint']}`",
            f"- pretraining: {pre.get('tokens_seen') or 0:,} tokens seen; test bits per base "
            f"{fmt(bits) if bits is not None else '–'} (Markov chain {fmt(pre.get('markov_bits_per_base'))}, "
            "uniform 2.0)"]


def label_lines(dr: dict[str, Any]) -> str:
    """The data section's lines on a label subset (``train.label_fraction``) and the task-adaptive pretraining
    phase (``train.pretrain_steps``): rows used each way; empty when neither is on."""
    lines = []
    used = dr.get("labels_used")
    if used:
        lines.append(f"- labels used: {used['labelled_rows']} of the {used['of']} training rows ({used['fraction']:g}, "
                     f"stratified, seed {used['seed']}); the baselines fit the same rows")
    pre = dr.get("pretrain_phase")
    if pre:
        lines.append(f"- task-adaptive pretraining: {pre.get('steps', 0)} causal-LM steps on {pre.get('training_rows', 0)} "
                     f"training rows + {pre['unlabelled_used']} unlabelled rows ({pre['source_unlabelled']['rows']} "
                     f"without a label in the source, {pre['set_aside_labels']} training rows whose label was set "
                     f"aside; {pre['held_out_dropped']} dropped as validation/test sequences); validation and test "
                     "rows never used")
    return "".join(line + "\n" for line in lines)


def software_section(versions: dict[str, str]) -> str:
    """The ``## Software`` section: every recorded package version on one line."""
    return "## Software\n" + ", ".join(f"{k} {v}" for k, v in versions.items()) + "\n"


def model_card(info: dict[str, Any]) -> str:
    """Renders a sequence run's model card (``README.md``) as Markdown; the task supplies its own parts.

    Args:
        info: Keys ``name``, ``date``, ``task_type`` (``classification`` if absent), ``base_model`` (dict),
            ``lineage`` (dict), ``data_report``, ``config`` (dict), ``training`` (dict), ``versions``
            (name -> version), ``citation`` (str or None), and from the task: ``what`` (what the adapter does),
            ``split_how`` (how the split was stratified), ``head`` (the prompt's head/label words) and
            ``results`` (the Markdown of the test-split results section).

    Returns:
        Markdown text.
    """
    base, lin, cfg, tr = info["base_model"], info["lineage"], info["config"], info["training"]
    lora, train = cfg["lora"], cfg["train"]
    dr = info["data_report"]
    what, split_how, head, results = info["what"], info["split_how"], info["head"], info["results"]
    stop = (f"; stopped early (patience {train['early_stopping_patience']} evaluations)" if tr.get("stopped_early")
            else "")
    resumed = f"; resumed from the checkpoint at step {tr['resumed_from_step']}" if tr.get("resumed_from_step") else ""
    stop += time_cap_note(tr, train)
    best = kept_weights_note(tr, train)
    return learning_warning(tr) + f"""# {info['name']}

A LoRA adapter for {what}, trained with the private
fine-tuning workbench on {info['date']}.

{base_model_section(base)}
## Data
- connector: `{lin['kind']}` at `{lin['location']}`
- query: `{lin['query'] or '–'}`
- rows read: {lin['rows']} (columns {lin['columns']}); fingerprint sha256 `{lin['fingerprint']}`
- IUPAC ambiguity policy `{dr['ambiguity']['policy']}`: {dr['ambiguity']['rows_with_ambiguous']} rows had codes
  {dr['ambiguity']['codes']}, {dr['ambiguity']['rows_dropped']} dropped
- duplicates policy `{dr['split']['policy']}`: {dr['split']['duplicate_rows_dropped']} repeated rows and
  {dr['split']['conflicting_sequences_dropped']} conflicting sequences dropped; sequences in more than one split:
  {dr['split']['cross_split_duplicates']}
{split_lines(dr, cfg['data'], split_how)}; fingerprint of rows used `{dr['rows_used_fingerprint']}`{leakage_lines(dr)}
{label_lines(dr)}{('- ' + info['citation']) if info.get('citation') else ''}

## Training
- backend: {tr['backend']} ({tr['backend_reason']}); precision {tr['precision']}; {tr['threads']} CPU threads / device {tr['device']}{processes_note(tr)}
- LoRA r={lora['r']}, lora_alpha={lora['lora_alpha']}, dropout {lora['lora_dropout']}, modules {lora['target_modules']},
  layers >= {lora['first_layer']}; trainable parameters {tr['trainable_parameters']:,}
- {train['epochs']} epochs, lr {train['learning_rate']}, batch {train['batch_size']}, warm-up {train['warmup_ratio']},
  seed {train['seed']}; {tr['steps']} of {tr['planned_steps']} planned steps in {tr['seconds']:.0f} s{stop}{resumed};
  {best}
- prompt: spaced={cfg['task']['spaced']}, kmer={cfg['task'].get('kmer', 1)}, template `{cfg['task']['prompt']!r}`, {head}

{results}
{software_section(info["versions"])}"""


def kept_weights_note(tr: dict[str, Any], train: dict[str, Any]) -> str:
    """The card's sentence on which weights a run kept: the best evaluation and, with checkpoint averaging, whether
    the average replaced it and against which bar (``train.average_keep``; runs recorded before it used 'best').

    Args:
        tr: The run's ``metrics.json`` ``training`` record (``val_metric``, ``best_step``, ``best_val_score``,
            ``val_history`` as ``[[step, score], ...]``, and ``averaged_steps``/``averaged``/``averaged_val_score``
            when the average was scored).
        train: The run's resolved ``train`` config group (a dict).

    Returns:
        E.g. ``"best validation accuracy 0.9799 at step 1179; kept: the average of the evaluations at steps
        [1179, 1834, 1965], validation accuracy 0.9732 (at least their mean score)"``.
    """
    single = next((v for step, v in tr.get("val_history") or [] if step == tr["best_step"]), tr["best_val_score"])
    best = f"best validation {tr['val_metric']} {single:.4f} at step {tr['best_step']}"
    if tr.get("average_skipped"):
        best += (" (weights kept from that step: no other evaluation scored within two standard errors of it, so "
                 "checkpoint averaging was skipped)")
    elif not tr.get("averaged_steps"):
        best += " (weights kept from that step)"
    else:
        bar = "their mean score" if train.get("average_keep", "best") == "members" else "the best single score"
        best += (f"; kept: the average of the evaluations at steps {tr['averaged_steps']}, validation "
                 f"{tr['val_metric']} {tr['best_val_score']:.4f} (at least {bar})" if tr.get("averaged") else
                 f" (weights kept from that step: the average of the evaluations at steps {tr['averaged_steps']} "
                 f"scored {tr['averaged_val_score']:.4f}, below {bar})")
    return best


def time_cap_note(tr: dict[str, Any], train: dict[str, Any]) -> str:
    """``"; stopped by the time cap (14 min) at step 1031 of 1800"`` where the opt-in ``train.max_minutes`` cut the
    run (runs recorded before the mark existed: where their budget cut the plan), else empty."""
    if tr.get("time_capped") or (tr.get("budget_steps") is not None and "time_capped" not in tr
                                 and not tr.get("stopped_early")):
        return (f"; stopped by the time cap ({train.get('max_minutes', 0):g} min) at step {tr['steps']} of "
                f"{tr['planned_steps']}")
    return ""


def learning_warning(tr: dict[str, Any]) -> str:
    """The model card's first line for a run that learnt nothing (``training.learning_check``), else empty."""
    check = tr.get("learning_check") or {}
    if check.get("learnt", True):
        return ""
    return (f"> **Warning: this model learnt nothing.** {'; '.join(check['reasons'])}. {check.get('advice', '')}"
            "\n\n")


def processes_note(runtime: dict) -> str:
    """`` × N processes (data-parallel)`` for a multi-process run, empty otherwise."""
    n = runtime.get("world_size", 1)
    return f" × {n} processes (data-parallel)" if n > 1 else ""
