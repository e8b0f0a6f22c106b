"""Which connector serves a ``source.kind``: the built-in ones, then Python entry points.

Third-party packages add a connector without editing this project by declaring an entry
point in the group ``workbench.connectors`` whose name is the ``source.kind`` and whose
object is a :class:`~data_connectors.base.Connector` subclass, e.g. in their
``pyproject.toml``::

    [project.entry-points."workbench.connectors"]
    lims = "acme_lims.connector:LimsConnector"

Entry points are read with :func:`importlib.metadata.entry_points` (Python packaging
specification "Entry points", https://packaging.python.org/en/latest/specifications/entry-points/).
Built-in kinds cannot be overridden by a plugin.
"""

from __future__ import annotations

import importlib
from importlib import metadata

from .base import Connector
from .errors import ConnectorError

GROUP = "workbench.connectors"
BUILTIN = {
    "sql": "data_connectors.sql:SqlConnector",
    "files": "data_connectors.files:FilesConnector",
    "duckdb": "data_connectors.duck:DuckDBConnector",
    "fasta": "data_connectors.fasta:FastaConnector",
    "bed": "data_connectors.intervals:BedConnector",
    "vcf": "data_connectors.intervals:VcfConnector",
}


def plugin_entry_points() -> dict[str, metadata.EntryPoint]:
    """Returns the installed connector entry points, by kind (built-in names excluded).

    Returns:
        ``{kind: EntryPoint}`` for the group ``workbench.connectors``.
    """
    return {ep.name: ep for ep in metadata.entry_points(group=GROUP) if ep.name not in BUILTIN}


def available_kinds() -> dict[str, str]:
    """Lists every ``source.kind`` that can be used here.

    Returns:
        ``{kind: provider}`` where provider is ``"built-in"`` or ``"<distribution> <version>"``
        (or the entry point's value when its distribution is unknown).
    """
    out = {kind: "built-in" for kind in BUILTIN}
    for kind, ep in sorted(plugin_entry_points().items()):
        dist = getattr(ep, "dist", None)
        out[kind] = f"{dist.name} {dist.version}" if dist is not None else ep.value
    return out


def _load(kind: str, target: str, origin: str) -> Connector:
    try:
        module, _, attr = target.partition(":")
        obj = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except Exception as exc:
        raise ConnectorError(
            f"the connector for source.kind={kind!r} ({target}, {origin}) cannot be loaded "
            f"({type(exc).__name__}: {exc}). Reinstall the package that provides it.") from None
    connector = obj() if isinstance(obj, type) else obj
    if not callable(getattr(connector, "open", None)) or not hasattr(connector, "Options"):
        raise ConnectorError(
            f"{target} ({origin}) is not a connector: subclass data_connectors.Connector and set `Options` "
            "and `open()` (see data_connectors/README.md).")
    return connector


def get_connector(kind: str) -> Connector:
    """Returns a connector instance for ``kind``.

    Args:
        kind: A ``source.kind`` value.

    Returns:
        The built-in connector, else the one an installed entry point provides.

    Raises:
        ConnectorError: If no connector serves ``kind`` (the message lists those that do)
            or a plugin fails to import.
    """
    if kind in BUILTIN:
        return _load(kind, BUILTIN[kind], "built-in")
    plugins = plugin_entry_points()
    if kind not in plugins:
        raise ConnectorError(
            f"unknown source.kind {kind!r}: use one of {sorted(available_kinds())}, or install a package that "
            f"provides it as an entry point in the group {GROUP!r}.")
    ep = plugins[kind]
    return _load(kind, ep.value, f"entry point from {available_kinds()[kind]}")
