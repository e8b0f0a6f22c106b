"""The ``source:`` block of a run config, one pydantic model per kind, and the read dispatch.

``SourceConfig`` is a union discriminated by ``kind``: ``sql``, ``files``, ``duckdb``,
``fasta``, ``bed``, ``vcf`` (built in) or any kind an installed entry point provides
(:mod:`data_connectors.registry`), whose own fields are validated by the plugin's
``Options`` model. Every kind shares the fields of :class:`CommonSource`.
"""

from __future__ import annotations

from typing import Annotated, Any, Callable, ClassVar, Literal, Union

from pydantic import (BaseModel, ConfigDict, Discriminator, Field, Tag, TypeAdapter, ValidationError, field_validator,
                      model_validator)

from .base import ColumnMapping
from .errors import ConnectorError
from .registry import BUILTIN, get_connector


class SampleConfig(BaseModel):
    """A reproducible random subset: ``{fraction: 0.1}`` or ``{n: 1000}``, with a ``seed``.

    Rows are chosen by a BLAKE2b hash of ``(sequence, label)`` (and the ``id_column`` value,
    if set) keyed by the seed, so the same data gives the same sample whatever order the
    source returns it in; identical rows without IDs are kept or dropped together.
    """

    model_config = ConfigDict(extra="forbid")

    fraction: float | None = Field(None, gt=0, le=1, description="Keep about this fraction of the rows.")
    n: int | None = Field(None, gt=0, description="Keep exactly this many rows (all if fewer); memory O(n).")
    seed: int = Field(0, description="Sampling seed.")

    @model_validator(mode="after")
    def _one(self):
        if (self.fraction is None) == (self.n is None):
            raise ValueError("give exactly one of sample.fraction or sample.n")
        return self


class CommonSource(BaseModel):
    """Fields every kind accepts; the pipeline applies them after the connector reads."""

    model_config = ConfigDict(extra="forbid")

    limit: int | None = Field(None, gt=0, description="Read at most this many source rows; None = all.")
    sample: SampleConfig | None = Field(None, description="Reproducible subset, applied after `limit`.")
    nulls: Literal["error", "drop"] = Field("error", description="Rows with a NULL/empty sequence or label: "
                                            "`error` names them; `drop` skips them and counts them in the lineage.")
    id_column: str | None = Field(None, description="Source column with a row ID: kept as `id`, checked for "
                                  "duplicates.")
    keep_columns: list[str] = Field(default_factory=list, description="Other source columns carried into the "
                                    "dataset as strings.")
    env_file: str | None = Field(".env", description="`.env` file for ${env:NAME} references (python-dotenv).")

    _needs: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def _required_per_kind(self):
        missing = [n for n in self._needs if getattr(self, n, None) in (None, "", [])]
        if missing:
            raise ValueError(f"source.kind={getattr(self, 'kind', '?')!r} needs "
                             + ", ".join("source." + m for m in missing))
        return self

    @field_validator("sample", mode="before")
    @classmethod
    def _shorthand(cls, value):
        if isinstance(value, bool):
            return value
        if isinstance(value, float):
            return {"fraction": value}
        if isinstance(value, int):
            return {"n": value}
        return value


class SqlSource(CommonSource):
    """``kind: sql``: a SQLAlchemy URL and one SELECT with ``:name`` bound parameters."""

    kind: Literal["sql"]
    _needs: ClassVar[tuple[str, ...]] = ("url", "query")
    url: str | None = Field(None, description="SQLAlchemy URL; use ${env:NAME} / ${keyring:SERVICE/USER} for secrets.")
    query: str | None = Field(None, description="One SELECT statement with :name placeholders.")
    params: dict[str, Any] = Field(default_factory=dict, description="Values bound to the query's placeholders.")
    timeout_s: float | None = Field(None, gt=0, description="Statement timeout in seconds (server-enforced).")
    chunk_rows: int = Field(10_000, gt=0, description="Rows per fetch from the server-side cursor.")


class FilesSource(CommonSource):
    """``kind: files``: CSV/TSV/Parquet (file, directory, hive partitions)/JSONL/Excel, local or fsspec URL."""

    kind: Literal["files"]
    _needs: ClassVar[tuple[str, ...]] = ("path",)
    path: str | None = Field(None, description="Local path, glob or fsspec URL (s3://, gs://, abfs://, memory:// ...).")
    format: Literal["csv", "tsv", "parquet", "jsonl", "excel"] | None = Field(None, description="None = from suffix.")
    sheet: str | int | None = Field(None, description="excel: sheet name or 0-based index; None = first.")
    storage_options: dict[str, Any] = Field(default_factory=dict, description="fsspec options (credentials may use "
                                            "${env:...}/${keyring:...}); default: the standard env vars/profiles.")
    chunk_rows: int = Field(65_536, gt=0, description="Rows per batch.")


class DuckDBSource(CommonSource):
    """``kind: duckdb``: a DuckDB SQL query over files (Parquet, CSV, JSON) with ``$name`` parameters."""

    kind: Literal["duckdb"]
    _needs: ClassVar[tuple[str, ...]] = ("query",)
    query: str | None = Field(None, description="DuckDB SQL, e.g. SELECT seq, label FROM "
                              "read_parquet('lake/*.parquet').")
    params: dict[str, Any] = Field(default_factory=dict, description="Values for $name placeholders.")
    database: str = Field(":memory:", description="DuckDB database file (opened read-only) or :memory:.")
    extensions: list[str] = Field(default_factory=list, description="Extensions to LOAD (must be installed).")
    timeout_s: float | None = Field(None, gt=0, description="Interrupt the query after this many seconds.")
    chunk_rows: int = Field(65_536, gt=0, description="Rows per batch.")


class LabelTable(BaseModel):
    """A side table (CSV/TSV/Parquet/JSONL/Excel) giving each record ID a label."""

    model_config = ConfigDict(extra="forbid")

    path: str
    id_column: str = "id"
    label_column: str = "label"


class FastaSource(CommonSource):
    """``kind: fasta``: FASTA/FASTQ records (Biopython); label from the header, a side table, or the file."""

    kind: Literal["fasta"]
    _needs: ClassVar[tuple[str, ...]] = ("path",)
    path: str | list[str] | None = Field(None, description="File(s), globs or fsspec URLs; .gz is decompressed.")
    format: Literal["fasta", "fastq"] | None = Field(None, description="None = from suffix (.fq/.fastq = fastq).")
    label_regex: str | None = Field(None, description="Regex on the header; group `label` (or group 1) is the label.")
    label_table: LabelTable | None = Field(None, description="Side table joined on the record ID.")
    file_labels: dict[str, str] = Field(default_factory=dict, description="File name (or glob) -> label.")
    uppercase: bool = Field(True, description="Upper-case sequences (soft-masked lowercase becomes ACGT).")
    id_column: str | None = "id"
    storage_options: dict[str, Any] = Field(default_factory=dict)
    chunk_rows: int = Field(10_000, gt=0)

    @model_validator(mode="after")
    def _one_label_source(self):
        given = [n for n in ("label_regex", "label_table", "file_labels") if getattr(self, n)]
        if len(given) != 1:
            raise ValueError("give exactly one of source.label_regex, source.label_table or source.file_labels "
                             f"(got {given or 'none'})")
        return self


class BedSource(CommonSource):
    """``kind: bed``: BED intervals cut from a reference FASTA (pyfaidx); ``-`` strand reverse-complemented."""

    kind: Literal["bed"]
    _needs: ClassVar[tuple[str, ...]] = ("path", "reference")
    path: str | None = Field(None, description="Local BED file (BED3+; tab-separated; track/browser/# lines skipped).")
    reference: str | None = Field(None, description="Local reference FASTA (plain or bgzip); its .fai index is "
                                  "built if absent.")
    names: list[str] | None = Field(None, description="Column names for BED6+N extras; default BED12 names.")
    label_column: str = Field("name", description="BED column holding the label (name, score, or a `names` entry).")
    flank: int = Field(0, ge=0, description="Extend each interval by this many bp on both sides.")
    uppercase: bool = True
    id_column: str | None = "id"
    chunk_rows: int = Field(10_000, gt=0)


class VcfSource(CommonSource):
    """``kind: vcf``: reference/alternate windows around each variant (cyvcf2), an INFO field as label."""

    kind: Literal["vcf"]
    _needs: ClassVar[tuple[str, ...]] = ("path", "reference", "label_info")
    path: str | None = Field(None, description="Local VCF/BCF (plain, bgzip).")
    reference: str | None = Field(None, description="Local reference FASTA matching the VCF's build.")
    label_info: str | None = Field(None, description="INFO field used as the label (e.g. CLNSIG).")
    flank: int = Field(50, ge=0, description="Bases of reference on each side of the allele.")
    uppercase: bool = True
    id_column: str | None = "id"
    keep_columns: list[str] = Field(default_factory=lambda: ["ref_sequence"])
    chunk_rows: int = Field(10_000, gt=0)


class PluginSource(CommonSource):
    """Any other ``kind``: served by an installed entry point; its fields go to the plugin's ``Options``."""

    model_config = ConfigDict(extra="allow")

    kind: str

    @model_validator(mode="after")
    def _plugin_fields(self):
        connector = get_connector(self.kind)  # ConnectorError (a ValueError) lists the kinds available
        try:
            connector.Options.model_validate(self.model_extra or {})
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ValueError(f"source.kind={self.kind!r}: {problems}") from None
        return self


def _tag(value: Any) -> str | None:
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    if kind is None:
        return None
    return kind if kind in BUILTIN else "plugin"


SourceConfig = Annotated[
    Union[tuple(Annotated[m, Tag(k)] for k, m in (("sql", SqlSource), ("files", FilesSource),
                                                ("duckdb", DuckDBSource), ("fasta", FastaSource), ("bed", BedSource),
                                                ("vcf", VcfSource), ("plugin", PluginSource)))],
    Discriminator(_tag, custom_error_type="missing_kind",
                  custom_error_message=f"source.kind is required: one of {sorted(BUILTIN)} or an installed plugin's"),
]
_ADAPTER = TypeAdapter(SourceConfig)


def parse_source(source: Any) -> CommonSource:
    """Validates a ``source:`` mapping (or passes a validated one through).

    Args:
        source: A dict such as ``{"kind": "files", "path": "a.csv"}`` or a source model.

    Returns:
        The matching model (``SqlSource``, ``FilesSource`` ...).

    Raises:
        ConnectorError: Listing every invalid field as ``source.<field>: problem``.
    """
    if isinstance(source, CommonSource):
        return source
    try:
        return _ADAPTER.validate_python(source)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = [str(p) for p in err["loc"]]
            loc = loc[1:] if loc and loc[0] in BUILTIN or loc[:1] == ["plugin"] else loc
            problems.append(f"source.{'.'.join(loc)}: {err['msg'].removeprefix('Value error, ')}" if loc
                            else f"source: {err['msg'].removeprefix('Value error, ')}")
        raise ConnectorError("invalid source block: " + "; ".join(problems)) from None


def read_source(source: Any, columns: ColumnMapping | None = None, progress: Callable[[int], None] | None = None,
                unlabelled: bool = False):
    """Reads a configured source with the matching connector.

    Args:
        source: The ``source:`` block (validated model or dict).
        columns: Which columns hold the sequence and the label (default ``sequence``/``label``).
        progress: Called with the number of source rows read after each batch.
        unlabelled: Keep rows whose label is NULL or empty (their ``label`` is ``""``); rows with an empty
            sequence are still dropped and counted. For reading the unlabelled rows of a labelled source.

    Returns:
        ``(dataset, lineage)``: a memory-mapped ``datasets.Dataset`` with string columns
        ``sequence`` and ``label`` (plus ``id``/``keep_columns``) and its
        :class:`~data_connectors.base.Lineage`.

    Raises:
        ConnectorError: The source cannot be read or does not fit the mapping; see
            :func:`data_connectors.pipeline.materialize` and each connector.
    """
    from .pipeline import materialize

    source = parse_source(source)
    connector, options = resolved_options(source)
    return materialize(source.kind, lambda wanted: connector.open(options, wanted, source.limit),
                       columns or ColumnMapping(), id_column=source.id_column, keep_columns=source.keep_columns,
                       limit=source.limit, sample=source.sample, nulls="sequence" if unlabelled else source.nulls,
                       progress=progress)


def resolved_options(source: CommonSource):
    """Returns ``(connector, options)`` with ``${env:...}``/``${keyring:...}`` resolved in the options."""
    from .secrets import resolve_secrets

    connector = get_connector(source.kind)
    if isinstance(source, PluginSource):
        options = connector.Options.model_validate(source.model_extra or {})
    else:
        options = source
    update = {name: resolve_secrets(value, source.env_file) for name, value in options
              if isinstance(value, (str, dict, list)) and name not in CommonSource.model_fields}
    return connector, options.model_copy(update=update)
