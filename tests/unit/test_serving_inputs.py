"""Validation at the edge of the demo, property-based (hypothesis): the sequence validators, the request-size
limit, the FASTA and CSV upload parsers, and in-silico mutagenesis's variant enumeration."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.data.sequences import IUPAC_AMBIGUOUS, SequenceError, check_records, check_sequence
from workbench.serving.limits import LimitError, Limits, limits_for
from workbench.serving.mutagenesis import BASE_ORDER, variants
from workbench.serving.uploads import UploadError, parse_csv, parse_fasta, read_upload

DNA = st.text(alphabet="ACGTacgt", min_size=1, max_size=200)
IDS = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=">;"), min_size=1,
              max_size=20)
ALLOWED = set("ACGT") | IUPAC_AMBIGUOUS


@given(seq=DNA, spaces=st.lists(st.sampled_from([" ", "\n", "\t", "\r\n"]), max_size=5))
def test_valid_dna_is_normalised(seq, spaces):
    raw = seq + "".join(spaces)
    assert check_sequence(raw, 512) == seq.upper()


@given(seq=st.text(max_size=80))
def test_check_sequence_accepts_exactly_the_iupac_alphabet(seq):
    clean = "".join(seq.split()).upper()
    try:
        out = check_sequence(seq, 512)
    except SequenceError as exc:
        msg = str(exc)
        assert not clean or set(clean) - ALLOWED, msg
        assert ("empty" in msg) if not clean else ("invalid letter" in msg)
        if clean:
            pos, bad = next((i + 1, c) for i, c in enumerate(clean) if c not in ALLOWED)
            assert f"{bad!r} at {pos}" in msg
    else:
        assert out == clean and set(out) <= ALLOWED


@given(seq=DNA, limit=st.integers(1, 250))
def test_length_limit(seq, limit):
    if len(seq) > limit:
        with pytest.raises(SequenceError, match=f"at most {limit} nt"):
            check_sequence(seq, limit)
    else:
        assert check_sequence(seq, limit) == seq.upper()


@given(records=st.lists(st.tuples(IDS, st.one_of(DNA, st.just("ACGTXX"), st.just(""))), min_size=1, max_size=8))
def test_check_records_names_the_bad_records(records):
    bad = [i for i, (_, s) in enumerate(records) if s in ("ACGTXX", "")]
    if not bad:
        assert check_records(records) == [s.upper() for _, s in records]
    else:
        with pytest.raises(SequenceError) as info:
            check_records(records)
        assert f"{len(bad)} of {len(records)} sequences are invalid" in str(info.value)
        assert f"record {bad[0] + 1} ({records[bad[0]][0]!r})" in str(info.value)


@given(text=st.text(max_size=300), limit=st.integers(1, 200))
def test_request_size_limit(text, limit):
    limits = Limits(max_request_chars=limit)
    if len(text) > limit:
        with pytest.raises(LimitError, match=f"at most {limit:,} per request"):
            limits.check_text(text)
    else:
        assert limits.check_text(text) == text


@settings(max_examples=60)
@given(records=st.lists(st.tuples(IDS, DNA), min_size=1, max_size=10), width=st.integers(5, 80),
       crlf=st.booleans(), description=st.text(alphabet="abc =|", max_size=10))
def test_fasta_round_trip(records, width, crlf, description):
    eol = "\r\n" if crlf else "\n"
    text = "".join(f">{rid} {description}{eol}" + eol.join(seq[i:i + width] for i in range(0, len(seq), width)) + eol
                   for rid, seq in records)
    assert parse_fasta(text) == records


@given(text=st.text(max_size=200))
def test_fasta_parser_either_parses_or_says_what_is_wrong(text):
    try:
        records = parse_fasta(text)
    except UploadError as exc:
        assert "FASTA" in str(exc)
    else:
        assert records and all(rid and seq for rid, seq in records)


@pytest.mark.parametrize("text,message", [
    ("", "no records"),
    ("ACGT\n", "line 1 comes before any header"),
    (">\nACGT\n", "line 1: the header '>' has no identifier"),
    (">  \nACGT\n", "line 1: the header '>' has no identifier"),
    (">a\n>b\nACGT\n", "record 'a' has no sequence"),
    (">a\nACGT\n>b\n", "record 'b' has no sequence"),
])
def test_malformed_fasta(text, message):
    with pytest.raises(UploadError, match=message):
        parse_fasta(text)


@settings(max_examples=60)
@given(records=st.lists(st.tuples(st.text(alphabet="abcXYZ0123_", min_size=1, max_size=10), DNA), min_size=1,
                        max_size=10), column=st.sampled_from(["sequence", "Sequence", "SEQ", "dna"]),
       with_id=st.booleans())
def test_csv_round_trip(records, column, with_id):
    header = ("id," if with_id else "") + column
    rows = [(f"{rid}," if with_id else "") + seq for rid, seq in records]
    got = parse_csv("\n".join([header, *rows]) + "\n")
    assert [s for _, s in got] == [s for _, s in records]
    assert [r for r, _ in got] == ([r for r, _ in records] if with_id else [f"row{i + 1}" for i in range(len(records))])


@pytest.mark.parametrize("text,message", [
    ("id,dna_sequence\na,ACGT\n", r"no sequence column \(its columns: 'id', 'dna_sequence'\)"),
    ("sequence\n", "header but no rows"),
    ("", "could not be read"),
    ('sequence\n"ACGT\n', "could not be read"),
    ("id,sequence\na,ACGT\nb,\n", r"empty on line\(s\) \[3\]"),
])
def test_malformed_csv(text, message):
    with pytest.raises(UploadError, match=message):
        parse_csv(text)


def test_csv_prefers_the_runs_sequence_column():
    assert parse_csv("Sequence,other\nACGT,x\n", "Sequence") == [("row1", "ACGT")]
    with pytest.raises(UploadError, match="'Seqs' or 'sequence'"):
        parse_csv("id,x\n1,ACGT\n", "Seqs")


def test_upload_size_rows_and_encoding_are_checked_before_parsing(tmp_path):
    limits = Limits(max_upload_mb=1, max_batch_rows=3)
    big = tmp_path / "big.fa"
    with open(big, "wb") as handle:
        handle.write(b">x\n")
        handle.truncate(50 * 2**20)
    with pytest.raises(LimitError, match="the file is 50.0 MB; this demo accepts uploads up to 1 MB"):
        read_upload(big, limits)
    rows = tmp_path / "rows.fasta"
    rows.write_text("".join(f">r{i}\nACGT\n" for i in range(4)))
    with pytest.raises(LimitError, match="holds 4 sequences; this demo scores at most 3"):
        read_upload(rows, limits)
    binary = tmp_path / "x.csv"
    binary.write_bytes(b"\x1f\x8b\x08\x00\xff\xfe")
    with pytest.raises(UploadError, match="not UTF-8 text"):
        read_upload(binary, limits)
    empty = tmp_path / "empty.fa"
    empty.write_text("")
    with pytest.raises(UploadError, match="empty"):
        read_upload(empty, limits)
    sniffed = tmp_path / "seqs.txt"
    sniffed.write_text(">a\nACGT\n")
    assert read_upload(sniffed, limits) == [("a", "ACGT")]


@given(seq=st.text(alphabet="ACGTN", min_size=1, max_size=60))
def test_variants_cover_every_single_base_change_once(seq):
    out = variants(seq)
    assert len(out) == sum(3 if c in BASE_ORDER else 4 for c in seq)
    assert len({v for _, _, v in out}) == len(out) and seq not in {v for _, _, v in out}
    for i, b, v in out:
        assert len(v) == len(seq) and v[i] == BASE_ORDER[b] != seq[i] and v[:i] == seq[:i] and v[i + 1:] == seq[i + 1:]


def test_limits_from_the_run_config_and_flags(tmp_path):
    (tmp_path / "config.yaml").write_text("serve:\n  host: 127.0.0.1\n  max_batch_rows: 7\n  concurrency: 3\n")
    limits = limits_for(tmp_path, concurrency=5, max_upload_mb=None)
    assert (limits.max_batch_rows, limits.concurrency, limits.max_upload_mb) == (7, 5, 5.0)
    assert limits.max_upload_bytes == 5 * 2**20
    with pytest.raises(LimitError, match="positive"):
        limits_for(None, concurrency=0)


@given(seq=st.text(alphabet="ACGT \n", max_size=120), limit=st.integers(1, 100))
def test_mutagenesis_length_limit(seq, limit):
    length = len("".join(seq.split()))
    if length > limit:
        with pytest.raises(LimitError, match=f"the sequence has {length} nt; .* at most {limit} nt"):
            Limits(max_mutagenesis_nt=limit).check_mutagenesis(seq)
    else:
        Limits(max_mutagenesis_nt=limit).check_mutagenesis(seq)
