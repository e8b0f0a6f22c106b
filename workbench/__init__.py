"""A private fine-tuning workbench: connect to company data, LoRA fine-tune an open base model
offline, evaluate it against honest baselines, and serve it as a Gradio demo.

Importing the package applies the offline defaults (no hub, no telemetry): see :mod:`workbench.offline`; the
OpenMP wait policy that keeps training steady on a shared machine: see :mod:`workbench.threads`; and the filters of
third-party noise the user cannot act on: see :mod:`workbench.noise`. The layout and the pipeline's stages are
described in ``docs/architecture.md``.
"""

from .noise import apply_noise_filters
from .offline import apply_offline_env
from .threads import apply_thread_env

apply_offline_env()
apply_thread_env()  # before anything imports torch
apply_noise_filters()  # before torchao, bitsandbytes or datasets log their start-up lines

__version__ = "0.1.0"

from .config import ConfigError, RunConfig, SFTConfig, load_config, validate_config  # noqa: E402
from .pipeline import RunResult, setup  # noqa: E402

__all__ = ["ConfigError", "RunConfig", "RunResult", "SFTConfig", "__version__", "load_config", "setup",
           "validate_config"]
