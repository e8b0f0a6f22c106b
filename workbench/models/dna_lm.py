"""Causal language modelling of DNA on a (LoRA-adapted) decoder: one token per base, the loss over the DNA tokens'
LM-head rows, bits per base, and the optional trainable DNA token rows.

A window ``ACGT...`` becomes the prompt ``"DNA: A C G T ..."`` (spaced, one token per base, as the sequence tasks'
prompts are); the hidden state before base ``t`` predicts it. The *restricted* head reads only the LM head's rows of
the tokens `` A``, `` C``, `` G``, `` T`` (the rows the classifier's restricted head also uses): ``(batch, window,
4)`` logits, whose softmax gives ``p(base | prompt, bases before)``. Bits per base are ``-log2`` of that
probability, averaged over A/C/G/T targets (``N`` is read but never scored), whichever loss trains the model.

Two loss choices (``task.loss``): ``dna`` (cross-entropy over the 4 rows: 4 x hidden multiply-adds per base) or
``full`` (over the whole vocabulary: SmolLM2's 49,152 rows per base cost more than its 4 kept decoder layers).

Trainable DNA rows (``task.train_dna_rows``; Unsloth's continued-pretraining recipe trains ``embed_tokens`` and
``lm_head`` at a smaller learning rate): a delta on the input-embedding and LM-head rows of the A/C/G/T/N tokens
(one shared delta where the model ties them, as SmolLM2 does), parameterised as ``ratio * raw`` so that AdamW, whose
step size does not depend on the gradient's scale, moves the delta at ``ratio`` times the adapter's learning rate.
"""

from __future__ import annotations

import math

import numpy as np
import torch

DNA_BASES = "ACGTN"
DNA_ROWS_FILE = "dna_rows.safetensors"


class TokenizerMismatch(ValueError):
    """The tokenizer does not give one token per base in the pretraining prompt."""


def dna_token_ids(tokenizer, template: str) -> tuple[list[int], list[int]]:
    """``(prefix ids, [id of " A", " C", " G", " T", " N"])`` of a template ending in ``{sequence}``.

    Raises:
        TokenizerMismatch: The template does not end with ``{sequence}``, or the tokenizer does not split a spaced
            window into the prefix followed by one token per base.
    """
    from ..data.sequences import format_prompt
    from .heads import label_token_ids

    if not template.endswith("{sequence}"):
        raise TokenizerMismatch(f"task.prompt {template!r} must end with {{sequence}} for pretraining.")
    prefix = tokenizer(template[: -len("{sequence}")].rstrip(" "), add_special_tokens=False).input_ids
    ids = label_token_ids(tokenizer, list(DNA_BASES))
    probe = "ACGTNTGCA"
    got = tokenizer(format_prompt(probe, template), add_special_tokens=False).input_ids
    want = prefix + [ids[DNA_BASES.index(c)] for c in probe]
    if got != want:
        raise TokenizerMismatch(f"the tokenizer splits {format_prompt(probe, template)!r} into {got}, not the prefix "
                                f"{prefix} followed by one token per base {want[len(prefix):]}: this base model cannot "
                                "be pretrained one token per base. Use a tokenizer with single-letter tokens.")
    return prefix, ids


class DnaLM(torch.nn.Module):
    """Next-base prediction on a causal LM (see the module docstring).

    Args:
        model: A causal LM, optionally PEFT-wrapped.
        tokenizer: Its tokenizer.
        template: Prompt template ending in ``{sequence}``.
        autocast_dtype: ``torch.bfloat16`` for mixed precision, ``None`` for float32.
        loss: ``dna`` (restricted head) or ``full`` (whole vocabulary).
        train_rows: Add the trainable A/C/G/T/N row delta.
        rows_ratio: The delta's learning rate as a fraction of the adapter's.
    """

    def __init__(self, model, tokenizer, template: str = "DNA: {sequence}", autocast_dtype=None, loss: str = "dna",
                 train_rows: bool = False, rows_ratio: float = 0.1):
        super().__init__()
        if loss not in ("dna", "full"):
            raise ValueError(f"task.loss must be dna or full, got {loss!r}.")
        self.model, self.autocast_dtype, self.loss_kind, self.rows_ratio = model, autocast_dtype, loss, rows_ratio
        self.prefix, ids = dna_token_ids(tokenizer, template)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        self.decoder, self.head = base.get_decoder(), base.get_output_embeddings()
        self.register_buffer("dna_ids", torch.tensor(ids, dtype=torch.long), persistent=False)
        lookup = torch.full((base.get_input_embeddings().num_embeddings,), -1, dtype=torch.long)
        lookup[self.dna_ids] = torch.arange(len(ids))
        self.register_buffer("lookup", lookup, persistent=False)
        self.code = {c: i for i, c in enumerate(DNA_BASES)}
        self.rows = None
        if train_rows:
            self.rows = torch.nn.Parameter(torch.zeros(len(ids), base.config.hidden_size))
            self._hook = base.get_input_embeddings().register_forward_hook(self._embed_hook)

    def _delta(self) -> torch.Tensor:
        return self.rows * self.rows_ratio

    def _embed_hook(self, module, args, output):
        idx = self.lookup[args[0]]  # (batch, seq_len): row of a DNA token, -1 elsewhere
        add = self._delta()[idx.clamp(min=0)] * (idx >= 0).unsqueeze(-1)
        return output + add.to(output.dtype)

    def encode(self, windows: list[str]) -> dict[str, torch.Tensor]:
        """Prompt ids of windows, right-padded: ``input_ids``/``attention_mask`` ``(batch, prefix + width)`` and
        ``targets`` ``(batch, width)`` (0-3 for A/C/G/T, -100 for N and padding)."""
        width, p = max(len(w) for w in windows), len(self.prefix)
        ids = torch.full((len(windows), p + width), self.pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        targets = torch.full((len(windows), width), -100, dtype=torch.long)
        table = self.dna_ids.tolist()
        for i, w in enumerate(windows):
            codes = [self.code.get(c, 4) for c in w]
            ids[i, :p] = torch.tensor(self.prefix)
            ids[i, p:p + len(w)] = torch.tensor([table[c] for c in codes])
            mask[i, :p + len(w)] = 1
            targets[i, :len(w)] = torch.tensor([c if c < 4 else -100 for c in codes])
        return {"input_ids": ids, "attention_mask": mask, "targets": targets}

    def hidden(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Hidden states that predict each base: ``(batch, width, hidden)`` (position ``prefix - 1 + t`` -> base t)."""
        device_type = input_ids.device.type
        with torch.autocast(device_type, dtype=self.autocast_dtype or torch.float32,
                            enabled=self.autocast_dtype is not None):
            states = self.decoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        width = input_ids.shape[1] - len(self.prefix)
        return states[:, len(self.prefix) - 1:len(self.prefix) - 1 + width].float()

    def base_logits(self, h: torch.Tensor) -> torch.Tensor:
        """Restricted-head logits over A/C/G/T, ``(batch, width, 4)``, from :meth:`hidden`."""
        w = self.head.weight[self.dna_ids[:4]].float()
        if self.rows is not None:
            w = w + self._delta()[:4]
        logits = h @ w.T
        if getattr(self.head, "bias", None) is not None:
            logits = logits + self.head.bias[self.dna_ids[:4]].float()
        return logits

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, targets: torch.Tensor):
        """Mean cross-entropy (nats) over the scored bases and their count."""
        h = self.hidden(input_ids, attention_mask)
        scored = targets >= 0
        if self.loss_kind == "dna":
            logits = self.base_logits(h)
            loss = torch.nn.functional.cross_entropy(logits[scored], targets[scored])
        else:
            logits = self.head(h[scored].to(self.head.weight.dtype)).float()
            if self.rows is not None:
                logits[:, self.dna_ids[:4]] += h[scored] @ self._delta()[:4].T
            loss = torch.nn.functional.cross_entropy(logits, self.dna_ids[targets[scored]])
        return loss, int(scored.sum())

    @torch.no_grad()
    def base_bits(self, windows: list[str], batch_size: int = 64) -> np.ndarray:
        """Bits the model spends on each base, ``(len(windows), width)``; NaN where the base is N or padding."""
        was = self.training
        self.eval()
        device = self.dna_ids.device
        width = max(len(w) for w in windows)
        out = np.full((len(windows), width), np.nan)
        for start in range(0, len(windows), batch_size):
            batch = self.encode(windows[start:start + batch_size])
            h = self.hidden(batch["input_ids"].to(device), batch["attention_mask"].to(device))
            logp = torch.log_softmax(self.base_logits(h), dim=-1)  # (batch, width, 4)
            t = batch["targets"].to(device)
            bits = -logp.gather(-1, t.clamp(min=0).unsqueeze(-1)).squeeze(-1) / math.log(2)
            bits = torch.where(t >= 0, bits, torch.nan).cpu().numpy()
            out[start:start + len(bits), :bits.shape[1]] = bits
        self.train(was)
        return out

    def save_rows(self, path) -> None:
        """Writes the DNA-row delta (``ratio * raw``, ``(5, hidden)``) and its token ids (only with ``train_rows``)."""
        from safetensors.torch import save_file

        save_file({"delta": self._delta().detach().cpu().contiguous(), "token_ids": self.dna_ids.cpu()}, str(path))


def add_rows(model, path) -> None:
    """Adds a saved DNA-row delta into a causal LM's input embeddings (and its LM head, where not tied), in place:
    what merging a pretraining run's trainable rows into its weights means."""
    from safetensors.torch import load_file

    saved = load_file(str(path))
    emb, head = model.get_input_embeddings(), model.get_output_embeddings()
    with torch.no_grad():
        emb.weight[saved["token_ids"]] += saved["delta"].to(emb.weight.dtype)
        if head.weight.data_ptr() != emb.weight.data_ptr():
            head.weight[saved["token_ids"][:4]] += saved["delta"][:4].to(head.weight.dtype)


def bits_per_base(bits: np.ndarray) -> tuple[float, int]:
    """``(mean bits per scored base, scored bases)`` of a :meth:`DnaLM.base_bits` array."""
    scored = ~np.isnan(bits)
    n = int(scored.sum())
    return (float(bits[scored].mean()) if n else math.nan), n
