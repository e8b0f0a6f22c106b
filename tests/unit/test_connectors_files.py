"""Files connector on Parquet directories/hive partitions, JSONL, Excel, globs, gzip and fsspec memory:// URLs."""

import gzip

import fsspec
import pandas as pd
import pytest

from data_connectors import ColumnMapping, ConnectorError, fingerprint_rows, preview, read_files, read_source
from tests.conftest import SPLICE_CSV

COLS = ColumnMapping("seq", "label")


@pytest.fixture(autouse=True)
def own_home(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))


@pytest.fixture
def frame():
    return pd.DataFrame({"seq": ["ACGT", "GGGA", "TTCA", "CCAT"], "label": ["x", "y", "x", "y"],
                         "assay": ["a1", "a1", "a2", "a2"]})


@pytest.fixture
def memfs():
    fs = fsspec.filesystem("memory")
    yield fs
    fs.rm("/dc-test", recursive=True) if fs.exists("/dc-test") else None


def test_parquet_hive_partitions_become_columns(tmp_path, frame):
    root = tmp_path / "lake"
    frame.to_parquet(root, partition_cols=["assay"])
    ds, lin = read_source({"kind": "files", "path": str(root), "keep_columns": ["assay"]}, COLS)
    got = sorted(zip(ds["sequence"], ds["label"], ds["assay"]))
    assert got == sorted(zip(frame.seq, frame.label, frame.assay))
    assert lin.extra["format"] == "parquet" and lin.extra["file_count"] == 2
    assert all(len(f["sha256"]) == 64 for f in lin.extra["files"])


def test_directory_of_parquet_files_and_glob_of_csv(tmp_path, frame):
    (tmp_path / "parts").mkdir()
    frame.iloc[:2].to_parquet(tmp_path / "parts" / "a.parquet")
    frame.iloc[2:].to_parquet(tmp_path / "parts" / "b.parquet")
    ds, _ = read_files(str(tmp_path / "parts"), COLS)
    assert sorted(ds["sequence"]) == sorted(frame.seq)
    frame.iloc[:2].to_csv(tmp_path / "p1.csv", index=False)
    frame.iloc[2:].to_csv(tmp_path / "p2.csv", index=False)
    ds, lin = read_files(str(tmp_path / "p*.csv"), COLS)
    assert ds["sequence"] == list(frame.seq) and lin.extra["file_count"] == 2


def test_gzip_csv_and_jsonl_with_nulls(tmp_path, frame):
    with gzip.open(tmp_path / "d.csv.gz", "wt") as handle:
        frame.to_csv(handle, index=False)
    ds, lin = read_files(str(tmp_path / "d.csv.gz"), COLS)
    assert ds["label"] == list(frame.label) and lin.extra["format"] == "csv"
    (tmp_path / "d.jsonl").write_text('{"seq": "ACGT", "label": 1}\n{"seq": "GG", "label": "b"}\n{"seq": "TT"}\n')
    with pytest.raises(ConnectorError, match=r"NULL.*\[2\].*label"):
        read_files(str(tmp_path / "d.jsonl"), COLS)
    ds, _ = read_files(str(tmp_path / "d.jsonl"), COLS, nulls="drop")
    assert ds["label"] == ["1", "b"]


def test_excel_sheet(tmp_path, frame):
    path = tmp_path / "d.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        frame.assign(label=[1, 2, 1, 2]).to_excel(writer, sheet_name="other", index=False)
        frame.to_excel(writer, sheet_name="regions", index=False)
    ds, lin = read_files(str(path), COLS, sheet="regions")
    assert ds["sequence"] == list(frame.seq) and lin.extra["format"] == "excel"
    ds, _ = read_files(str(path), COLS, sheet=0)
    assert ds["label"] == ["1", "2", "1", "2"]
    with pytest.raises(ConnectorError, match=r"sheet 'nope' not found.*\['other', 'regions'\]"):
        read_files(str(path), COLS, sheet="nope")


def test_fsspec_memory_urls(memfs, frame):
    with memfs.open("/dc-test/d.parquet", "wb") as handle:
        frame.to_parquet(handle)
    with memfs.open("/dc-test/d.tsv", "w") as handle:
        frame.to_csv(handle, index=False, sep="\t")
    a, la = read_files("memory://dc-test/d.parquet", COLS)
    b, lb = read_files("memory://dc-test/d.tsv", COLS)
    assert a["sequence"] == b["sequence"] == list(frame.seq) and la.fingerprint == lb.fingerprint
    assert la.location == "memory://dc-test/d.parquet" and "sha256" not in la.extra["files"][0]
    with pytest.raises(ConnectorError, match="no such file"):
        read_files("memory://dc-test/none.csv", COLS)


def test_credentials_in_storage_options_and_urls_are_redacted(tmp_path, frame):
    frame.to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(ConnectorError) as err:
        read_files("s3://AKIDEXAMPLE:wJalrXUtnFEMIK7MDENG@bucket/key.csv", COLS)
    assert "wJalrXUtnFEMIK7MDENG" not in str(err.value)


def test_bundled_splice_csv_padded_header():
    ds, lin = read_files(str(SPLICE_CSV), ColumnMapping("Sequence", "Class"))
    assert len(ds) == 3190 and set(ds["label"]) == {"EI", "IE", "N"} and len(ds["sequence"][0]) == 60
    assert lin.columns == ["Class", "Donor", "Sequence"]
    assert lin.fingerprint == fingerprint_rows(zip(ds["sequence"], ds["label"]))
    assert lin.extra["label_counts"] == {"EI": 767, "IE": 768, "N": 1655}


def test_preview_of_a_file_reads_only_n_rows(tmp_path, frame):
    frame.to_parquet(tmp_path / "d.parquet")
    p = preview({"kind": "files", "path": str(tmp_path / "d.parquet")}, COLS, n=2)
    assert p.to_pandas()["seq"].tolist() == ["ACGT", "GGGA"] and dict(p.schema)["assay"] in ("string", "large_string")
