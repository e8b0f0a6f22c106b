"""DNA sequence validation, IUPAC ambiguity policy, and prompt formatting.

Alphabet source: IUPAC-IUB Commission on Biochemical Nomenclature, "Nomenclature for
incompletely specified bases in nucleic acid sequences" (1984): A C G T plus the
ambiguity codes R Y S W K M B D H V N.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_PROMPT = "DNA: {sequence}\nClass:"
BASES = frozenset("ACGT")
IUPAC_AMBIGUOUS = frozenset("RYSWKMBDHVN")


class SequenceError(ValueError):
    """Raised for a sequence that is empty, too long or has letters outside the IUPAC alphabet."""


def check_sequence(sequence: str, max_length: int = 512, allow_ambiguous: bool = True) -> str:
    """Normalises and validates one DNA sequence.

    Whitespace is removed and letters are upper-cased; ``U`` is not accepted (RNA).

    Args:
        sequence: Raw sequence text.
        max_length: Longest accepted sequence, in nucleotides.
        allow_ambiguous: Accept IUPAC ambiguity codes (N, R, ...) besides A, C, G, T.

    Returns:
        The normalised sequence (upper case, no whitespace).

    Raises:
        SequenceError: Naming the offending letters and their 1-based positions.
    """
    seq = "".join(sequence.split()).upper()
    if not seq:
        raise SequenceError("the sequence is empty: paste DNA letters A, C, G, T.")
    if len(seq) > max_length:
        raise SequenceError(f"the sequence has {len(seq)} nt; this model accepts at most {max_length} nt.")
    allowed = BASES | IUPAC_AMBIGUOUS if allow_ambiguous else BASES
    bad = [(i + 1, c) for i, c in enumerate(seq) if c not in allowed]
    if bad:
        shown = ", ".join(f"{c!r} at {i}" for i, c in bad[:5])
        more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
        letters = "A, C, G, T" + (" or IUPAC codes R Y S W K M B D H V N" if allow_ambiguous else "")
        raise SequenceError(f"invalid letter(s) {shown}{more}: DNA sequences may contain only {letters}.")
    return seq


def check_records(records: list[tuple[str, str]], max_length: int = 512) -> list[str]:
    """Validates a batch of ``(id, sequence)`` records (an uploaded FASTA or CSV) with :func:`check_sequence`.

    Args:
        records: ``(id, raw sequence)`` pairs, in file order.
        max_length: Longest accepted sequence, in nucleotides.

    Returns:
        The normalised sequences, in order.

    Raises:
        SequenceError: Naming up to 3 bad records (id and 1-based record number) and what is wrong with each.
    """
    clean, bad = [], []
    for i, (rid, raw) in enumerate(records):
        try:
            clean.append(check_sequence(raw, max_length))
        except SequenceError as exc:
            bad.append(f"record {i + 1} ({rid!r}): {exc}")
    if bad:
        shown = "" if len(bad) <= 3 else " (the first 3 shown)"
        raise SequenceError(f"{len(bad)} of {len(records)} sequences are invalid{shown}: " + " | ".join(bad[:3])
                            + " Fix or remove them and upload again.")
    return clean


@dataclass
class PolicyReport:
    """What the ambiguity policy did.

    Attributes:
        policy: ``reject``, ``drop`` or ``keep``.
        rows_with_ambiguous: Rows that contained at least one ambiguity code.
        rows_dropped: Rows removed by the policy.
        codes: Count of each ambiguity code over those rows.
    """

    policy: str
    rows_with_ambiguous: int = 0
    rows_dropped: int = 0
    codes: dict[str, int] = field(default_factory=dict)


def apply_ambiguity_policy(sequences: list[str], policy: str, max_length: int = 512) -> tuple[list[int], PolicyReport]:
    """Validates sequences and applies the IUPAC ambiguity policy.

    Args:
        sequences: Raw sequences, shape ``(rows,)``.
        policy: ``"reject"`` (raise on any ambiguity code), ``"drop"`` (drop those rows) or
            ``"keep"`` (keep them; each code becomes its own token).
        max_length: Longest accepted sequence, in nucleotides.

    Returns:
        ``(kept_indices, report)``: indices of rows to keep, in order, and a :class:`PolicyReport`.

    Raises:
        SequenceError: If a row has a non-IUPAC letter or is empty/too long (always), or has an
            ambiguity code under ``reject``; the message names the row index.
    """
    kept: list[int] = []
    report = PolicyReport(policy)
    codes: Counter[str] = Counter()
    for i, raw in enumerate(sequences):
        try:
            seq = check_sequence(raw, max_length)
        except SequenceError as exc:
            raise SequenceError(f"row {i}: {exc} Fix or filter this row in the source.") from None
        found = [c for c in seq if c in IUPAC_AMBIGUOUS]
        if found:
            report.rows_with_ambiguous += 1
            codes.update(found)
            if policy == "reject":
                raise SequenceError(
                    f"row {i} contains IUPAC ambiguity code(s) {sorted(set(found))} and data.ambiguous='reject'. "
                    "Set data.ambiguous to 'drop' or 'keep', or clean the source."
                )
            if policy == "drop":
                report.rows_dropped += 1
                continue
        kept.append(i)
    report.codes = dict(sorted(codes.items()))
    return kept, report


def format_prompt(sequence: str, template: str = DEFAULT_PROMPT, spaced: bool = True, kmer: int = 1) -> str:
    """Turns a sequence into the model's prompt.

    Args:
        sequence: Normalised DNA sequence, e.g. ``"ACGT"``.
        template: Prompt template containing ``{sequence}``.
        spaced: Put a space between groups of ``kmer`` nucleotides (``"A C G T"`` for 1) so that each group is
            one word; ``False`` gives the raw sequence to the tokenizer's merges.
        kmer: Nucleotides per spaced group: non-overlapping k-mers read from the first base, the last group
            holding what remains (``"ACGTA"`` with 2 -> ``"AC GT A"``). Ignored unless ``spaced``.

    Returns:
        The prompt text; the label word follows it directly (after a space).
    """
    if not spaced:
        return template.format(sequence=sequence)
    return template.format(sequence=" ".join(sequence[i:i + kmer] for i in range(0, len(sequence), kmer)))


def task_prompt(sequence: str, task: Mapping[str, Any] | Any) -> str:
    """Turns a sequence into the prompt a task was (or is being) trained on: one place that reads the prompt fields.

    Args:
        sequence: Normalised DNA sequence, e.g. ``"ACGT"``.
        task: The task's prompt settings ``prompt``, ``spaced`` and ``kmer``: either a run's ``task.json`` as a
            dict (the predictor, the export check) or the config's ``task`` group (attributes). A field a run
            recorded before it existed takes :func:`format_prompt`'s default (``kmer`` 1).

    Returns:
        :func:`format_prompt` of ``sequence`` with those settings.
    """
    if isinstance(task, Mapping):
        fields = {k: task[k] for k in ("prompt", "spaced", "kmer") if k in task}
    else:
        fields = {k: getattr(task, k) for k in ("prompt", "spaced", "kmer") if hasattr(task, k)}
    return format_prompt(sequence, fields.get("prompt", DEFAULT_PROMPT), fields.get("spaced", True), fields.get("kmer", 1))
