"""The bundled sample data and its SQLite warehouse (workbench.quickstart)."""

import sqlite3

import pytest

from workbench.data import samples as quickstart


def test_bundled_splice_loads_into_sqlite(tmp_path):
    db = tmp_path / "w.db"
    assert quickstart.load_splice_into_sqlite(db) == 3190
    with sqlite3.connect(db) as conn:
        cols = [r[1] for r in conn.execute("PRAGMA table_info(splice)")]
        counts = dict(conn.execute("SELECT Class, COUNT(*) FROM splice GROUP BY Class"))
        first = conn.execute("SELECT Class, Donor, Sequence FROM splice WHERE id = 1").fetchone()
    assert cols == ["id", "Class", "Donor", "Sequence"]
    assert counts == {"EI": 767, "IE": 768, "N": 1655}
    assert first == ("EI", "ATRINS-DONOR-521", "CCAGCTGCATCACAGGAGGCCAGCGAGCAGGTCTGTTCCAAGGGCCTTCGAGCCAGTCTG")
    assert [p.name for p in tmp_path.iterdir()] == ["w.db"], "no temporary file is left behind"


def test_corrupted_bundle_is_detected(monkeypatch):
    monkeypatch.setattr(quickstart, "SPLICE_SHA256", "0" * 64)
    with pytest.raises(RuntimeError, match="reinstall"):
        quickstart.splice_csv()


def test_gc_csv_is_deterministic_and_computed(tmp_path):
    from workbench.data.samples import gc_content, write_gc_csv

    assert gc_content("GGCCAT") == pytest.approx(4 / 6)
    n = write_gc_csv(tmp_path / "a.csv")
    write_gc_csv(tmp_path / "b.csv")
    assert n == 3175 and (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert (tmp_path / "a.csv").read_text().splitlines()[0] == "id,sequence,gc_content"
