"""Sequence validation, IUPAC policy and prompt formatting (workbench.sequences)."""

import pytest

from workbench.data.sequences import SequenceError, apply_ambiguity_policy, check_sequence, format_prompt, task_prompt


def test_check_sequence_normalises():
    assert check_sequence(" acg t\nAC ") == "ACGTAC"


@pytest.mark.parametrize("bad, message", [
    ("ACGTX", "'X' at 5"),
    ("", "empty"),
    ("ACGU", "'U' at 4"),
    ("A" * 11, "at most 10 nt"),
])
def test_check_sequence_errors(bad, message):
    with pytest.raises(SequenceError, match=message):
        check_sequence(bad, max_length=10)


def test_ambiguous_codes_allowed_or_not():
    assert check_sequence("ACNNR") == "ACNNR"
    with pytest.raises(SequenceError, match="'N' at 3"):
        check_sequence("ACN", allow_ambiguous=False)


def test_policy_drop_keep_reject_counts():
    seqs = ["ACGT", "ACNT", "RRGT", "GGGG"]
    kept, rep = apply_ambiguity_policy(seqs, "drop")
    assert kept == [0, 3] and rep.rows_with_ambiguous == 2 and rep.rows_dropped == 2
    assert rep.codes == {"N": 1, "R": 2}
    kept, rep = apply_ambiguity_policy(seqs, "keep")
    assert kept == [0, 1, 2, 3] and rep.rows_dropped == 0 and rep.rows_with_ambiguous == 2
    with pytest.raises(SequenceError, match="row 1 .*'drop' or 'keep'"):
        apply_ambiguity_policy(seqs, "reject")


def test_policy_names_row_with_invalid_letter():
    with pytest.raises(SequenceError, match="row 2"):
        apply_ambiguity_policy(["ACGT", "ACGT", "AC-T"], "keep")


def test_format_prompt_spaced_and_unspaced():
    assert format_prompt("ACG") == "DNA: A C G\nClass:"
    assert format_prompt("ACG", "seq={sequence} ->", spaced=False) == "seq=ACG ->"
    assert format_prompt("ACGTA", "{sequence}", kmer=2) == "AC GT A"  # non-overlapping from the first base
    assert format_prompt("ACGTAC", "{sequence}", kmer=3) == "ACG TAC"
    assert format_prompt("ACGTA", "{sequence}", spaced=False, kmer=2) == "ACGTA"  # kmer needs spaced


def test_task_prompt_reads_the_config_group_and_task_json_alike():
    from workbench.config.sequence import TaskConfig

    group = TaskConfig(prompt="seq: {sequence} ->", kmer=2)
    recorded = group.model_dump()  # what task.json carries
    assert task_prompt("ACGTA", group) == task_prompt("ACGTA", recorded) == "seq: AC GT A ->"
    older = {"prompt": "{sequence}", "spaced": True}  # a run recorded before task.kmer existed
    assert task_prompt("ACGT", older) == "A C G T"
    assert task_prompt("ACGT", {"prompt": "{sequence}", "spaced": False, "kmer": 3}) == "ACGT"
