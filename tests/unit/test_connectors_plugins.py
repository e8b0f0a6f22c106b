"""Third-party connectors through the `workbench.connectors` entry point group, and the DuckDB connector."""

import textwrap

import pandas as pd
import pytest

from data_connectors import ColumnMapping, ConnectorError, available_kinds, preview, read_source
from workbench.config import validate_config

PLUGIN = '''
"""A toy LIMS connector, as a third party would ship it."""
from contextlib import contextmanager

import pyarrow as pa
from pydantic import BaseModel

from data_connectors import Connector, Extract


class Options(BaseModel):
    project: str
    rows: int = 3


class LimsConnector(Connector):
    kind = "lims"
    Options = Options

    @contextmanager
    def open(self, options, wanted, limit):
        seqs = ["ACGT" * (i + 1) for i in range(options.rows)]
        batch = pa.record_batch({"sample_seq": seqs, "call": ["hit" if i % 2 else "miss" for i in range(options.rows)]})
        yield Extract(columns=["sample_seq", "call"], batches=[batch], location=f"lims://{options.project}",
                      query=None, extra={"project": options.project})
'''


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """Installs a fake distribution `acme-lims` (a module + a .dist-info with entry_points.txt) on sys.path."""
    (tmp_path / "acme_lims.py").write_text(PLUGIN)
    info = tmp_path / "acme_lims-1.2.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-lims\nVersion: 1.2\n")
    (info / "entry_points.txt").write_text(textwrap.dedent("""\
        [workbench.connectors]
        lims = acme_lims:LimsConnector
        broken = acme_lims_missing:Nothing
        """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    return tmp_path


def test_entry_point_connector_reads_through_the_pipeline(plugin):
    assert available_kinds()["lims"] == "acme-lims 1.2"
    ds, lin = read_source({"kind": "lims", "project": "p7", "rows": 4}, ColumnMapping("sample_seq", "call"))
    assert ds["sequence"] == ["ACGT", "ACGT" * 2, "ACGT" * 3, "ACGT" * 4] and ds["label"] == ["miss", "hit"] * 2
    assert lin.kind == "lims" and lin.location == "lims://p7" and lin.extra["project"] == "p7" and lin.rows == 4
    assert "-> sequence" in preview({"kind": "lims", "project": "p7"}, ColumnMapping("sample_seq", "call")).to_text()


def test_entry_point_options_are_validated_with_the_run_config(plugin):
    cfg = validate_config({"name": "l", "source": {"kind": "lims", "project": "p1", "limit": 2}})
    assert cfg.source.kind == "lims" and cfg.source.limit == 2
    with pytest.raises(Exception, match=r"source\.plugin: .*project: Field required"):
        validate_config({"name": "l", "source": {"kind": "lims"}})
    with pytest.raises(ConnectorError, match=r"source.kind='broken'.*cannot be loaded.*ModuleNotFoundError"):
        read_source({"kind": "broken"})


def test_unknown_kind_lists_installed_ones(plugin):
    with pytest.raises(ConnectorError, match=r"invalid source block: source: unknown source.kind 'lim'.*'lims'.*"
                       r"workbench.connectors"):
        read_source({"kind": "lim"})


@pytest.fixture
def lake(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    frame = pd.DataFrame({"seq": ["ACGT", "GGCC", "TTAA", "CCGG"], "label": ["a", "b", "a", "b"],
                          "assay": ["x", "x", "y", "y"]})
    frame.to_parquet(tmp_path / "lake.parquet")
    frame.to_csv(tmp_path / "lake.csv", index=False)
    return tmp_path


def test_duckdb_sql_over_parquet_and_csv_with_parameters(lake):
    query = (f"SELECT p.seq, c.label FROM read_parquet('{lake}/lake.parquet') p "
             f"JOIN read_csv('{lake}/lake.csv') c USING (seq) WHERE p.assay = $assay ORDER BY p.seq")
    ds, lin = read_source({"kind": "duckdb", "query": query, "params": {"assay": "y"}}, ColumnMapping("seq", "label"))
    assert ds["sequence"] == ["CCGG", "TTAA"] and ds["label"] == ["b", "a"]
    assert lin.kind == "duckdb" and lin.query == query and lin.extra["params"] == ["assay"]


def test_duckdb_injection_is_bound_and_lake_extensions_fail_clearly_offline(lake):
    query = f"SELECT seq, label FROM read_parquet('{lake}/lake.parquet') WHERE assay = $assay"
    with pytest.raises(ConnectorError, match="no rows"):
        read_source({"kind": "duckdb", "query": query, "params": {"assay": "y' OR '1'='1"}},
                    ColumnMapping("seq", "label"))
    with pytest.raises(ConnectorError, match=r"extension 'delta', which is not installed.*offline"):
        read_source({"kind": "duckdb", "query": f"SELECT * FROM delta_scan('{lake}/delta_table')"})
    with pytest.raises(ConnectorError, match=r"extension 'iceberg' is not installed"):
        read_source({"kind": "duckdb", "query": "SELECT 1", "extensions": ["iceberg"]})


def test_duckdb_timeout_interrupts(lake):
    with pytest.raises(ConnectorError, match=r"timeout_s=0.3 s and was interrupted"):
        read_source({"kind": "duckdb", "query": "SELECT count(*) AS sequence, 1 AS label FROM range(1000000000000)",
                     "timeout_s": 0.3})
