"""Connectors from company data to ``datasets.Dataset`` rows of (sequence, label).

One interface for every source: a ``source:`` block (``kind: sql | files | duckdb | fasta |
bed | vcf`` or a kind an installed entry point provides) read by :func:`read_source`, and
previewed by :func:`preview`. Every read returns ``(dataset, lineage)``: the dataset is
memory-mapped from an on-disk Arrow file and has string columns ``sequence`` and ``label``;
the :class:`Lineage` says what was read (redacted location, query, row count, columns,
sha256 fingerprint of the rows). See ``data_connectors/README.md``.
"""

from .base import ColumnMapping, Connector, Extract, Lineage, fingerprint_rows
from .config import (BedSource, CommonSource, DuckDBSource, FastaSource, FilesSource, PluginSource, SampleConfig,
                     SourceConfig, SqlSource, VcfSource, parse_source, read_source)
from .errors import ConnectorError, DataWarning
from .files import read_files
from .preview import Preview, preview, preview_text
from .registry import GROUP as ENTRY_POINT_GROUP
from .registry import available_kinds, get_connector
from .secrets import install_log_redaction, redact, redact_config, register_secret, resolve_secrets
from .sql import read_sql

__all__ = ["ENTRY_POINT_GROUP", "BedSource", "ColumnMapping", "CommonSource", "Connector", "ConnectorError",
           "DataWarning", "DuckDBSource", "Extract", "FastaSource", "FilesSource", "Lineage", "PluginSource", "Preview",
           "SampleConfig", "SourceConfig", "SqlSource", "VcfSource", "available_kinds", "fingerprint_rows",
           "get_connector", "install_log_redaction", "parse_source", "preview", "preview_text", "read_files",
           "read_source", "read_sql", "redact", "redact_config", "register_secret", "resolve_secrets"]
