"""SQL connector against the real PostgreSQL (psycopg 3) and MariaDB (PyMySQL) servers on loopback.

Each test creates its own uniquely named table and drops it. A server that is not reachable
skips its tests with the reason (see data_connectors/README.md for how CI starts them).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import uuid
import warnings
from pathlib import Path

import pytest

from data_connectors import ColumnMapping, ConnectorError, DataWarning, fingerprint_rows, preview_text, read_source
from data_connectors.pipeline import cache_dir

pytestmark = pytest.mark.sql_server
COLS = ColumnMapping("seq", "label")
URLS = {
    "postgresql": [os.environ.get("DC_TEST_POSTGRES_URL") or "postgresql+psycopg://postgres@127.0.0.1:5432/test",
                   "postgresql+psycopg://root@127.0.0.1:5432/test"],
    "mariadb": [os.environ.get("DC_TEST_MARIADB_URL") or "mysql+pymysql://root@127.0.0.1:3306/test"],
}
_reachable: dict[str, str | None] = {}


def server_url(name: str) -> str:
    """The first URL of ``name`` that connects, else skips the test with the reason."""
    import sqlalchemy as sa

    if name not in _reachable:
        errors = []
        for url in URLS[name]:
            try:
                engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
                with engine.connect() as conn:
                    conn.execute(sa.text("SELECT 1"))
                engine.dispose()
                _reachable[name] = url
                break
            except Exception as exc:  # driver missing or server down
                errors.append(f"{url}: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}")
        else:
            _reachable[name] = None
            _reachable[name + ":why"] = "; ".join(errors)
    if _reachable[name] is None:
        pytest.skip(f"{name} not reachable on 127.0.0.1 ({_reachable[name + ':why']}); "
                    "start it as in data_connectors/README.md")
    return _reachable[name]


@pytest.fixture(params=["postgresql", "mariadb"])
def server(request, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    return request.param, server_url(request.param)


@pytest.fixture
def table(server):
    """A fresh table ``dc_<hex>`` (id, seq, label) with 5,000 rows; dropped afterwards."""
    import sqlalchemy as sa

    name, url = server
    tname = f"dc_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {tname} (id INTEGER PRIMARY KEY, seq VARCHAR(80), label VARCHAR(16))"))
        fill(conn, tname, 5000)
    yield name, url, tname, engine
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {tname}"))
    engine.dispose()


def fill(conn, tname: str, rows: int, start: int = 0) -> None:
    import sqlalchemy as sa

    seq = lambda i: "".join("ACGT"[(i * 7 + k * k) % 4] for k in range(40))  # noqa: E731
    conn.execute(sa.text(f"INSERT INTO {tname} (id, seq, label) VALUES (:i, :s, :l)"),
                 [{"i": i, "s": seq(i), "l": ("enh", "non")[i % 2]} for i in range(start, start + rows)])


def src(url, tname, **kw):
    return {"kind": "sql", "url": url, "query": f"SELECT id, seq, label FROM {tname} ORDER BY id", **kw}


def test_streams_with_bound_parameters_in_chunks(table):
    name, url, tname, _ = table
    seen = []
    ds, lin = read_source(src(url, tname, query=f"SELECT id, seq, label FROM {tname} WHERE label = :lab ORDER BY id",
                              params={"lab": "enh"}, chunk_rows=700, id_column="id"), COLS, progress=seen.append)
    assert len(ds) == 2500 and set(ds["label"]) == {"enh"} and ds["id"][:2] == ["0", "2"]
    assert seen == list(range(700, 2500, 700)) + [2500]
    assert lin.extra["server_side_cursor"] is True and lin.extra["params"] == {"lab": "enh"}
    assert lin.fingerprint == fingerprint_rows(zip(ds["sequence"], ds["label"]))
    with pytest.raises(ConnectorError, match="no rows"):
        read_source(src(url, tname, query=f"SELECT seq, label FROM {tname} WHERE label = :lab",
                        params={"lab": "enh' OR '1'='1"}), COLS)


def test_fingerprint_same_data_same_digest_one_changed_row_differs(table):
    import sqlalchemy as sa

    name, url, tname, engine = table
    _, a = read_source(src(url, tname), COLS)
    _, b = read_source(src(url, tname, chunk_rows=333), COLS)
    assert a.fingerprint == b.fingerprint and a.rows == 5000
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {tname} SET seq = :s WHERE id = 4321"), {"s": "A" * 40})
    _, c = read_source(src(url, tname), COLS)
    assert c.fingerprint != a.fingerprint


def test_same_rows_from_both_servers_give_the_same_fingerprint(tmp_path, monkeypatch):
    import sqlalchemy as sa

    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    prints = []
    for name in ("postgresql", "mariadb"):
        url, tname = server_url(name), f"dc_{uuid.uuid4().hex[:10]}"
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text(f"CREATE TABLE {tname} (id INTEGER PRIMARY KEY, seq VARCHAR(80), label VARCHAR(16))"))
            fill(conn, tname, 300)
        try:
            prints.append(read_source(src(url, tname), COLS)[1].fingerprint)
        finally:
            with engine.begin() as conn:
                conn.execute(sa.text(f"DROP TABLE {tname}"))
            engine.dispose()
    assert prints[0] == prints[1]


def test_statement_timeout_is_enforced_by_the_server(server):
    name, url = server
    query = ("SELECT pg_sleep(5)::text AS seq, 'x' AS label" if name == "postgresql"
             else "SELECT SLEEP(5) AS seq, 'x' AS label")
    with pytest.raises(ConnectorError, match=r"timeout_s=0.5 s and was cancelled"):
        read_source({"kind": "sql", "url": url, "query": query, "timeout_s": 0.5}, COLS)


def test_sample_is_reproducible_across_row_order(table):
    name, url, tname, _ = table
    a, _ = read_source(src(url, tname, sample={"fraction": 0.1, "seed": 3}, id_column="id"), COLS)
    b, _ = read_source(src(url, tname, query=f"SELECT id, seq, label FROM {tname} ORDER BY id DESC",
                           sample={"fraction": 0.1, "seed": 3}, id_column="id"), COLS)
    assert 350 < len(a) < 650 and sorted(a["id"]) == sorted(b["id"])


def test_bad_data_gets_named_rows(table):
    import sqlalchemy as sa

    name, url, tname, engine = table
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {tname} SET label = NULL WHERE id IN (10, 20)"))
        conn.execute(sa.text(f"UPDATE {tname} SET seq = 'ACGZ' WHERE id = 30"))
    with pytest.raises(ConnectorError, match=r"2 row\(s\).*first row indices: \[10, 20\].*row 10 \(id '10'\): label"):
        read_source(src(url, tname, id_column="id"), COLS)
    with pytest.raises(ConnectorError, match=r"\['sequence'\] not found; the source has columns \['id', 'seq', "):
        read_source(src(url, tname), ColumnMapping("sequence", "label"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds, lin = read_source(src(url, tname, query=f"SELECT id % 100 AS id, seq, label FROM {tname} WHERE "
                                  "label = 'non' ORDER BY id", id_column="id", nulls="drop"), COLS)
    text = " ".join(str(w.message) for w in caught if w.category is DataWarning)
    assert "every row has the label 'non'" in text and "ID value(s) in `id` occur more than once" in text
    assert len(ds) == 2500


def _drop_after_first_batch(name: str, url: str, marker: str):
    """A progress callback that kills the reading session from a second connection after the first batch."""
    import sqlalchemy as sa

    done = []

    def kill(rows: int) -> None:
        if done:
            return
        done.append(rows)
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            if name == "postgresql":
                conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                     "WHERE application_name = :a AND pid <> pg_backend_pid()"), {"a": marker})
            else:
                ids = conn.execute(sa.text("SELECT id FROM information_schema.PROCESSLIST WHERE INFO LIKE :m "
                                           "AND id <> CONNECTION_ID()"), {"m": f"%{marker}%"}).scalars().all()
                for pid in ids:
                    conn.execute(sa.text(f"KILL {int(pid)}"))
        engine.dispose()

    return kill


def test_dropped_connection_mid_read_is_clear_and_leaves_nothing(table):
    name, url, tname, engine = table
    with engine.begin() as conn:
        fill(conn, tname, 145_000, start=5000)  # enough rows that MariaDB cannot have sent them all yet
    marker = f"dc_drop_{uuid.uuid4().hex[:8]}"
    if name == "postgresql":
        read_url, query = f"{url}?application_name={marker}", f"SELECT id, seq, label FROM {tname} ORDER BY id"
    else:
        read_url, query = url, f"SELECT id, seq, label, '{marker}' AS m FROM {tname} ORDER BY id"
    with pytest.raises(ConnectorError, match=r"the connection was lost after \d+ rows.*Nothing was kept"):
        read_source({"kind": "sql", "url": read_url, "query": query, "chunk_rows": 1000}, COLS,
                    progress=_drop_after_first_batch(name, url, marker))
    assert list(cache_dir().iterdir()) == []


def test_password_never_leaves_a_trace(server, caplog, tmp_path):
    """A URL with a password: nothing in lineage, errors, preview, logs, warnings or files on disk holds it."""
    name, url = server
    secret = "Leak-Me-7f3a9"
    user = url.split("://", 1)[1].split("@", 1)[0]
    secret_url = url.replace(f"://{user}@", f"://{user}:{secret}@")
    texts = []
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if name == "postgresql":  # trust auth accepts any password: a full successful read
            ds, lin = read_source({"kind": "sql", "url": secret_url, "query": "SELECT 'ACGT' AS seq, 'a' AS label"},
                                  COLS)
            texts += [json.dumps(lin.to_dict()), preview_text({"kind": "sql", "url": secret_url,
                                                               "query": "SELECT 'ACGT' AS seq, 'a' AS label"}, COLS)]
            assert f"{user}:***@" in lin.location
        for query in ("SELECT nope FROM nowhere", "SELECT 1 AS seq, 2 AS label"):
            try:
                read_source({"kind": "sql", "url": secret_url, "query": query}, COLS)
            except ConnectorError as exc:
                texts.append(str(exc))
    texts += [caplog.text] + [str(w.message) for w in caught]
    blobs = [p.read_bytes() for p in (tmp_path / "home").rglob("*") if p.is_file()]
    assert texts and not [t for t in texts if secret in t]
    assert not [b for b in blobs if secret.encode() in b]


MEMORY_CHILD = r"""
import json, resource, sys, warnings
import data_connectors
from data_connectors import ColumnMapping, read_source
warnings.simplefilter("ignore")
source = {"kind": "sql", "url": sys.argv[1], "query": sys.argv[2], "chunk_rows": 5000}
read_source({**source, "limit": 5000}, ColumnMapping("seq", "label"))  # warm-up: imports, driver, first batch
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
ds, lin = read_source(source, ColumnMapping("seq", "label"))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"rows": len(ds), "before_kb": before, "after_kb": after}))
"""


def test_memory_stays_bounded_on_a_large_table(tmp_path):
    """400,000 rows (~40 MB of text; pandas.read_sql grows by ~340 MB) stream through with a small peak-RSS growth
    (measured ~30 MB after a warm-up read; the bound is 60 MB)."""
    import sqlalchemy as sa

    url, tname = server_url("postgresql"), f"dc_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {tname} AS SELECT i AS id, translate(md5(i::text) || md5((i + 1)::text) "
                             "|| md5((i + 2)::text), '0123456789abcdef', 'ACGTACGTACGTACGT') AS seq, "
                             "CASE WHEN i % 2 = 0 THEN 'enh' ELSE 'non' END AS label "
                             "FROM generate_series(1, 400000) AS i"))
    try:
        env = {**os.environ, "WORKBENCH_HOME": str(tmp_path), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        out = subprocess.run([sys.executable, "-c", MEMORY_CHILD, url, f"SELECT seq, label FROM {tname}"], env=env,
                             capture_output=True, text=True, timeout=300, check=True)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE {tname}"))
        engine.dispose()
    result = json.loads(out.stdout.strip().splitlines()[-1])
    growth_mb = (result["after_kb"] - result["before_kb"]) / 1024
    assert result["rows"] == 400_000
    assert growth_mb < 60, f"peak RSS grew by {growth_mb:.0f} MB while reading 400k rows"
