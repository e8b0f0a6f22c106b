"""Sequence regression: a linear head on the last prompt token's (or the mean) hidden state.

The LoRA-adapted decoder reads the prompt; its final hidden state at the last prompt token
goes through a small linear head (``hidden -> 1``, trained alongside the adapter) that predicts
the *standardised* target ``(y - mean) / std``, with mean and std from the training split.
Predictions are mapped back with :meth:`TargetScaler.invert`. The head is saved beside the
adapter as ``regression_head.safetensors``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from .heads import encode_prompts, pool_hidden

HEAD_FILE = "regression_head.safetensors"


@dataclass
class TargetScaler:
    """Standardises targets with the training split's mean and standard deviation.

    Attributes:
        mean: Training-split mean of the target, in target units.
        std: Training-split standard deviation (population), in target units; 1.0 if the target is constant.
    """

    mean: float
    std: float

    @classmethod
    def fit(cls, values: list[float]) -> "TargetScaler":
        """Fits mean and std on training targets, shape ``(n_train,)``."""
        v = torch.tensor(values, dtype=torch.float64)
        std = float(v.std(unbiased=False)) if len(values) > 1 else 0.0
        return cls(float(v.mean()), std if std > 0 else 1.0)

    def transform(self, values: list[float]) -> torch.Tensor:
        """Standardised float32 tensor, shape ``(rows,)``."""
        return ((torch.tensor(values, dtype=torch.float64) - self.mean) / self.std).float()

    def invert(self, z: torch.Tensor) -> torch.Tensor:
        """Maps standardised predictions, shape ``(rows,)``, back to target units (float64)."""
        return z.double() * self.std + self.mean

    def to_dict(self) -> dict:
        """``{"mean": ..., "std": ...}``."""
        return asdict(self)


class RegressionScorer(torch.nn.Module):
    """A (PEFT-wrapped) causal LM's decoder plus a linear regression head.

    Args:
        model: A causal LM, optionally wrapped by PEFT.
        autocast_dtype: ``torch.bfloat16`` for mixed precision in the decoder, ``None`` for float32.
        pooling: ``last`` or ``mean`` (see :func:`workbench.models.heads.pool_hidden`).

    The head starts at zero, so the first prediction is the training mean (no seed needed).
    """

    def __init__(self, model, autocast_dtype: torch.dtype | None = None, pooling: str = "last"):
        super().__init__()
        self.model = model
        self.autocast_dtype = autocast_dtype
        self.pooling = pooling
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        self.decoder = base.get_decoder()
        self.head = torch.nn.Linear(base.config.hidden_size, 1)
        torch.nn.init.zeros_(self.head.weight)
        torch.nn.init.zeros_(self.head.bias)

    @property
    def device(self) -> torch.device:
        """Where the head's weights live."""
        return self.head.weight.device

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Predicts standardised targets.

        Args:
            input_ids: Right-padded prompt token ids, shape ``(batch, seq_len)``.
            attention_mask: 1 for real tokens, 0 for padding, shape ``(batch, seq_len)``.

        Returns:
            Float32 predictions in standardised units, shape ``(batch,)``.
        """
        with torch.autocast(input_ids.device.type, dtype=self.autocast_dtype or torch.float32,
                            enabled=self.autocast_dtype is not None):
            hidden = self.decoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.head(pool_hidden(hidden, attention_mask, self.pooling)).squeeze(-1)

    def save_head(self, path: Path, scaler: TargetScaler) -> None:
        """Writes the head weights (and the scaler as metadata) to a safetensors file."""
        from safetensors.torch import save_file

        tensors = {k: v.detach().cpu().contiguous() for k, v in self.head.state_dict().items()}
        save_file(tensors, str(path), metadata={"mean": repr(scaler.mean), "std": repr(scaler.std)})

    def load_head(self, path: Path) -> None:
        """Loads head weights written by :meth:`save_head`.

        Raises:
            ValueError: If the file's shapes do not fit this model's hidden size.
        """
        from safetensors.torch import load_file

        state = load_file(str(path))
        if state["weight"].shape != self.head.weight.shape:
            raise ValueError(f"{path} holds a head of shape {tuple(state['weight'].shape)}, but the base model needs "
                             f"{tuple(self.head.weight.shape)}; the run directory does not match its base model.")
        self.head.load_state_dict(state)


@torch.no_grad()
def predict_standardised(scorer: RegressionScorer, tokenizer, prompts: list[str],
                         batch_size: int = 64) -> torch.Tensor:
    """Standardised predictions for prompts, float32 on CPU, shape ``(len(prompts),)``."""
    was_training = scorer.training
    scorer.eval()
    out = []
    for start in range(0, len(prompts), batch_size):
        batch = {k: v.to(scorer.device) for k, v in encode_prompts(tokenizer, prompts[start:start + batch_size]).items()}
        out.append(scorer(**batch).float().cpu())
    scorer.train(was_training)
    return torch.cat(out) if out else torch.empty(0)
