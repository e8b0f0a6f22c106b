"""Third-party noise the user cannot act on, kept out of the terminal; applied when ``workbench`` is imported.

Every entry below names the library, the exact message and why a workbench user can do nothing about it; each is
matched narrowly (warning category + the module the warning is attributed to + the message, or logger name + the
message), so any other warning of the same library, and every message of the workbench's own, still shows.

Set ``WORKBENCH_SHOW_ALL_WARNINGS=1`` to see them all again; a ``-W`` option or ``PYTHONWARNINGS`` (Python's own
warning policy) leaves the warning filters to you.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import warnings
from dataclasses import dataclass

SHOW_ALL_ENV = "WORKBENCH_SHOW_ALL_WARNINGS"


@dataclass(frozen=True)
class Noise:
    """One third-party message that is filtered.

    Attributes:
        where: For ``kind="warning"`` the module the warning is attributed to (a regex matched from the start of
            the module name, as :func:`warnings.filterwarnings` does); for ``kind="log"`` the exact logger name.
        message: Regex matched from the start of the message.
        why: Why the user cannot act on it (shown in ``docs/troubleshooting.md``).
        kind: ``"warning"`` (:mod:`warnings`) or ``"log"`` (:mod:`logging`).
        category: The warning category (``kind="warning"`` only).
    """

    where: str
    message: str
    why: str
    kind: str = "warning"
    category: type[Warning] = FutureWarning


NOISE: tuple[Noise, ...] = (
    Noise("transformers.modeling_utils", r"`is_gradient_checkpointing` is deprecated",
          "transformers >= 5.23 deprecates the property, and PEFT reads it whenever an adapter is attached (training, "
          "predict, serve); the workbench never calls it. PEFT will move to the new name."),
    Noise("torch.utils._pytree", r".* is an Enum subclass and is now natively supported by torch\.compile",
          "torchao (installed with Unsloth's CPU backend) registers two enums the old way when it is imported; "
          "nothing in the workbench calls torch.compile.", kind="log"),
    Noise("bitsandbytes.backends.cpu.ops", r"Failed to load CPU gemm_4bit_forward from kernels-community",
          "bitsandbytes looks for optional 4-bit CPU kernels on CPUs with AVX512-BF16; 4-bit (QLoRA) runs only on "
          "CUDA here, and installing `kernels` would make bitsandbytes fetch code from the Hugging Face Hub.",
          kind="log"),
    Noise("datasets", r"Disabling Tensorflow because USE_TORCH is set",
          "datasets announces that it uses torch, which the workbench always does.", kind="log"),
)


class _DropMessages(logging.Filter):
    """Drops a logger's records whose message matches one of the given patterns."""

    def __init__(self, patterns: list[str]):
        super().__init__()
        self.patterns = [re.compile(p) for p in patterns]

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a malformed third-party record: let logging report it as usual
            return True
        return not any(p.match(text) for p in self.patterns)


def apply_noise_filters() -> list[Noise]:
    """Installs the filters of :data:`NOISE` (idempotent).

    Returns:
        The entries installed: none when ``$WORKBENCH_SHOW_ALL_WARNINGS`` is ``1``; only the logging entries when
        Python was given a warning policy (``-W``, ``PYTHONWARNINGS``).
    """
    if os.environ.get(SHOW_ALL_ENV) == "1":
        return []
    installed = []
    for noise in NOISE:
        if noise.kind == "warning":
            if sys.warnoptions:
                continue
            warnings.filterwarnings("ignore", message=noise.message, category=noise.category,
                                    module=re.escape(noise.where))
        else:
            logger = logging.getLogger(noise.where)
            if not any(isinstance(f, _DropMessages) for f in logger.filters):
                same_logger = [n.message for n in NOISE if n.kind == "log" and n.where == noise.where]
                logger.addFilter(_DropMessages(same_logger))
        installed.append(noise)
    return installed
