"""SQL and files connectors (data_connectors) on real SQLite files and files built here."""

import sqlite3

import pandas as pd
import pytest

from data_connectors import ColumnMapping, ConnectorError, fingerprint_rows, read_files, read_sql, redact

COLS = ColumnMapping("seq", "label")


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "w.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (id INTEGER, seq TEXT, label TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?, ?)",
                         [(i, "ACGT"[i % 4] * 8, "pos" if i % 2 else "neg") for i in range(100)])
    return path


def test_sql_reads_with_bound_params_and_lineage(db):
    ds, lin = read_sql(f"sqlite:///{db}", "SELECT seq, label FROM t WHERE label = :lab ORDER BY id", COLS,
                       params={"lab": "pos"})
    assert ds.column_names == ["sequence", "label"] and len(ds) == 50
    assert set(ds["label"]) == {"pos"}
    assert lin.kind == "sql" and lin.rows == 50 and lin.columns == ["seq", "label"]
    assert lin.fingerprint == fingerprint_rows(zip(ds["sequence"], ds["label"]))
    assert lin.extra["dialect"] == "sqlite"


def test_sql_injection_attempt_returns_nothing(db):
    with pytest.raises(ConnectorError, match="no rows"):
        read_sql(f"sqlite:///{db}", "SELECT seq, label FROM t WHERE label = :lab", COLS,
                 params={"lab": "pos' OR '1'='1"})


def test_sql_limit_and_chunking(db):
    ds, lin = read_sql(f"sqlite:///{db}", "SELECT seq, label FROM t ORDER BY id", COLS, limit=33, chunk_rows=10)
    assert len(ds) == 33 and lin.rows == 33


def test_sql_missing_column_lists_available(db):
    with pytest.raises(ConnectorError, match=r"\['sequence'\] not found.*\['id', 'seq', 'label'\]"):
        read_sql(f"sqlite:///{db}", "SELECT * FROM t", ColumnMapping("sequence", "label"))


def test_sql_null_rows_named(db):
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE t SET label = NULL WHERE id = 5")
    with pytest.raises(ConnectorError, match=r"1 row\(s\) have a NULL.*\[5\]"):
        read_sql(f"sqlite:///{db}", "SELECT seq, label FROM t ORDER BY id", COLS)


def test_sql_errors_never_show_password():
    url = "postgresql+psycopg2://alice:hunter2@127.0.0.1:1/nope"
    with pytest.raises(ConnectorError) as err:
        read_sql(url, "SELECT 1", COLS)
    assert "hunter2" not in str(err.value) and "alice:***@" in str(err.value)


def test_sql_bad_query_is_clear(db):
    with pytest.raises(ConnectorError, match="query failed.*no such table"):
        read_sql(f"sqlite:///{db}", "SELECT seq, label FROM missing", COLS)


def test_redact():
    assert redact("mysql://root:pw@h/db and s3://k:s@b/x") == "mysql://root:***@h/db and s3://k:***@b/x"
    assert redact("sqlite:///a.db") == "sqlite:///a.db"


def test_fingerprint_stable_and_sensitive():
    rows = [("ACGT", "a"), ("GGCC", "b")]
    assert fingerprint_rows(rows) == fingerprint_rows(list(rows))
    assert fingerprint_rows(rows) != fingerprint_rows([("ACGT", "a"), ("GGCC", "c")])
    assert fingerprint_rows(rows) != fingerprint_rows(rows[::-1])


@pytest.fixture
def frame():
    return pd.DataFrame({"seq": ["ACGT", "GGGA", "TTCA"], "label": ["x", "y", "x"], "other": [1, 2, 3]})


@pytest.mark.parametrize("fmt", ["csv", "tsv", "parquet", "jsonl"])
def test_files_formats_round_trip(tmp_path, frame, fmt):
    path = tmp_path / f"data.{fmt}"
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "tsv":
        frame.to_csv(path, index=False, sep="\t")
    elif fmt == "parquet":
        frame.to_parquet(path)
    else:
        frame.to_json(path, orient="records", lines=True)
    ds, lin = read_files(str(path), COLS)
    assert ds["sequence"] == ["ACGT", "GGGA", "TTCA"] and ds["label"] == ["x", "y", "x"]
    assert lin.extra["format"] == fmt and len(lin.extra["file_sha256"]) == 64
    assert lin.fingerprint == fingerprint_rows(zip(ds["sequence"], ds["label"]))


def test_files_padded_csv_like_splice(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("Class, Donor,     Sequence\nEI,    A-1,       ACGTAC\nN,     B-2,       GGTTAA\n")
    ds, lin = read_files(str(path), ColumnMapping("Sequence", "Class"))
    assert ds["sequence"] == ["ACGTAC", "GGTTAA"] and ds["label"] == ["EI", "N"]
    assert lin.columns == ["Class", "Donor", "Sequence"]


def test_files_errors(tmp_path, frame):
    with pytest.raises(ConnectorError, match="no such file"):
        read_files(str(tmp_path / "none.csv"), COLS)
    with pytest.raises(ConnectorError, match="source.format"):
        read_files(str(tmp_path / "data.xyz"), COLS)
    frame.loc[1, "seq"] = None
    frame.to_csv(tmp_path / "n.csv", index=False)
    with pytest.raises(ConnectorError, match=r"NULL.*\[1\]"):
        read_files(str(tmp_path / "n.csv"), COLS)
