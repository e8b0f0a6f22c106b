"""Tracking and the model registry on MLflow: the store (:mod:`.tracking`), logging a run directory (:mod:`.log`),
versions and ``NAME@REF`` resolution (:mod:`.versions`), champion/challenger aliases (:mod:`.aliases`), and the
notebook helpers (:mod:`.compare`). CLI: ``workbench models list|show|promote|rollback``."""

from .aliases import champion_number, promote, rollback
from .compare import compare_versions, plot_versions
from .log import TrackedRun, track_run
from .tracking import RegistryError, tracking_uri
from .versions import decisions, get_version, list_models, list_versions, parse_spec, resolve_run_dir

__all__ = ["RegistryError", "TrackedRun", "champion_number", "compare_versions", "decisions", "get_version",
           "list_models", "list_versions", "parse_spec", "plot_versions", "promote", "resolve_run_dir", "rollback",
           "track_run", "tracking_uri"]
