"""The model card (``README.md``) of a pretraining run: corpus, windows, held-out blocks, bits per base beside the
uniform and Markov baselines, and how to build a predictor on it."""

from __future__ import annotations

from typing import Any

from ..runs.card import base_model_section, kept_weights_note, learning_warning, processes_note, software_section


def pretrain_card(info: dict[str, Any]) -> str:
    """Renders the card.

    Args:
        info: ``name``, ``date``, ``base_model`` (dict), ``lineage`` (dict), ``data_report``, ``config`` (dict),
            ``metrics`` (test bits per base and the Markov comparison), ``baselines``, ``training``, ``versions``.

    Returns:
        Markdown text.
    """
    cfg, tr, m, b, dr = info["config"], info["training"], info["metrics"], info["baselines"], info["data_report"]
    task, data, lora, train = cfg["task"], cfg["data"], cfg["lora"], cfg["train"]
    corpus, counts = dr["corpus"], dr["corpus"]["counts"]
    k = m["markov_k"]
    ci = m["vs_markov"]["ci95"]
    rows = [("this model (after pretraining)", m["bits_per_base"]),
            ("base model before pretraining (adapter off)", b["base_model"]["bits_per_base"]),
            (f"Markov chain, k = {k}, add-one smoothing, fitted on the training windows", m["markov_bits_per_base"]),
            ("uniform", 2.0)]
    table = "\n".join(f"| {name} | {value:.4f} |" for name, value in rows)
    beat = ("beats" if ci[1] < 0 else "is worse than" if ci[0] > 0 else "is not distinguishable from")
    rows_note = (f"; the A/C/G/T/N embedding and LM-head rows trained at {task['dna_rows_lr_ratio']} x the learning "
                 "rate" if task["train_dna_rows"] else "")
    return learning_warning(tr) + f"""# {info['name']}

A DNA language model: {info['base_model']['name']} with a LoRA adapter continued-pretrained on unlabelled DNA with
the private fine-tuning workbench on {info['date']}. Use it as the base model of a predictor:
`model.base_model: <this run directory>` (or `NAME@champion` once registered).

{base_model_section(info['base_model'])}
## Corpus
- sources: `{info['lineage']['location']}`
- corpus fingerprint (sha256 of the kept windows) `{corpus['fingerprint']}`
- {counts['records']} records, {counts['bases']:,} bases; windows of {task['window']} nt, stride {task['stride']} nt
  (held-out windows do not overlap), strands: {task['strands']}
- kept windows: {corpus['windows']}; dropped: {counts['dropped_n']} with more than {task['max_n_fraction']} N,
  {counts['dropped_repeats']} soft-masked (repeats: {task['repeats']}), {counts['dropped_boundary']} crossing a
  held-out block, {counts['short_records_dropped']} records shorter than {task['min_length']} nt
- held out: whole blocks of {data['block']:,} nt ({data['val_fraction']} validation, {data['test_fraction']} test, by a
  seeded hash, seed {data['seed']}); scored windows {dr['scored_windows']}
- training bases per pass {dr['training_bases']:,}; tokens seen in training {tr['tokens_seen']:,}

## Training
- backend: {tr['backend']}; precision {tr['precision']}; {tr['threads']} CPU threads / device {tr['device']}{processes_note(tr)}
- causal LM, prompt `{task['prompt']!r}` (one token per base), loss over {'the A/C/G/T LM-head rows' if task['loss'] == 'dna' else 'the whole vocabulary'}
- LoRA r={lora['r']}, lora_alpha={lora['lora_alpha']}, modules {lora['target_modules']}{rows_note};
  {cfg['model']['num_layers'] or 'all'} decoder layers; trainable parameters {tr['trainable_parameters']:,}
- lr {train['learning_rate']}, batch {train['batch_size']}, seed {train['seed']}; {tr['steps']} of {tr['planned_steps']}
  planned steps in {tr['seconds']:.0f} s; {kept_weights_note(tr, train)}

## Bits per base on the held-out test blocks ({m['bases']:,} bases; never used for selection)

| model | bits per base |
|---|---|
{table}

This model minus the Markov chain: {m['vs_markov']['difference']:+.4f} bits per base, 95 % interval
[{ci[0]:+.4f}, {ci[1]:+.4f}] ({m['vs_markov']['how']}): it {beat} the Markov chain.

![training](training.png)

{software_section(info['versions'])}"""
