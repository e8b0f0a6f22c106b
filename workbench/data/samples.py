"""The bundled sample data: UCI splice-junction sequences loaded into a SQLite "warehouse".

Data source: UCI Machine Learning Repository, "Molecular Biology (Splice-junction Gene
Sequences)", donated 1992 by G. Towell, M. Noordewier and J. Shavlik; sequences from
GenBank 64.1. Licence CC BY 4.0. https://doi.org/10.24432/C5M888
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import tempfile
from importlib import resources
from pathlib import Path

SPLICE_SHA256 = "a8e1f2f76ef4c2393bb5d072c6e94c2db919d9c319a377012b59a5567fe6f5e8"
SPLICE_CITATION = ("Towell, G., Noordewier, M. & Shavlik, J. (1992). Molecular Biology (Splice-junction Gene "
                   "Sequences) [Dataset]. UCI Machine Learning Repository. https://doi.org/10.24432/C5M888 (CC BY 4.0)")


def splice_csv() -> Path:
    """Returns the path of the bundled ``splice.csv`` (3,190 rows; columns Class, Donor, Sequence).

    Raises:
        RuntimeError: If the file's sha256 differs from the published one (corrupted install).
    """
    path = Path(str(resources.files("workbench") / "resources" / "splice" / "splice.csv"))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != SPLICE_SHA256:
        raise RuntimeError(f"{path} has sha256 {digest}, expected {SPLICE_SHA256}; reinstall the workbench.")
    return path


def load_splice_into_sqlite(db_path: str | Path, table: str = "splice") -> int:
    """Writes the bundled splice data into a SQLite table, replacing the file atomically.

    The table has columns ``id`` (1-based row number), ``Class``, ``Donor`` and ``Sequence``
    with the CSV's padding spaces stripped.

    Args:
        db_path: SQLite file to create or replace.
        table: Table name.

    Returns:
        Number of rows written.
    """
    import pandas as pd

    frame = pd.read_csv(splice_csv(), dtype=str, skipinitialspace=True)
    frame.columns = [c.strip() for c in frame.columns]
    frame = frame.apply(lambda col: col.str.strip())
    frame.insert(0, "id", range(1, len(frame) + 1))
    db_path = Path(db_path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{db_path.name}.", dir=db_path.parent)
    os.close(fd)
    try:
        with sqlite3.connect(tmp) as conn:
            frame.to_sql(table, conn, index=False, if_exists="replace")
        os.replace(tmp, db_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return len(frame)


def gc_content(sequence: str) -> float:
    """Fraction of G and C among the bases of an A/C/G/T sequence, in [0, 1]."""
    return (sequence.count("G") + sequence.count("C")) / len(sequence)


def write_gc_csv(path: str | Path) -> int:
    """Writes the regression demo data: each bundled splice sequence and its GC content.

    A deterministic derivation for demonstrating the regression pipeline, **not** a biological
    result: GC content is a simple computable property of the 60-nt sequence itself (a linear
    function of its 1-mer counts). Rows whose sequence carries IUPAC ambiguity codes (15 of
    3,190) are left out, since their GC content is undefined. Repeated sequences are kept, so the
    run's duplicate policy acts on them as it does for classification. Written atomically.

    Args:
        path: CSV file to create or replace; columns ``id`` (splice row number), ``sequence``,
            ``gc_content`` (rounded to 6 decimals).

    Returns:
        Number of rows written.
    """
    import pandas as pd

    frame = pd.read_csv(splice_csv(), dtype=str, skipinitialspace=True)
    frame.columns = [c.strip() for c in frame.columns]
    seqs = frame["Sequence"].str.strip().str.upper()
    out = pd.DataFrame({"id": range(1, len(frame) + 1), "sequence": seqs})
    out = out[out["sequence"].str.fullmatch(r"[ACGT]+")]
    out["gc_content"] = [round(gc_content(s), 6) for s in out["sequence"]]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        out.to_csv(tmp, index=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return len(out)
