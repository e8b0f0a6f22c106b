"""Genomic intervals against a reference FASTA: BED regions (pyfaidx) and VCF variants (cyvcf2).

BED (https://genome.ucsc.edu/FAQ/FAQformat.html#format1): 0-based, half-open ``chromStart``
/``chromEnd``; the region is cut from the reference with pyfaidx and reverse-complemented
when ``strand`` is ``-``. Rows: ``id`` (``chrom:start-end(strand)``), ``chrom``, ``start``,
``end``, ``strand``, ``name``, ``sequence``, ``label`` (the ``label_column``).

VCF (https://samtools.github.io/hts-specs/VCFv4.3.pdf): 1-based ``POS``; for each ALT allele
the row holds ``ref_sequence`` = ``flank`` reference bases + REF + ``flank`` bases, and
``sequence`` = the same flanks around ALT, with the INFO field ``label_info`` as the label
(per-allele values for ``Number=A`` fields). Symbolic and breakend alleles (``<DEL>``,
``*``, ``N[chr2:5[``) are skipped and counted; a REF that disagrees with the reference (a
wrong build) is warned about. Windows at chromosome ends are clipped and counted.

pyfaidx builds ``<reference>.fai`` beside the reference; if that directory is read-only
the index goes to ``$WORKBENCH_HOME/sources/fai/``.
"""

from __future__ import annotations

import hashlib
import os
from contextlib import contextmanager
from pathlib import Path

from .base import Connector, Extract
from .config import BedSource, VcfSource
from .errors import ConnectorError
from .pipeline import cache_dir, guarded, rows_to_batch
from .secrets import redact

BED12 = ["chrom", "chromStart", "chromEnd", "name", "score", "strand", "thickStart", "thickEnd", "itemRgb",
         "blockCount", "blockSizes", "blockStarts"]
BED_COLUMNS = ["id", "chrom", "start", "end", "strand", "name", "sequence", "label"]
VCF_COLUMNS = ["id", "chrom", "pos", "ref", "alt", "ref_sequence", "sequence", "label"]
_SHOW = 5


def open_reference(path: str, uppercase: bool, where: str):
    """Opens a local reference FASTA with pyfaidx (``strict_bounds``), building its index if needed.

    Raises:
        ConnectorError: If the file is missing or cannot be indexed.
    """
    import pyfaidx

    ref = Path(path).expanduser()
    if not ref.is_file():
        raise ConnectorError(f"{where}: reference FASTA {redact(path)!r} not found. Set `source.reference` to a "
                             "local FASTA file (plain or bgzip-compressed).")
    kwargs = {}
    if not Path(f"{ref}.fai").exists() and not os.access(ref.parent, os.W_OK):
        digest = hashlib.sha256(str(ref.resolve()).encode()).hexdigest()[:16]
        (cache_dir() / "fai").mkdir(exist_ok=True)
        kwargs["indexname"] = str(cache_dir() / "fai" / f"{ref.name}-{digest}.fai")
    try:
        return pyfaidx.Fasta(str(ref), sequence_always_upper=uppercase, strict_bounds=True, **kwargs)
    except Exception as exc:
        raise ConnectorError(f"{where}: cannot index the reference {redact(path)!r} ({type(exc).__name__}: {exc}). "
                             "Is it FASTA (gzip must be bgzip)?") from None


class BedConnector(Connector):
    """``kind: bed`` (see the module docstring)."""

    kind = "bed"
    Options = BedSource

    @contextmanager
    def open(self, options: BedSource, wanted: list[str] | None, limit: int | None):
        """Reads the BED file in chunks and yields rows with their reference sequence.

        Raises:
            ConnectorError: Missing file or reference, a chromosome not in the reference, an
                interval past a chromosome end, start >= end, or a strand other than +, -, '.'.
        """
        import pandas as pd

        from .files import expand

        where = f"BED source {redact(options.path)}"
        names = options.names or BED12
        if options.label_column not in names:
            raise ConnectorError(f"{where}: source.label_column {options.label_column!r} is not one of the BED "
                                 f"columns {names}; set `source.names` for extra columns.")
        fa = open_reference(options.reference, options.uppercase, where)
        fs, paths, _ = expand(options.path)

        def batches():
            line = 0
            with fs.open(paths[0], "rt") as handle:
                reader = pd.read_csv(handle, sep="\t", header=None, names=names, comment="#", dtype=str,
                                     chunksize=options.chunk_rows, skip_blank_lines=True)
                for frame in reader:
                    frame = frame[~frame["chrom"].str.startswith(("track", "browser"), na=False)]
                    rows = []
                    for rec in frame.itertuples(index=False):
                        line += 1
                        rows.append(self._row(fa, rec._asdict(), options, where, line))
                    yield rows_to_batch(rows, BED_COLUMNS)

        try:
            yield Extract(columns=list(BED_COLUMNS), batches=guarded(batches(), where, "Is it tab-separated BED?"),
                          location=redact(options.path), query=None,
                          extra={"reference": redact(options.reference), "flank": options.flank,
                                 "label_column": options.label_column})
        finally:
            fa.close()

    @staticmethod
    def _row(fa, rec: dict, options: BedSource, where: str, line: int) -> tuple:
        chrom = str(rec["chrom"]).strip()
        try:
            start, end = int(rec["chromStart"]) - options.flank, int(rec["chromEnd"]) + options.flank
        except (TypeError, ValueError):
            raise ConnectorError(f"{where}: interval {line} ({chrom}): chromStart/chromEnd must be integers "
                                 f"(got {rec['chromStart']!r}, {rec['chromEnd']!r}).") from None
        strand = str(rec.get("strand") or "+").strip()
        strand = "+" if strand in ("nan", "", ".") else strand
        if strand not in "+-" or start >= end or start < 0:
            raise ConnectorError(f"{where}: interval {line} ({chrom}:{start}-{end}, strand {strand!r}) is invalid: "
                                 "need 0 <= start < end (after flank) and strand +, - or '.'.")
        if chrom not in fa:
            raise ConnectorError(f"{where}: interval {line}: chromosome {chrom!r} is not in the reference (it has "
                                 f"{list(fa.keys())[:_SHOW]}...). Use the matching reference build or rename it.")
        if end > len(fa[chrom]):
            raise ConnectorError(f"{where}: interval {line} ({chrom}:{start}-{end}) runs past the end of {chrom} "
                                 f"({len(fa[chrom])} bp). Check the reference build and `source.flank`.")
        seq = fa.get_seq(chrom, start + 1, end, rc=strand == "-")
        label = rec.get(options.label_column)
        label = None if label is None or label != label else str(label)
        name = rec.get("name")
        return (f"{chrom}:{start}-{end}({strand})", chrom, start, end, strand,
                None if name is None or name != name else str(name), str(seq), label)


class VcfConnector(Connector):
    """``kind: vcf`` (see the module docstring)."""

    kind = "vcf"
    Options = VcfSource

    @contextmanager
    def open(self, options: VcfSource, wanted: list[str] | None, limit: int | None):
        """Reads the VCF with cyvcf2 and yields reference/alternate windows per ALT allele.

        Raises:
            ConnectorError: Missing VCF or reference, ``label_info`` not declared in the header,
                or a chromosome not in the reference.
        """
        import cyvcf2

        where = f"VCF source {redact(options.path)}"
        if not Path(options.path).expanduser().is_file():
            raise ConnectorError(f"{where}: no such file. `source.path` must be a local VCF/BCF file.")
        fa = open_reference(options.reference, options.uppercase, where)
        try:
            vcf = cyvcf2.VCF(str(Path(options.path).expanduser()))
        except Exception as exc:
            fa.close()
            raise ConnectorError(f"{where}: cannot open ({type(exc).__name__}: {exc}). Is it VCF/BCF?") from None
        infos = {h.info()["ID"]: h.info() for h in vcf.header_iter() if h["HeaderType"] == "INFO"}
        info_ids = list(infos)
        if options.label_info not in info_ids:
            vcf.close(), fa.close()
            raise ConnectorError(f"{where}: INFO field {options.label_info!r} is not declared in the header; it "
                                 f"declares {info_ids}. Set `source.label_info` to one of them.")
        counts = {"skipped_symbolic": 0, "clipped_windows": 0, "ref_mismatches": 0}
        number = str(infos[options.label_info].get("Number", "1"))
        notes: list[str] = []
        examples: list[str] = []

        def batches():
            rows = []
            for v in vcf:
                rows.extend(self._rows(fa, v, options, where, counts, examples, number))
                if len(rows) >= options.chunk_rows:
                    yield rows_to_batch(rows, VCF_COLUMNS)
                    rows = []
            if rows:
                yield rows_to_batch(rows, VCF_COLUMNS)
            if counts["ref_mismatches"]:
                notes.append(f"{where}: {counts['ref_mismatches']} variant(s) have a REF that differs from the "
                             f"reference ({'; '.join(examples)}). Is `source.reference` the VCF's build?")

        try:
            yield Extract(columns=list(VCF_COLUMNS), batches=guarded(batches(), where, "Is it a valid VCF?"),
                          location=redact(options.path), query=None,
                          extra={"reference": redact(options.reference), "flank": options.flank,
                                 "label_info": options.label_info, "counts": counts, "warnings": notes})
        finally:
            vcf.close()
            fa.close()

    @staticmethod
    def _rows(fa, v, options: VcfSource, where: str, counts: dict, examples: list, number: str) -> list[tuple]:
        chrom, pos, ref, alts = v.CHROM, v.POS, v.REF, v.ALT
        if chrom not in fa:
            raise ConnectorError(f"{where}: variant {chrom}:{pos}: chromosome {chrom!r} is not in the reference "
                                 f"(it has {list(fa.keys())[:_SHOW]}...). Use the VCF's reference build.")
        size = len(fa[chrom])
        start0, end0 = pos - 1, pos - 1 + len(ref)
        found = fa.get_seq(chrom, start0 + 1, min(end0, size)) if start0 < size else ""
        if str(found).upper() != ref.upper():
            counts["ref_mismatches"] += 1
            if len(examples) < _SHOW:
                examples.append(f"{chrom}:{pos} REF {ref}, reference {found}")
        lo, hi = max(0, start0 - options.flank), min(size, end0 + options.flank)
        if lo > start0 - options.flank or hi < end0 + options.flank:
            counts["clipped_windows"] += 1
        left = str(fa.get_seq(chrom, lo + 1, start0)) if start0 > lo else ""
        right = str(fa.get_seq(chrom, end0 + 1, hi)) if hi > end0 else ""
        info = v.INFO.get(options.label_info)
        if isinstance(info, str) and number in ("A", "R"):  # cyvcf2 gives per-allele strings comma-joined
            info = tuple(info.split(","))
        if isinstance(info, tuple) and number == "R" and len(info) == len(alts) + 1:
            info = info[1:]  # drop the REF value
        out = []
        for k, alt in enumerate(alts):
            if not alt or alt.startswith("<") or alt in ("*", ".") or "[" in alt or "]" in alt:
                counts["skipped_symbolic"] += 1
                continue
            label = info[k] if isinstance(info, tuple) and len(info) == len(alts) else (
                ",".join(map(str, info)) if isinstance(info, tuple) else info)
            ident = v.ID or f"{chrom}:{pos}:{ref}>{alt}"
            ident = f"{ident}:{alt}" if v.ID and len(alts) > 1 else ident
            case = str.upper if options.uppercase else str
            out.append((ident, chrom, pos, ref, alt, left + case(ref) + right, left + case(alt) + right,
                        None if label is None else (f"{label:.6g}" if isinstance(label, float) else str(label))))
        return out
