"""Sequence heads on a causal LM: pooling, the restricted LM head and the linear classification head.

Classification with a causal LM: the prompt ends where the label word would start; the model's next-token
logits are read only for the first token of each label word (the *restricted LM head*), giving
``(batch, n_labels)`` logits whose softmax is the class probability. Training minimises cross-entropy on those
logits, i.e. the loss is on the label token only. The other measured routes (``task.classifier: linear``, the
sequence-classification head; ``task.pooling: mean``) are in :class:`LabelScorer`.
"""

from __future__ import annotations

import torch


def label_token_ids(tokenizer, words: list[str]) -> list[int]:
    """Returns the first token id of ``" " + word`` for each label word.

    Raises:
        ValueError: If two words share their first token (choose other ``task.label_words``).
    """
    ids = [tokenizer(" " + w, add_special_tokens=False).input_ids[0] for w in words]
    if len(set(ids)) != len(ids):
        raise ValueError(
            f"label words {words} do not start with distinct tokens ({tokenizer.convert_ids_to_tokens(ids)}); "
            "set task.label_words to words whose first tokens differ."
        )
    return ids


POOLINGS = ("last", "mean")
CLASSIFIERS = ("lm_head", "linear")
CLASSIFIER_HEAD_FILE = "classifier_head.safetensors"


def pool_hidden(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str = "last") -> torch.Tensor:
    """Reduces decoder hidden states to one vector per prompt.

    Args:
        hidden: Final hidden states, shape ``(batch, seq_len, hidden)``.
        attention_mask: 1 for real tokens, 0 for right padding, shape ``(batch, seq_len)``.
        pooling: ``last`` (the prompt's final token, which has attended to the whole prompt) or ``mean``
            (average over the prompt's real tokens).

    Returns:
        Float32 tensor of shape ``(batch, hidden)``.

    Raises:
        ValueError: Unknown ``pooling``.
    """
    if pooling == "last":
        last = attention_mask.sum(dim=1) - 1  # (batch,) index of each prompt's final token
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last].float()
    if pooling == "mean":
        mask = attention_mask.unsqueeze(-1).to(torch.float32)  # (batch, seq_len, 1)
        return (hidden.float() * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
    raise ValueError(f"unknown pooling {pooling!r}; choose one of {', '.join(POOLINGS)}.")


class LabelScorer(torch.nn.Module):
    """Scores class labels from a (PEFT-wrapped) causal LM.

    Two classifier routes read the pooled hidden state ``h`` of shape ``(batch, hidden)``:

    - ``lm_head`` (the *restricted LM head*): the LM head's rows for each label word's first token, so
      the logits equal the next-token logits of those tokens (with ``last`` pooling); nothing new to learn.
    - ``linear``: a new ``hidden -> n_labels`` linear layer without bias, initialised like transformers'
      ``*ForSequenceClassification`` ``score`` layer (normal, std = ``config.initializer_range``) and
      trained with the adapter; saved beside it as :data:`CLASSIFIER_HEAD_FILE`.

    Args:
        model: A causal LM, optionally wrapped by PEFT.
        label_ids: First-token id of each label word, length ``n_labels``.
        autocast_dtype: ``torch.bfloat16`` for mixed precision, ``None`` for float32.
        pooling: ``last`` or ``mean`` (see :func:`pool_hidden`).
        classifier: ``lm_head`` or ``linear``.
    """

    def __init__(self, model, label_ids: list[int], autocast_dtype: torch.dtype | None = None,
                 pooling: str = "last", classifier: str = "lm_head"):
        super().__init__()
        if pooling not in POOLINGS or classifier not in CLASSIFIERS:
            raise ValueError(f"pooling must be one of {POOLINGS} and classifier one of {CLASSIFIERS}; "
                             f"got {pooling!r}, {classifier!r}.")
        self.model = model
        self.register_buffer("label_ids", torch.tensor(label_ids, dtype=torch.long))
        self.autocast_dtype = autocast_dtype
        self.pooling, self.classifier = pooling, classifier
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        self.decoder = base.get_decoder()
        self.head = base.get_output_embeddings()
        self.score = None
        if classifier == "linear":
            self.score = torch.nn.Linear(base.config.hidden_size, len(label_ids), bias=False)
            torch.nn.init.normal_(self.score.weight, std=getattr(base.config, "initializer_range", 0.02))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Returns label logits.

        Args:
            input_ids: Right-padded prompt token ids, shape ``(batch, seq_len)``.
            attention_mask: 1 for real tokens, 0 for padding, shape ``(batch, seq_len)``.

        Returns:
            Float32 logits over the labels, shape ``(batch, n_labels)``.
        """
        device_type = input_ids.device.type
        with torch.autocast(device_type, dtype=self.autocast_dtype or torch.float32,
                            enabled=self.autocast_dtype is not None):
            hidden = self.decoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.head_logits(pool_hidden(hidden, attention_mask, self.pooling))

    def head_logits(self, h: torch.Tensor) -> torch.Tensor:
        """Label logits ``(batch, n_labels)`` from pooled hidden states ``h`` of shape ``(batch, hidden)``."""
        if self.score is not None:
            return self.score(h)
        w = self.head.weight[self.label_ids].float()  # (n_labels, hidden)
        logits = h @ w.T
        if getattr(self.head, "bias", None) is not None:
            logits = logits + self.head.bias[self.label_ids].float()
        return logits

    def save_head(self, path) -> None:
        """Writes the ``linear`` classifier's weight to a safetensors file (only for ``classifier="linear"``)."""
        from safetensors.torch import save_file

        save_file({"weight": self.score.weight.detach().cpu().contiguous()}, str(path))

    def load_head(self, path) -> None:
        """Loads a ``linear`` classifier written by :meth:`save_head`.

        Raises:
            ValueError: If the file's shape does not fit ``(n_labels, hidden)``.
        """
        from safetensors.torch import load_file

        weight = load_file(str(path))["weight"]
        if weight.shape != self.score.weight.shape:
            raise ValueError(f"{path} holds a classifier of shape {tuple(weight.shape)}, but this model and label set "
                             f"need {tuple(self.score.weight.shape)}; the run directory does not match its base model.")
        with torch.no_grad():
            self.score.weight.copy_(weight)


def encode_prompts(tokenizer, prompts: list[str]) -> dict[str, torch.Tensor]:
    """Tokenises prompts without special tokens, right-padded.

    Returns:
        ``{"input_ids": (batch, seq_len), "attention_mask": (batch, seq_len)}`` long tensors.
    """
    ids = [tokenizer(p, add_special_tokens=False).input_ids for p in prompts]
    width = max(len(x) for x in ids)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    input_ids = torch.full((len(ids), width), pad, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for i, x in enumerate(ids):
        input_ids[i, : len(x)] = torch.tensor(x)
        mask[i, : len(x)] = 1
    return {"input_ids": input_ids, "attention_mask": mask}


@torch.no_grad()
def predict_proba(scorer: LabelScorer, tokenizer, prompts: list[str], batch_size: int = 64,
                  progress: bool = False, reverse_prompts: list[str] | None = None) -> torch.Tensor:
    """Class probabilities for prompts.

    Args:
        scorer: The label scorer.
        tokenizer: The base model's tokenizer.
        prompts: Prompts, shape ``(n,)``.
        batch_size: Prompts per forward pass.
        progress: Show a tqdm bar.
        reverse_prompts: The prompts of the same sequences' reverse complements, shape ``(n,)``: the result is
            then the mean of both orientations' probabilities (test-time augmentation, ``task.reverse_complement``).

    Returns:
        Float tensor of shape ``(len(prompts), n_labels)``; rows sum to 1.
    """
    if reverse_prompts is not None:
        if len(reverse_prompts) != len(prompts):
            raise ValueError(f"reverse_prompts has {len(reverse_prompts)} prompts for {len(prompts)} prompts.")
        both = predict_proba(scorer, tokenizer, list(prompts) + list(reverse_prompts), batch_size, progress)
        return (both[:len(prompts)] + both[len(prompts):]) / 2
    from tqdm.auto import tqdm

    was_training = scorer.training
    scorer.eval()
    device = scorer.label_ids.device
    out = []
    for start in tqdm(range(0, len(prompts), batch_size), desc="predict", disable=not progress, unit="batch"):
        batch = {k: v.to(device) for k, v in encode_prompts(tokenizer, prompts[start:start + batch_size]).items()}
        out.append(torch.softmax(scorer(**batch), dim=-1).cpu())
    scorer.train(was_training)
    return torch.cat(out) if out else torch.empty(0, len(scorer.label_ids))
