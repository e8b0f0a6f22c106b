"""Shared by the re-tune tests: a shuffled splice table in the real PostgreSQL on loopback, and a re-tune config for
the tiny random Llama that reads it."""

from __future__ import annotations

import random
import sqlite3
import uuid
from pathlib import Path

import pytest
import yaml

from tests.integration.test_sql_servers import server_url


def splice_rows(db: Path) -> list[tuple[str, str]]:
    """The bundled splice rows ``(sequence, class)`` in a fixed shuffled order (the file is sorted by class)."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT Sequence, Class FROM splice ORDER BY id").fetchall()
    random.Random(0).shuffle(rows)
    return rows


class Table:
    """A uniquely named ``(id, seq, label)`` table in PostgreSQL; :meth:`append` adds the next rows."""

    def __init__(self, url: str, rows: list[tuple[str, str]]):
        import sqlalchemy as sa

        self.url, self.rows, self.name, self.n = url, rows, f"rt_{uuid.uuid4().hex[:10]}", 0
        self.engine = sa.create_engine(url)
        with self.engine.begin() as conn:
            conn.execute(sa.text(f"CREATE TABLE {self.name} (id INTEGER PRIMARY KEY, seq VARCHAR(80), "
                                 "label VARCHAR(8))"))

    def append(self, count: int) -> None:
        import sqlalchemy as sa

        batch = [{"i": i, "s": s, "l": y} for i, (s, y) in enumerate(self.rows[self.n:self.n + count], start=self.n)]
        with self.engine.begin() as conn:
            conn.execute(sa.text(f"INSERT INTO {self.name} (id, seq, label) VALUES (:i, :s, :l)"), batch)
        self.n += len(batch)

    def drop(self) -> None:
        import sqlalchemy as sa

        with self.engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {self.name}"))
        self.engine.dispose()


@pytest.fixture
def pg_table(splice_db):
    """A PostgreSQL table with the first 1,200 shuffled splice rows (skips where PostgreSQL is not reachable)."""
    table = Table(server_url("postgresql"), splice_rows(splice_db))
    table.append(1200)
    yield table
    table.drop()


@pytest.fixture
def retune_home(tmp_path, monkeypatch):
    """A fresh WORKBENCH_HOME (embedded SQLite tracking store) for one test."""
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("WORKBENCH_TRACKING_URI", raising=False)
    return tmp_path / "home"


def retune_config(path: Path, table: Table, model_dir: Path, *, train: dict | None = None,
                  retune: dict | None = None) -> Path:
    """Writes a classification config for the tiny model on ``table`` (registered model ``splice-pg``)."""
    raw = {
        "name": "splice-pg",
        "source": {"kind": "sql", "url": table.url, "query": f"SELECT seq, label FROM {table.name} ORDER BY id"},
        "columns": {"sequence": "seq", "label": "label"},
        "data": {"seed": 0},
        "model": {"base_model": str(model_dir)},
        "lora": {"r": 8, "lora_alpha": 16},
        # last-token pooling and 4 epochs: the tiny random Llama learns splice a little (validation ~0.63 against a
        # 0.53 majority class), so a re-tune's learning check lets it through; 2 epochs learn nothing
        "task": {"label_words": {"EI": "donor", "IE": "acceptor", "N": "neither"}, "pooling": "last"},
        "train": {"epochs": 4.0, "learning_rate": 3e-3, "batch_size": 32, "precision": "fp32", "backend": "auto",
                  **(train or {})},
        "retune": {"metric": "mcc", "margin": 0.0, "bootstrap": 300, "min_free_gb": 0.1, **(retune or {})},
    }
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path
