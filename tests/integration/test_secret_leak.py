"""A run whose PostgreSQL URL carries a password leaves no trace of it on disk or in its output."""

import json

import pytest
import yaml
from typer.testing import CliRunner

from tests.conftest import SPLICE_CSV, tiny_run_config
from tests.integration.test_sql_servers import server_url
from workbench.cli import app

pytestmark = [pytest.mark.integration, pytest.mark.sql_server]
PASSWORD = "Pw-leak-check-7781"


def test_password_in_url_never_reaches_disk_or_logs(tiny_model_dir, tmp_path, monkeypatch):
    import uuid

    import pandas as pd
    import sqlalchemy as sa

    base = server_url("postgresql")  # skips with the reason where PostgreSQL is not running
    url = sa.make_url(base).set(password=PASSWORD).render_as_string(hide_password=False)  # trust auth ignores it
    table = f"splice_{uuid.uuid4().hex[:8]}"
    frame = pd.read_csv(SPLICE_CSV, dtype=str, skipinitialspace=True)
    frame.columns = [c.strip() for c in frame.columns]
    engine = sa.create_engine(base)
    frame.apply(lambda c: c.str.strip()).iloc[::4].to_sql(table, engine, index=False)
    home = tmp_path / "home"
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    monkeypatch.setenv("WB_LEAK_URL", url)
    raw = tiny_run_config(tmp_path, tiny_model_dir, tmp_path / "runs", epochs=0.05)
    raw["source"] = {"kind": "sql", "url": "${WB_LEAK_URL}", "query": f'SELECT "Sequence", "Class" FROM {table}'}
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    try:
        result = CliRunner().invoke(app, ["run", str(cfg)])
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE {table}"))
        engine.dispose()
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    written = [p for root in (home, tmp_path / "runs") for p in root.rglob("*") if p.is_file()]
    assert any(p.name == "README.md" for p in written)
    audit_log = home / "audit.jsonl"  # the audit log is among the files scanned below
    assert any(json.loads(line)["action"] == "train" for line in audit_log.read_text().splitlines())
    leaks = [str(p) for p in written if PASSWORD.encode() in p.read_bytes()]
    assert leaks == [], f"password found in {leaks}"
    card = (tmp_path / "runs" / "tiny" / "README.md").read_text()
    assert "postgres:***@" in card or "postgres@" in card
