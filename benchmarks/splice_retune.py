"""Two champion/challenger re-tunes on the UCI splice data with SmolLM2-135M (the splice preset, reduced epochs):
the first on part of the rows (no champion yet: it becomes the champion), the second after the rest are appended
to the source table (a challenger, compared with the champion on the frozen set). Prints and saves the figures.

Run as::

    WORKBENCH_HOME=/tmp/splice-retune python benchmarks/splice_retune.py [--first 2400] [--epochs 1] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first", type=int, default=2400, help="rows in the table at the first re-tune")
    parser.add_argument("--epochs", type=float, default=1.0, help="train.epochs of both re-tunes")
    parser.add_argument("--out", type=Path, default=None, help="JSON file for the figures")
    args = parser.parse_args()

    from workbench import paths
    from workbench.data.samples import load_splice_into_sqlite
    from workbench.retune import retune

    home = paths.home()
    bundled = home / "bundled.db"
    load_splice_into_sqlite(bundled)
    with sqlite3.connect(bundled) as conn:
        rows = conn.execute("SELECT Sequence, Class FROM splice ORDER BY id").fetchall()
    random.Random(0).shuffle(rows)  # the file is sorted by class; a warehouse table would not be
    db = home / "warehouse.db"
    db.unlink(missing_ok=True)
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE splice_rows (id INTEGER PRIMARY KEY, Sequence TEXT, Class TEXT)")
        conn.executemany("INSERT INTO splice_rows VALUES (?, ?, ?)", [(i, s, y) for i, (s, y) in enumerate(rows[:args.first])])
    overrides = {"source.url": f"sqlite:///{db}", "source.query": "SELECT Sequence, Class FROM splice_rows ORDER BY id",
                 "train.epochs": args.epochs, "name": "splice-retune"}
    config = REPO / "configs" / "splice.yaml"
    figures = {"settings": {"config": "configs/splice.yaml", **overrides, "first_rows": args.first,
                            "total_rows": len(rows)}}
    t = time.perf_counter()
    first = retune(config, overrides)
    figures["first"] = first.to_dict()
    with sqlite3.connect(db) as conn:
        conn.executemany("INSERT INTO splice_rows VALUES (?, ?, ?)",
                         [(i, s, y) for i, (s, y) in enumerate(rows[args.first:], start=args.first)])
    second = retune(config, overrides)
    figures["second"] = second.to_dict()
    third = retune(config, overrides)
    figures["third"] = third.to_dict()
    figures["total_seconds"] = time.perf_counter() - t
    text = json.dumps(figures, indent=1, default=str)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
