"""A fresh LoRA adapter on a base model loaded from a local Hugging Face directory, on either backend.

``model.num_layers`` keeps the first N decoder layers (:func:`truncate_layers`); ``lora.load_in_4bit`` is QLoRA
(CUDA only); ``lora.gradient_checkpointing`` recomputes activations in the backward pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class LoRASpec:
    """The adapter settings :func:`load_lora_model` needs (a subset of ``LoRAConfig``)."""

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
                                                     device_map={"": torch.cuda.current_device()})  # this rank's GPU
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
