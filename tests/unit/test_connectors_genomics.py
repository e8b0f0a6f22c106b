"""FASTA/FASTQ, BED + reference and VCF connectors on small files built here (and the real CRLF enhancer FASTA)."""

import gzip
import os
from pathlib import Path

import pandas as pd
import pytest
from Bio.Seq import Seq

from data_connectors import ConnectorError, DataWarning, preview, read_source
from data_connectors.pipeline import cache_dir

from tests.conftest import REPO

# The shared data directory sits beside the checkout (CI: a fresh clone with shared/ beside it).
ENHANCERS = next((p for p in (REPO.parent / "shared" / "data" / "enhancers", REPO / "shared" / "data" / "enhancers")
                  if p.is_dir()), REPO.parent / "shared" / "data" / "enhancers")
CHR1 = "ACGTACGTAAAACCCCGGGGTTTTGATTACAGATTACACCCGGGAAATTTCGCG"  # 54 bp
CHR2 = "TTTTTTTTTTGGGGGGGGGGAAAAAAAAAA"


@pytest.fixture(autouse=True)
def own_home(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))


@pytest.fixture
def ref(tmp_path):
    """A two-chromosome reference with CRLF line endings and 20-bp lines."""
    lines = [">chr1 test"] + [CHR1[i:i + 20] for i in range(0, len(CHR1), 20)] + [">chr2"] + [CHR2[:20], CHR2[20:]]
    path = tmp_path / "ref.fa"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    return path


def test_fasta_label_from_header_regex_crlf_and_lowercase(tmp_path):
    path = tmp_path / "s.fa"
    path.write_bytes(b">s1 class=enh\r\nACGTac\r\ngt\r\n>s2 class=non\r\nTTTT\r\n>s3 no class here\r\nGGGG\r\n")
    with pytest.raises(ConnectorError, match=r"1 row\(s\).*row 2 \(id 's3'\): label"):
        read_source({"kind": "fasta", "path": str(path), "label_regex": r"class=(?P<label>\w+)"})
    ds, lin = read_source({"kind": "fasta", "path": str(path), "label_regex": r"class=(\w+)", "nulls": "drop"})
    assert ds["sequence"] == ["ACGTACGT", "TTTT"] and ds["label"] == ["enh", "non"] and ds["id"] == ["s1", "s2"]
    assert lin.extra["label_regex_misses"]["count"] == 1 and lin.extra["label_from"] == "regex"


def test_fasta_label_from_side_table_and_gzip_fastq(tmp_path):
    with gzip.open(tmp_path / "r.fq.gz", "wt") as handle:
        handle.write("@r1\nACGT\n+\nIIII\n@r2\nGGCC\n+\nIIII\n")
    pd.DataFrame({"read": ["r2", "r1"], "cls": ["b", "a"]}).to_csv(tmp_path / "labels.csv", index=False)
    ds, _ = read_source({"kind": "fasta", "path": str(tmp_path / "r.fq.gz"),
                         "label_table": {"path": str(tmp_path / "labels.csv"), "id_column": "read",
                                         "label_column": "cls"}})
    assert ds["sequence"] == ["ACGT", "GGCC"] and ds["label"] == ["a", "b"]
    pd.DataFrame({"read": ["r1", "r1"], "cls": ["a", "b"]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ConnectorError, match="ID 'r1' has two labels"):
        read_source({"kind": "fasta", "path": str(tmp_path / "r.fq.gz"),
                     "label_table": {"path": str(tmp_path / "bad.csv"), "id_column": "read", "label_column": "cls"}})


def test_fasta_file_labels_need_an_entry_per_file(tmp_path):
    (tmp_path / "a.fa").write_text(">x\nACGT\n")
    (tmp_path / "b.fa").write_text(">x\nGGGG\n")
    with pytest.warns(DataWarning, match=r"1 ID value\(s\) in `id` occur more than once: 'x' x2"):
        ds, _ = read_source({"kind": "fasta", "path": str(tmp_path / "*.fa"), "file_labels": {"a.fa": "A", "b*": "B"}})
    assert ds["label"] == ["A", "B"]
    with pytest.raises(ConnectorError, match=r"no `source.file_labels` entry matches"):
        read_source({"kind": "fasta", "path": str(tmp_path / "*.fa"), "file_labels": {"a.fa": "A"}})


@pytest.mark.skipif(not (ENHANCERS / "enhancer.cv.fa").is_file(), reason="shared enhancer data not present")
def test_real_enhancer_fasta_with_crlf():
    ds, lin = read_source({"kind": "fasta", "path": [str(ENHANCERS / "enhancer.cv.fa"),
                                                     str(ENHANCERS / "non_enhancer.cv.fa")],
                           "file_labels": {"enhancer.cv.fa": "enhancer", "non_enhancer.cv.fa": "non_enhancer"}})
    assert lin.extra["label_counts"] == {"enhancer": 1484, "non_enhancer": 1484}
    assert set(len(s) for s in ds["sequence"]) == {200} and not any("\r" in s for s in ds["sequence"][:50])


def test_bed_strands_flank_and_labels(tmp_path, ref):
    bed = tmp_path / "r.bed"
    bed.write_text("track name=test\n# comment\nchr1\t0\t6\tenh\t0\t+\nchr1\t8\t20\tnon\t0\t-\nchr2\t18\t22\tenh\n")
    ds, lin = read_source({"kind": "bed", "path": str(bed), "reference": str(ref)})
    assert ds["sequence"] == [CHR1[0:6], str(Seq(CHR1[8:20]).reverse_complement()), CHR2[18:22]]
    assert ds["label"] == ["enh", "non", "enh"] and ds["id"] == ["chr1:0-6(+)", "chr1:8-20(-)", "chr2:18-22(+)"]
    bed.write_text("chr1\t10\t14\tx\t7\t-\nchr1\t30\t34\ty\t3\t+\n")
    ds, _ = read_source({"kind": "bed", "path": str(bed), "reference": str(ref), "flank": 2, "label_column": "score"})
    assert ds["sequence"] == [str(Seq(CHR1[8:16]).reverse_complement()), CHR1[28:36]] and ds["label"] == ["7", "3"]


def test_bed_errors_name_the_interval(tmp_path, ref):
    bed = tmp_path / "e.bed"
    for text, pattern in [("chr1\t0\t4\tx\nchr9\t0\t4\tx\n", r"interval 2: chromosome 'chr9' is not in the reference"),
                          ("chr2\t20\t40\tx\n", r"interval 1 \(chr2:20-40\) runs past the end of chr2 \(30 bp\)"),
                          ("chr1\t5\t2\tx\n", r"interval 1 .*need 0 <= start < end")]:
        bed.write_text(text)
        with pytest.raises(ConnectorError, match=pattern):
            read_source({"kind": "bed", "path": str(bed), "reference": str(ref)})
    assert not [p for p in cache_dir().iterdir() if p.suffix == ".arrow"]


def test_reference_index_goes_to_cache_when_its_directory_is_read_only(tmp_path, ref, monkeypatch):
    import data_connectors.intervals as intervals

    real_access = os.access
    monkeypatch.setattr(intervals.os, "access",
                        lambda p, mode: False if Path(p) == ref.parent else real_access(p, mode))
    (tmp_path / "r.bed").write_text("chr1\t0\t4\tx\nchr2\t0\t4\ty\n")
    ds, _ = read_source({"kind": "bed", "path": str(tmp_path / "r.bed"), "reference": str(ref)})
    assert ds["sequence"] == ["ACGT", "TTTT"] and list((cache_dir() / "fai").glob("ref.fa-*.fai"))
    assert not Path(f"{ref}.fai").exists()


VCF = """##fileformat=VCFv4.2
##contig=<ID=chr1,length=54>
##INFO=<ID=CLNSIG,Number=1,Type=String,Description="clinical significance">
##INFO=<ID=EFF,Number=A,Type=String,Description="effect per ALT allele">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO
chr1\t5\trs1\tA\tG\t.\tPASS\tCLNSIG=benign;EFF=syn
chr1\t13\t.\tC\tT,<DEL>,CA\t.\tPASS\tCLNSIG=pathogenic;EFF=mis,del,fs
chr1\t2\trs3\tC\tCA\t.\tPASS\tCLNSIG=benign;EFF=fs
chr1\t20\trs4\tT\tA\t.\tPASS\tCLNSIG=benign;EFF=mis
"""


def test_vcf_windows_per_allele_with_info_label(tmp_path, ref):
    (tmp_path / "v.vcf").write_text(VCF)
    with pytest.warns(DataWarning, match=r"1 variant\(s\) have a REF that differs.*chr1:20 REF T, reference G"):
        ds, lin = read_source({"kind": "vcf", "path": str(tmp_path / "v.vcf"), "reference": str(ref),
                               "label_info": "EFF", "flank": 3})
    assert ds["id"] == ["rs1", "chr1:13:C>T", "chr1:13:C>CA", "rs3", "rs4"]
    assert ds["label"] == ["syn", "mis", "fs", "fs", "mis"]
    assert ds["ref_sequence"][0] == CHR1[1:4] + "A" + CHR1[5:8] and ds["sequence"][0] == CHR1[1:4] + "G" + CHR1[5:8]
    assert ds["sequence"][2] == CHR1[9:12] + "CA" + CHR1[13:16]
    assert ds["ref_sequence"][3] == CHR1[0:1] + "C" + CHR1[2:5]  # clipped at the chromosome start
    assert lin.extra["counts"] == {"skipped_symbolic": 1, "clipped_windows": 1, "ref_mismatches": 1}
    with pytest.raises(ConnectorError, match=r"INFO field 'AF' is not declared.*\['CLNSIG', 'EFF'\]"):
        read_source({"kind": "vcf", "path": str(tmp_path / "v.vcf"), "reference": str(ref), "label_info": "AF"})
    p = preview({"kind": "vcf", "path": str(tmp_path / "v.vcf"), "reference": str(ref), "label_info": "CLNSIG"}, n=2)
    assert p.to_pandas()["label"].tolist() == ["benign", "pathogenic"]
