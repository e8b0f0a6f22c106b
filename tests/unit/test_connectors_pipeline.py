"""The common read path (data_connectors.pipeline/checks/config/preview) on SQLite and CSV files built here."""

import sqlite3
import warnings

import pyarrow as pa
import pytest
from pydantic import TypeAdapter, ValidationError

from data_connectors import (ColumnMapping, ConnectorError, DataWarning, SourceConfig, fingerprint_rows, preview,
                             preview_text, read_source)
from data_connectors.pipeline import cache_dir

COLS = ColumnMapping("seq", "label")


@pytest.fixture(autouse=True)
def own_home(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))


def make_db(path, rows):
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (id TEXT, seq TEXT, label TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?, ?)", rows)
    return f"sqlite:///{path}"


@pytest.fixture
def url(tmp_path):
    seq = lambda i: "".join("ACGT"[(i >> (2 * k)) & 3] for k in range(6)) * 3  # noqa: E731 (unique for i < 4096)
    return make_db(tmp_path / "w.db", [(f"r{i:04d}", seq(i), "pos" if i % 3 else "neg") for i in range(1000)])


def sql(url, query="SELECT id, seq, label FROM t ORDER BY id", **kw):
    return {"kind": "sql", "url": url, "query": query, **kw}


def leftovers():
    return sorted(p.name for p in cache_dir().iterdir() if p.name.startswith(".partial"))


def test_dataset_is_memory_mapped_from_the_cache(url):
    ds, lin = read_source(sql(url, "SELECT id, seq, label, 'b1' AS batch FROM t", id_column="id",
                              keep_columns=["batch", "seq"]), COLS)
    assert ds.column_names == ["sequence", "label", "id", "batch"] and len(ds) == 1000  # mapped `seq` not repeated
    assert set(ds["batch"]) == {"b1"} and ds["id"][:2] == ["r0000", "r0001"]
    files = [f["filename"] for f in ds.cache_files]
    assert len(files) == 1 and files[0].startswith(str(cache_dir())) and lin.extra["cache_file"] in files[0]
    assert lin.extra["label_counts"] == {"neg": 334, "pos": 666}
    assert lin.fingerprint == fingerprint_rows(zip(ds["sequence"], ds["label"]))


def test_same_query_same_fingerprint_one_changed_row_changes_it(url, tmp_path):
    _, a = read_source(sql(url), COLS)
    _, b = read_source(sql(url), COLS)
    assert a.fingerprint == b.fingerprint
    with sqlite3.connect(tmp_path / "w.db") as conn:
        conn.execute("UPDATE t SET label = 'neg' WHERE id = 'r0500'")
    _, c = read_source(sql(url), COLS)
    assert c.fingerprint != a.fingerprint and c.rows == a.rows


def test_sample_fraction_is_reproducible_and_order_independent(url):
    a, la = read_source(sql(url, sample={"fraction": 0.2, "seed": 7}), COLS)
    b, _ = read_source(sql(url, "SELECT id, seq, label FROM t ORDER BY id DESC", sample={"fraction": 0.2, "seed": 7}),
                       COLS)
    c, _ = read_source(sql(url, sample={"fraction": 0.2, "seed": 8}), COLS)
    rows = lambda d: sorted(zip(d["sequence"], d["label"]))  # noqa: E731
    assert 100 < len(a) < 300 and rows(a) == rows(b) and rows(a) != rows(c)
    assert la.extra["sample"] == {"fraction": 0.2, "n": None, "seed": 7} and la.extra["source_rows"] == 1000


def test_sample_n_and_limit(url):
    a, la = read_source(sql(url, sample=50), COLS)
    b, _ = read_source(sql(url, sample={"n": 50}), COLS)
    assert len(a) == 50 and a["sequence"] == b["sequence"] and la.fingerprint == fingerprint_rows(
        zip(a["sequence"], a["label"]))
    d, ld = read_source(sql(url, limit=100, sample={"n": 10, "seed": 3}), COLS)
    assert len(d) == 10 and ld.extra["source_rows"] == 100


def test_nulls_error_names_rows_and_columns_and_leaves_nothing(tmp_path):
    url = make_db(tmp_path / "n.db", [("a", "ACGT", "x"), ("b", None, "y"), ("c", "ACGG", " "), ("d", "AC", "y")])
    with pytest.raises(ConnectorError, match=r"2 row\(s\).*\[1, 2\].*row 1 \(id 'b'\): sequence.*row 2 \(id 'c'\): "
                       r"label.*nulls: drop"):
        read_source(sql(url, id_column="id"), COLS)
    assert leftovers() == [] and not list(cache_dir().glob("*.arrow"))
    with pytest.warns(DataWarning, match=r"dropped 2 row"):
        ds, lin = read_source(sql(url, nulls="drop"), COLS)
    assert ds["sequence"] == ["ACGT", "AC"] and lin.extra["dropped_null_rows"] == 2 and lin.rows == 2


def test_unlabelled_read_keeps_empty_labels_and_drops_empty_sequences(tmp_path):
    url = make_db(tmp_path / "u.db", [("a", "ACGT", "x"), ("b", None, "y"), ("c", "ACGG", " "), ("d", "AC", None)])
    ds, lin = read_source(sql(url), COLS, unlabelled=True)  # the source's nulls policy ("error") is not applied
    assert list(ds["sequence"]) == ["ACGT", "ACGG", "AC"] and list(ds["label"]) == ["x", "", ""]  # stripped
    assert lin.rows == 3 and lin.extra["dropped_null_rows"] == 1


def test_bad_letters_single_class_and_duplicate_ids_warn(tmp_path):
    url = make_db(tmp_path / "b.db", [("a", "ACGT", "x"), ("b", "ACXT", "x"), ("a", "acgn", "x"), ("c", "AC-T", "x")])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds, lin = read_source(sql(url, "SELECT * FROM t", id_column="id"), COLS)
    text = "\n".join(str(w.message) for w in caught if w.category is DataWarning)
    assert "2 row(s) have letters outside the DNA alphabet" in text
    assert "row 1 (id 'b') 'X' at position 3" in text and "row 3 (id 'c') '-' at position 3" in text
    assert "every row has the label 'x' (4 rows)" in text
    assert "'a' x2 (rows [0, 2])" in text and "source.id_column" in text
    assert len(lin.extra["warnings"]) == 3 and len(ds) == 4


def test_empty_result_and_missing_columns(url):
    with pytest.raises(ConnectorError, match="no rows"):
        read_source(sql(url, "SELECT seq, label FROM t WHERE 1 = 0"), COLS)
    with pytest.raises(ConnectorError, match=r"\['nope'\] not found.*\['id', 'seq', 'label'\]"):
        read_source(sql(url, id_column="nope"), COLS)
    assert leftovers() == []


def test_sqlite_statement_timeout(tmp_path):
    url = make_db(tmp_path / "slow.db", [(str(i), "ACGT", "x") for i in range(300)])
    slow = "SELECT a.seq AS seq, a.label AS label FROM t a, t b, t c ORDER BY a.seq || b.seq || c.seq"
    with pytest.raises(ConnectorError, match=r"timeout_s=0.2 s.*cancelled.*interrupted"):
        read_source(sql(url, slow, timeout_s=0.2), COLS)
    assert leftovers() == []


def test_failure_mid_read_leaves_no_file(url, monkeypatch):
    import data_connectors.checks as checks

    real, calls = checks.RowChecks.accept, []

    def accept(self, table):
        calls.append(1)
        if len(calls) == 3:
            raise ConnectorError("simulated failure after two batches")
        return real(self, table)

    monkeypatch.setattr(checks.RowChecks, "accept", accept)
    with pytest.raises(ConnectorError, match="simulated"):
        read_source(sql(url, chunk_rows=100), COLS)
    assert list(cache_dir().iterdir()) == []


def test_progress_reports_rows(url):
    seen = []
    read_source(sql(url, chunk_rows=300), COLS, progress=seen.append)
    assert seen == [300, 600, 900, 1000]


def test_config_union_and_errors():
    adapter = TypeAdapter(SourceConfig)
    fasta = adapter.validate_python({"kind": "fasta", "path": "a.fa", "label_regex": "x"})
    assert type(fasta).__name__ == "FastaSource"
    assert adapter.validate_python({"kind": "files", "path": "a.csv", "sample": 0.5}).sample.fraction == 0.5
    with pytest.raises(ValidationError, match="exactly one of source.label_regex"):
        adapter.validate_python({"kind": "fasta", "path": "a.fa"})
    with pytest.raises(ValidationError, match=r"unknown source.kind 'oracle'.*'bed', 'duckdb'"):
        adapter.validate_python({"kind": "oracle", "dsn": "x"})
    with pytest.raises(ValidationError, match="source.kind is required"):
        adapter.validate_python({"path": "a.csv"})
    with pytest.raises(ValidationError, match="Extra inputs"):
        adapter.validate_python({"kind": "sql", "url": "sqlite://", "query": "SELECT 1", "tabel": "x"})


def test_workbench_config_accepts_new_kinds():
    from workbench.config import validate_config

    cfg = validate_config({"name": "e", "source": {"kind": "bed", "path": "r.bed", "reference": "hg38.fa"}})
    assert cfg.source.reference == "hg38.fa" and cfg.source.label_column == "name"


def test_preview_shows_schema_rows_and_mapping_problems(url):
    p = preview(sql(url), ColumnMapping("sequence", "label"), n=3)
    assert [c for c, _ in p.schema] == ["id", "seq", "label"] and p.rows.num_rows == 3
    assert p.problems and "['sequence'] not found" in p.problems[0]
    text = preview_text(sql(url), COLS, n=2)
    assert "seq" in text and "-> sequence" in text and "mapping: ok" in text and "first 2 row(s)" in text
    assert "<table" in p._repr_html_()
    assert not any(cache_dir().iterdir())  # a preview writes nothing


def test_row_lines_match_fingerprint_rows():
    from data_connectors.base import row_lines

    rows = [("ACGT", "é"), ('A"C\\', "x\ny"), ("", "1")]
    import hashlib

    assert hashlib.sha256(b"".join(row_lines(*zip(*rows)))).hexdigest() == fingerprint_rows(rows)


def test_string_column_casts_any_type():
    from data_connectors.checks import string_column

    assert string_column(pa.array([1, None, 3]), "x").to_pylist() == ["1", None, "3"]
    assert string_column(pa.array(["  a ", "b"]).dictionary_encode(), "x").to_pylist() == ["a", "b"]
    assert string_column(pa.array([[1], [2]]), "x").to_pylist() == ["[1]", "[2]"]


@pytest.mark.parametrize("rows", [[("ACGT", "a"), ("GG", "b")], [("AC", 'q"uote'), ("é", "x\\y"), ("T\n", "\x7f")]])
def test_arrow_row_bytes_equal_json_lines(rows):
    from data_connectors.base import row_bytes, row_lines

    seqs, labels = pa.array([r[0] for r in rows]), pa.array([r[1] for r in rows])
    assert row_bytes(seqs.slice(0), labels) == b"".join(row_lines(*zip(*rows)))
    assert row_bytes(seqs.slice(1), labels.slice(1)) == b"".join(row_lines(*zip(*rows[1:])))
