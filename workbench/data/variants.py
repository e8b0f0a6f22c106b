"""Unlabelled windows around the variants of a VCF, for pretraining: each ALT allele with ``flank`` reference bases
on each side, cut from the reference with pyfaidx and read with cyvcf2 (streaming, one variant at a time).

VCF: 1-based ``POS``, REF/ALT alleles (https://samtools.github.io/hts-specs/VCFv4.3.pdf). Symbolic and breakend
alleles (``<DEL>``, ``*``, ``N[chr2:5[``) have no sequence and are skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from .corpus import CorpusError, check_row


def variant_windows(vcf: dict, window: int) -> Iterator[tuple[str, int, str]]:
    """Yields ``(chrom, pos, sequence)``: the ALT allele of each variant between its flanking reference bases.

    Args:
        vcf: ``{"path": VCF/BCF file, "reference": FASTA matching its build, "flank": bases each side}``.
        window: The run's window (a longer variant window is tiled like any record).

    Raises:
        CorpusError: The VCF or reference is missing or unreadable, or a chromosome is not in the reference.
    """
    import cyvcf2

    from data_connectors.errors import ConnectorError
    from data_connectors.intervals import open_reference

    path, flank = Path(vcf["path"]).expanduser(), int(vcf.get("flank", 50))
    where = f"corpus.vcf {path}"
    if not path.is_file():
        raise CorpusError(f"{where}: no such file. Point corpus.vcf.path at a local VCF/BCF (plain or bgzip).")
    try:
        fa = open_reference(vcf["reference"], True, where)
    except ConnectorError as exc:
        raise CorpusError(str(exc)) from None
    try:
        reader = cyvcf2.VCF(str(path))
    except Exception as exc:  # noqa: BLE001 - cyvcf2 raises plain exceptions for unreadable files
        fa.close()
        raise CorpusError(f"{where}: cannot open it ({type(exc).__name__}: {exc}). Is it VCF/BCF?") from None
    try:
        for n, variant in enumerate(reader, 1):
            chrom, pos = variant.CHROM, variant.POS
            if chrom not in fa:
                raise CorpusError(f"{where}, variant {n} ({chrom}:{pos}): chromosome {chrom!r} is not in the reference "
                                  f"{vcf['reference']}. Use the VCF's reference build.")
            length = len(fa[chrom])
            left = str(fa.get_seq(chrom, max(1, pos - flank), pos - 1)) if pos > 1 else ""
            end = pos + len(variant.REF) - 1
            right = str(fa.get_seq(chrom, end + 1, min(length, end + flank))) if end < length else ""
            for alt in variant.ALT:
                if not alt or alt.startswith("<") or alt == "*" or "[" in alt or "]" in alt:
                    continue
                yield chrom, pos, check_row(left + alt + right, f"{where}, variant {n} ({chrom}:{pos})").upper()
    finally:
        reader.close()
        fa.close()
