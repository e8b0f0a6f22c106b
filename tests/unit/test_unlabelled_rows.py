"""The unlabelled rows of a predictor's task-adaptive pretraining phase (workbench/data/sources.py's
``read_unlabelled``), from sources whose label column has any name, including ``label`` itself (a CSV's
``label`` column, a FASTA source's ``file_labels``), which collided with the connector's own ``label`` column."""

import pytest

from workbench import validate_config
from workbench.data.sources import read_unlabelled


@pytest.fixture(autouse=True)
def own_home(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))


def config(source: dict, label: str = "label"):
    return validate_config({"name": "u", "source": source, "columns": {"sequence": "sequence", "label": label},
                            "train": {"pretrain_steps": 2}})


def test_a_csv_label_column_named_label_gives_its_empty_rows(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("sequence,label\nACGTACGTAA,pos\nacgtttacgg,\nGGGGCCCCAA,neg\nTTTTAAAACC, \n,pos\n")
    seqs, report = read_unlabelled(config({"kind": "files", "path": str(path)}))
    assert seqs == ["ACGTTTACGG", "TTTTAAAACC"] and report == {"rows": 2, "policy_dropped": 0, "excluded": 0}


def test_a_sql_label_column_of_another_name_gives_its_null_rows(tmp_path):
    import sqlite3

    with sqlite3.connect(tmp_path / "w.db") as conn:
        conn.execute("CREATE TABLE t (sequence TEXT, Class TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [("ACGTACGTAA", "EI"), ("CCCCGGGGTT", None),
                                                         ("AAAATTTTGG", "")])
    source = {"kind": "sql", "url": f"sqlite:///{tmp_path / 'w.db'}", "query": "SELECT sequence, Class FROM t"}
    seqs, report = read_unlabelled(config(source, label="Class"))
    assert seqs == ["CCCCGGGGTT", "AAAATTTTGG"] and report["rows"] == 2


def test_a_fasta_with_file_labels_has_no_unlabelled_rows(tmp_path):
    (tmp_path / "a.fa").write_text(">r1\nACGTACGTAA\n>r2\nCCCCGGGGTT\n")
    (tmp_path / "b.fa").write_text(">r3\nAAAATTTTGG\n")
    source = {"kind": "fasta", "path": str(tmp_path / "*.fa"), "file_labels": {"a.fa": "x", "b.fa": "y"}}
    seqs, report = read_unlabelled(config(source))
    assert seqs == [] and report["rows"] == 0
