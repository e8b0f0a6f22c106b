"""Batch-scoring targets on their own: `--to URL#TABLE` parsing, files renamed into place only on commit, and a SQLite
table swapped in one transaction (replace, append, fail), with the staging table of an interrupted run dropped."""

import sqlite3

import pyarrow as pa
import pytest

from workbench.scoring.targets import FileTarget, TableTarget, TargetError, parse_to

SCHEMA = pa.schema([("id", pa.string()), ("label", pa.string()), ("p_EI", pa.float64())])


def rows(*ids):
    return pa.table({"id": list(ids), "label": ["EI"] * len(ids), "p_EI": [0.5] * len(ids)}, schema=SCHEMA)


def test_parse_to_and_its_refusals():
    assert parse_to("sqlite:///a.db#scores") == ("sqlite:///a.db", None, "scores")
    assert parse_to("postgresql://u:${env:PW}@h/db#lims.scores") == ("postgresql://u:${env:PW}@h/db", "lims", "scores")
    for bad in ("sqlite:///a.db", "sqlite:///a.db#", "#t", "sqlite:///a.db#drop table; x"):
        with pytest.raises(TargetError, match="URL#TABLE"):
            parse_to(bad)
    with pytest.raises(TargetError, match=r"postgresql://u:\*\*\*@h"):
        parse_to("postgresql://u:hunter22@h/db")


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_a_file_appears_only_when_committed(tmp_path, suffix):
    path = tmp_path / f"out.{suffix}"
    target = FileTarget(path, SCHEMA)
    target.write(rows("a", "b"))
    assert not path.exists()
    target.commit()
    assert path.is_file() and [p.name for p in tmp_path.iterdir()] == [path.name]
    failed = FileTarget(path, SCHEMA)
    failed.write(rows("c"))
    failed.abort()
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # the old file, no partial one
    with pytest.raises(TargetError, match=r"\.parquet or \.csv"):
        FileTarget(tmp_path / "out.txt", SCHEMA)


def test_sqlite_table_replace_append_fail_and_a_leftover_staging_table(tmp_path):
    db = tmp_path / "w.db"
    url = f"sqlite:///{db}#scores"
    first = TableTarget(url, SCHEMA)
    first.write(rows("a", "b"))
    with sqlite3.connect(db) as conn:  # while scoring, only the staging table exists
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == [("scores__wb_staging",)]
    first.commit()
    with pytest.raises(TargetError, match="already exists and --if-exists is fail"):
        TableTarget(url, SCHEMA)
    interrupted = TableTarget(url, SCHEMA, "replace")
    interrupted.write(rows("x"))  # then the process dies: no commit, no abort
    again = TableTarget(url, SCHEMA, "replace")  # drops the leftover staging table
    again.write(rows("c"))
    again.commit()
    appended = TableTarget(url, SCHEMA, "append")
    appended.write(rows("d"))
    appended.commit()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT id FROM scores ORDER BY id").fetchall() == [("c",), ("d",)]
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == [("scores",)]
    other = pa.schema([("id", pa.string()), ("value", pa.float64())])
    with pytest.raises(TargetError, match=r"has columns \['id', 'label', 'p_EI'\], but this model writes"):
        TableTarget(url, other, "append")
