"""Models: the base model, the training backend, the LoRA adapter, the sequence heads, chat templates, generation.

- :mod:`.base_model`: resolve ``model.base_model`` (the embedded SmolLM2 GGUF, a HF directory or a .gguf);
- :mod:`.backends`: Unsloth or transformers + PEFT, precision, threads, seeds;
- :mod:`.lora`: load a base model with a fresh LoRA adapter (QLoRA, kept layers, gradient checkpointing);
- :mod:`.heads`, :mod:`.regression_head`: pooling, the restricted LM head, the linear and regression heads;
- :mod:`.chat_template`, :mod:`.generation`: chat formatting with the loss mask, greedy generation.
"""
