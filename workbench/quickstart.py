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
