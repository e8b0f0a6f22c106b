"""The ``workbench`` Typer application and what every command shares: logging, ``--set`` parsing, the one way to
fail (a red ``error:`` line and exit 2), and ``RUN_DIR`` or ``--model NAME@REF``.

The commands live beside this module, one module per concern (:mod:`.train`, :mod:`.predict`, :mod:`.evaluate`,
:mod:`.serve`, :mod:`.export`, :mod:`.tools`, :mod:`.models`, :mod:`.retune`, :mod:`.docs`); :mod:`workbench.cli`
imports them all so that each registers itself on :data:`app`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import NoReturn, Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Private fine-tuning workbench: LoRA fine-tune an open base model on your own data, offline.")
MODEL_HELP = "A registered version instead of RUN_DIR: NAME@champion, NAME@challenger or NAME@VERSION."


def setup_logging() -> None:
    """INFO-level logging with timestamps; quiets chatty third-party loggers and redacts secrets in every line."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    for noisy in ("httpx", "urllib3", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # torchao (installed with Unsloth's CPU backend, imported by transformers/PEFT) warns on every start that its
    # CUDA kernels do not load; nothing on the CPU path uses them.
    logging.getLogger("torchao").setLevel(logging.ERROR)
    from data_connectors import install_log_redaction

    install_log_redaction()


def parse_set(items: list[str]) -> dict:
    """``--set KEY=VALUE`` items -> an overrides dict (a bad item is a usage error naming it)."""
    from ..config import parse_overrides

    try:
        return parse_overrides(items)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def fail(exc: Exception) -> NoReturn:
    """Prints ``error: <exc>`` in red on stderr and exits with status 2."""
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


def run_dir_or_model(run_dir: Optional[Path], model: Optional[str]) -> Path:
    """RUN_DIR, or the local run directory of the registered version ``--model NAME@REF`` (exactly one of them)."""
    from ..registry import RegistryError, resolve_run_dir

    if (run_dir is None) == (model is None):
        fail(ValueError("give either RUN_DIR or --model NAME@champion|@challenger|@VERSION."))
    try:
        return Path(run_dir) if run_dir is not None else resolve_run_dir(model)
    except RegistryError as exc:
        fail(exc)
