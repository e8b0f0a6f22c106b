"""Reading and tiling unlabelled DNA for pretraining: windows and strides, whole held-out blocks, the N filter and
the soft-mask policy, bgzip, the tiled store, and every bad input naming its file, position and fix."""

import gzip
import random

import pytest

from workbench.data.corpus import CorpusError, block_split, TileCounts, Tiling, fasta_records, tile_record
from workbench.data.corpus_store import CorpusSpec, WindowStore, build_store, reverse_complement


def _fasta(path, records: dict[str, str], width: int = 60, opener=open):
    with opener(path, "wt") as handle:
        for name, seq in records.items():
            handle.write(f">{name} some description\n")
            for i in range(0, len(seq), width):
                handle.write(seq[i:i + width] + "\n")
    return path


def _random_dna(n: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice("ACGT") for _ in range(n))


def _tile(seq: str, tiling: Tiling, name="r"):
    counts = TileCounts()
    lines = [seq[i:i + 7] for i in range(0, len(seq), 7)]  # lines shorter than a window: the buffer must carry over
    return list(tile_record(name, iter(lines), tiling, counts)), counts


def test_windows_follow_window_and_stride_and_the_tail_is_counted():
    seq = _random_dna(1000)
    out, counts = _tile(seq, Tiling(window=100, stride=50, val_fraction=0, test_fraction=1e-12, block=10**9))
    starts = [start for _, start, _ in out]
    assert starts == list(range(0, 901, 50))
    assert all(w == seq[s:s + 100] for _, s, w in out)
    out, counts = _tile(_random_dna(1030), Tiling(window=100, stride=100, val_fraction=0, test_fraction=1e-12, block=10**9))
    assert len(out) == 10 and counts.tail_bases == 30 and counts.bases == 1030


def test_held_out_blocks_are_whole_and_never_inside_a_training_window():
    seq = _random_dna(60_000, seed=1)
    tiling = Tiling(window=100, stride=30, block=1000, val_fraction=0.2, test_fraction=0.2, seed=3)
    out, counts = _tile(seq, tiling)
    held = [(s, s + 100) for split, s, _ in out if split != "train"]
    train = [(s, s + 100) for split, s, _ in out if split == "train"]
    assert held and train and counts.kept["validation"] and counts.kept["test"]
    assert not any(a < d and c < b for a, b in held for c, d in train)  # no overlap at all
    for split, s, _ in out:  # every window lies in blocks of its own split
        assert block_split("r", s // 1000, tiling) == block_split("r", (s + 99) // 1000, tiling) == split
    assert all(b - a == 100 for a, b in held) and len({a for a, _ in held}) == len(held)
    assert counts.dropped_boundary > 0  # stride 30 windows that cross into a held-out block are dropped


def test_n_filter_and_soft_masked_repeats():
    seq = "ACGT" * 25 + "N" * 10 + "ACGT" * 22 + "A" * 2 + "acgt" * 25
    keep, counts = _tile(seq, Tiling(window=100, stride=100, max_n_fraction=0.05, test_fraction=1e-12,
                                     val_fraction=0, block=10**9))
    assert counts.dropped_n == 1 and [w for _, _, w in keep][-1] == "ACGT" * 25  # repeats upper-cased, kept
    drop, counts = _tile(seq, Tiling(window=100, stride=100, repeats="drop", test_fraction=1e-12, val_fraction=0,
                                     block=10**9))
    assert counts.dropped_repeats == 1 and len(drop) == 1
    amb, counts = _tile("ACGTRYACGT" * 10, Tiling(window=100, max_n_fraction=0.5, test_fraction=1e-12,
                                                   val_fraction=0, block=10**9))
    assert amb[0][2].count("N") == 20  # ambiguity codes are read as N


def test_short_records_become_one_window_or_are_dropped():
    out, counts = _tile("ACGTACGTACGTACGTACGTACGTACGTAC", Tiling(window=100, min_length=20))
    assert len(out) == 1 and out[0][2] == "ACGTACGTACGTACGTACGTACGTACGTAC"
    out, counts = _tile("ACGTACGT", Tiling(window=100, min_length=20))
    assert out == [] and counts.short_records_dropped == 1


def test_plain_gzip_and_bgzip_read_alike(tmp_path):
    from Bio import bgzf

    records = {"chrA": _random_dna(5000, 2), "chrB": _random_dna(300, 3)}
    plain = _fasta(tmp_path / "g.fa", records)
    gz = _fasta(tmp_path / "g.fa.gz", records, opener=gzip.open)
    bgz = tmp_path / "g.bgz.fa.gz"
    with bgzf.BgzfWriter(str(bgz), "wb") as handle:
        handle.write(plain.read_bytes())
    for path in (plain, gz, bgz):
        got = {name: "".join(lines) for name, lines in fasta_records(path)}
        assert got == records, path


def test_not_fasta_names_the_file_and_line(tmp_path):
    bad = tmp_path / "table.csv"
    bad.write_text("id,sequence\n1,ACGT\n")
    with pytest.raises(CorpusError, match=r"table\.csv, line 1: expected a FASTA header.*not a FASTA file"):
        list(fasta_records(bad))
    letters = tmp_path / "letters.fa"
    letters.write_text(">x\nACGT\nACXT\n")
    with pytest.raises(CorpusError, match=r"letters\.fa, line 3, column 3: 'X' is not a DNA letter.*Fix the file"):
        for _, lines in fasta_records(letters):
            list(lines)
    binary = tmp_path / "b.fa"
    binary.write_bytes(b">x\nAC\xff\xfeGT\n")
    with pytest.raises(CorpusError, match=r"b\.fa, line 2: .* is not text"):
        for _, lines in fasta_records(binary):
            list(lines)


def test_truncated_gzip_names_the_file_and_what_to_do(tmp_path):
    whole = _fasta(tmp_path / "g.fa.gz", {"chr1": _random_dna(50_000, 4)}, opener=gzip.open)
    cut = tmp_path / "cut.fa.gz"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(CorpusError, match=r"cut\.fa\.gz: the gzip stream ends early, after line \d+: the file is "
                                          r"truncated\. Copy it again"):
        for _, lines in fasta_records(cut):
            list(lines)


def test_no_usable_window_says_which_setting_to_loosen(tmp_path):
    fa = _fasta(tmp_path / "n.fa", {"gap": "N" * 5000})
    spec = CorpusSpec(fasta=[str(fa)], tiling=Tiling(window=100))
    with pytest.raises(CorpusError, match=r"no usable training window .* 50 windows had more than "
                                          r"task\.max_n_fraction=0\.05 N.*Raise task\.max_n_fraction"):
        build_store(spec, tmp_path / "store")
    tiny = _fasta(tmp_path / "tiny.fa", {"one": _random_dna(3000, 9)})
    with pytest.raises(CorpusError, match=r"no held-out test window .* Lower data\.block or raise data\.test_fraction"):
        build_store(CorpusSpec(fasta=[str(tiny)], tiling=Tiling(block=10**6, test_fraction=0.01)), tmp_path / "s2")
    with pytest.raises(CorpusError, match="matches no file"):
        build_store(CorpusSpec(fasta=[str(tmp_path / "missing*.fa")]), tmp_path / "store")


def test_the_store_holds_every_window_once_and_is_reused(tmp_path):
    records = {"chr1": _random_dna(30_000, 5), "chr2": _random_dna(8_000, 6)}
    fa = _fasta(tmp_path / "g.fa.gz", records, opener=gzip.open)
    spec = CorpusSpec(fasta=[str(fa)], tiling=Tiling(window=50, stride=50, block=2000, val_fraction=0.1,
                                                     test_fraction=0.1), strands="both", markov_k=3)
    store = build_store(spec, tmp_path / "store")
    windows = {s: store.read(s, range(store.count(s))) for s in ("train", "validation", "test")}
    assert sum(len(w) for w in windows.values()) == 30_000 // 50 + 8_000 // 50
    whole = records["chr1"] + "|" + records["chr2"]
    assert all(w in whole for ws in windows.values() for w in ws)
    assert store.manifest["files"][0]["sha256"] and len(store.manifest["fingerprint"]) == 64
    again = build_store(spec, tmp_path / "store")
    assert again.directory == store.directory and isinstance(again, WindowStore)
    # the chain was fitted on both strands of the training windows only
    assert sum(store.markov().counts[0]) == 2 * sum(len(w) for w in windows["train"])


def test_reverse_complement():
    assert reverse_complement("AACGTN") == "NACGTT"


def test_bed_intervals_over_a_reference_come_in_through_their_connector(tmp_path):
    from data_connectors.config import parse_source

    ref = _random_dna(20_000, 11)
    reference = _fasta(tmp_path / "ref.fa", {"chr1": ref})
    bed = tmp_path / "regions.bed"
    bed.write_text("".join(f"chr1\t{s}\t{s + 150}\tregion{i}\t0\t{'+-'[i % 2]}\n"
                           for i, s in enumerate(range(100, 19_000, 400))))
    source = parse_source({"kind": "bed", "path": str(bed), "reference": str(reference)})
    spec = CorpusSpec(source=source, sequence_column="sequence", tiling=Tiling(window=100, stride=100, block=1000,
                                                                                test_fraction=0.3, val_fraction=0.1))
    store = build_store(spec, tmp_path / "store")
    counts = store.manifest["counts"]
    assert counts["records"] == len(range(100, 19_000, 400)) and store.manifest["source"]["kind"] == "bed"
    windows = [w for s in ("train", "validation", "test") for w in store.read(s, range(store.count(s)))]
    assert len(windows) == counts["records"] and all(len(w) == 100 for w in windows)
    assert windows[0] in ref or reverse_complement(windows[0]) in ref
