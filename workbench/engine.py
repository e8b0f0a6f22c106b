"""The training engine: a LoRA adapter on a causal LM, scored through a restricted LM head.

Classification with a causal LM: the prompt ends where the label word would start; the
model's next-token logits are read only for the first token of each label word (the
*restricted LM head*), giving ``(batch, n_labels)`` logits whose softmax is the class
probability. Training minimises cross-entropy on those logits, i.e. the loss is on the
label token only. The other measured routes (``task.classifier: linear``, the
sequence-classification head; ``task.pooling: mean``) are in :class:`LabelScorer`.

Backends: Unsloth ``FastLanguageModel`` where it imports, transformers + PEFT otherwise,
with the same LoRA config, the same loop and the same saved adapter.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass

import torch

log = logging.getLogger(__name__)
_BACKEND_NOTICE_SHOWN = False


def select_backend(preference: str = "auto") -> tuple[str, str]:
    """Chooses the training backend.

    Args:
        preference: ``"auto"``, ``"unsloth"`` or ``"peft"``.

    Returns:
        ``(backend, reason)`` where backend is ``"unsloth"`` or ``"peft"``.

    Raises:
        RuntimeError: If ``"unsloth"`` is requested but cannot be imported (with the reason).
    """
    global _BACKEND_NOTICE_SHOWN
    if preference == "peft":
        return "peft", "requested in config (train.backend=peft)"
    reason = None
    if importlib.util.find_spec("unsloth") is None:
        reason = "the unsloth package is not installed (GPU: see environment.yml)"
    else:
        try:
            import unsloth  # noqa: F401  (must be imported before transformers' models are patched)
        except Exception as exc:  # Unsloth raises NotImplementedError/ImportError without a supported device
            reason = f"importing unsloth failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    if reason is None:
        return "unsloth", "unsloth imported"
    if preference == "unsloth":
        raise RuntimeError(f"train.backend=unsloth but {reason}. Install Unsloth or set train.backend to auto/peft.")
    if not _BACKEND_NOTICE_SHOWN:
        log.warning("Unsloth unavailable (%s): training with transformers + PEFT, same config and outputs.", reason)
        _BACKEND_NOTICE_SHOWN = True
    return "peft", reason


def resolve_precision(precision: str) -> torch.dtype | None:
    """Maps ``train.precision`` to an autocast dtype (``None`` = float32).

    ``auto`` picks bfloat16 on a CUDA device that supports it, or on a CPU with native
    bf16 instructions (AVX512-BF16 or AMX), else float32.
    """
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if torch.cuda.is_available():
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return None
    return torch.bfloat16 if ("avx512_bf16" in flags or "amx_bf16" in flags) else None


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


@dataclass
class LoRASpec:
    """The adapter settings the engine needs (a subset of ``LoRAConfig``)."""

    r: int
    lora_alpha: int
    lora_dropout: float
    target_modules: list[str]
    first_layer: int = 0
    load_in_4bit: bool = False
    gradient_checkpointing: bool = False


def truncate_layers(model, num_layers: int) -> int:
    """Keeps at most the first ``num_layers`` decoder layers of a causal LM, in place.

    The final norm and the LM head stay; they then read the hidden state after layer ``num_layers - 1``.
    ``config.num_hidden_layers`` (and ``config.layer_types`` where present) follow, so a model saved
    afterwards (e.g. merged weights) loads as the shorter model. Call before attaching LoRA. A model with
    ``num_layers`` or fewer layers is left whole, so one recipe fits base models of any depth.

    Args:
        model: A Hugging Face causal LM (not yet wrapped by PEFT).
        num_layers: Most decoder layers to keep; 0 keeps all.

    Returns:
        The number of decoder layers the model has afterwards.

    Raises:
        ValueError: If ``num_layers`` is negative.
    """
    if num_layers < 0:
        raise ValueError(f"model.num_layers must be >= 0 (0 = all layers), got {num_layers}.")
    decoder = model.get_decoder()
    total = len(decoder.layers)
    if num_layers == 0 or num_layers >= total:
        return total
    decoder.layers = decoder.layers[:num_layers]
    model.config.num_hidden_layers = num_layers
    if getattr(model.config, "layer_types", None):
        model.config.layer_types = list(model.config.layer_types)[:num_layers]
    return num_layers


def load_lora_model(model_dir: str, lora: LoRASpec, backend: str, seed: int, max_seq_length: int = 512,
                    num_layers: int = 0):
    """Loads a base model from a local HF directory and attaches a fresh LoRA adapter.

    Args:
        model_dir: Local Hugging Face-format directory.
        lora: Adapter settings.
        backend: ``"unsloth"`` or ``"peft"``.
        seed: Seed for the adapter's initialisation.
        max_seq_length: Longest prompt in tokens (Unsloth sizes its buffers with it).
        num_layers: Keep at most the first this many decoder layers (0 = all); see :func:`truncate_layers`.

    Returns:
        ``(peft_model, tokenizer)``.

    Raises:
        ValueError: ``lora.load_in_4bit`` without a CUDA GPU, or ``lora.first_layer`` beyond the kept layers.
    """
    if lora.load_in_4bit and not torch.cuda.is_available():
        raise ValueError("lora.load_in_4bit (QLoRA) needs a CUDA GPU for bitsandbytes' 4-bit kernels, and this machine "
                         "has none. Set lora.load_in_4bit: false to train a 16/32-bit LoRA adapter here, or run on a GPU "
                         "machine set up with environment.yml.")
    torch.manual_seed(seed)
    if backend == "unsloth":
        from unsloth import FastLanguageModel

        # On CPU, Unsloth's dtype=None stores the weights in bfloat16 wherever the CPU has AVX512-BF16/AMX;
        # load float32 as the PEFT path does, so that train.precision (autocast) alone sets the compute dtype.
        model, tokenizer = FastLanguageModel.from_pretrained(
            model_name=model_dir, max_seq_length=max_seq_length,
            dtype=None if torch.cuda.is_available() else torch.float32, load_in_4bit=lora.load_in_4bit,
            local_files_only=True)
        n_layers = truncate_layers(model, num_layers)
        if lora.first_layer >= n_layers:
            raise ValueError(f"lora.first_layer={lora.first_layer} but the model has only {n_layers} layers "
                             "(after model.num_layers); lower lora.first_layer.")
        peft_model = FastLanguageModel.get_peft_model(
            model, r=lora.r, lora_alpha=lora.lora_alpha, lora_dropout=lora.lora_dropout,
            target_modules=lora.target_modules, bias="none",
            use_gradient_checkpointing="unsloth" if lora.gradient_checkpointing else False,
            random_state=seed, layers_to_transform=list(range(lora.first_layer, n_layers)) if lora.first_layer else None)
        return peft_model, tokenizer
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if lora.load_in_4bit:
        from peft import prepare_model_for_kbit_training
        from transformers import BitsAndBytesConfig

        quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                   bnb_4bit_compute_dtype=torch.bfloat16)
        model = AutoModelForCausalLM.from_pretrained(model_dir, quantization_config=quant, dtype=torch.bfloat16,
                                                     device_map={"": 0})
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=lora.gradient_checkpointing)
    else:
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
        if lora.gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    n_layers = truncate_layers(model, num_layers)
    if lora.first_layer >= n_layers:
        raise ValueError(f"lora.first_layer={lora.first_layer} but the model has only {n_layers} layers "
                             "(after model.num_layers); lower lora.first_layer.")
    config = LoraConfig(
        r=lora.r, lora_alpha=lora.lora_alpha, lora_dropout=lora.lora_dropout, target_modules=lora.target_modules,
        bias="none", layers_to_transform=list(range(lora.first_layer, n_layers)) if lora.first_layer else None)
    return get_peft_model(model, config), tokenizer


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
        h = pool_hidden(hidden, attention_mask, self.pooling)  # (batch, hidden)
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
                  progress: bool = False) -> torch.Tensor:
    """Class probabilities for prompts.

    Returns:
        Float tensor of shape ``(len(prompts), n_labels)``; rows sum to 1.
    """
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


def set_threads(threads: int) -> int:
    """Sets torch's CPU threads (0 = all cores) and returns the number used."""
    n = threads or os.cpu_count() or 1
    torch.set_num_threads(n)
    return n
