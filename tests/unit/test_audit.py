"""Tests for workbench.audit: append-only events, queries as digests, secrets redacted."""

from __future__ import annotations

import json
import threading

import pytest

from data_connectors import register_secret
from workbench import audit


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    monkeypatch.delenv("WORKBENCH_AUDIT_QUERIES", raising=False)
    return tmp_path


def test_events_are_appended_never_rewritten(home):
    audit.record("run", "configs/a.yaml", metrics={"accuracy": 0.9})
    first = (home / "audit.jsonl").read_bytes()
    audit.record("promote", "splice@champion", version=3)
    after = (home / "audit.jsonl").read_bytes()
    assert after.startswith(first)
    events = audit.read_events()
    assert [e["action"] for e in events] == ["run", "promote"]
    assert events[1]["version"] == 3 and events[0]["user"] == audit.actor()


def test_queries_are_counts_and_digests_unless_the_admin_turns_raw_on(home, monkeypatch):
    seq = "ACGT" * 15
    audit.record("query", "run", **audit.describe_queries([seq, seq[:10]]))
    text = (home / "audit.jsonl").read_text()
    assert seq not in text and "ACGTACGTAC" not in text
    event = audit.read_events()[0]
    assert event["count"] == 2 and event["chars"] == 70
    assert event["sha256"][0] == audit.digest(seq)
    monkeypatch.setenv("WORKBENCH_AUDIT_QUERIES", "1")
    audit.record("query", "run", **audit.describe_queries([seq]))
    assert audit.read_events()[1]["raw"] == [seq]


def test_secrets_never_reach_the_log(home):
    register_secret("hunter2-very-secret")
    audit.record("run", "postgresql://bob:pw123@db/x", password="pw123", note="token hunter2-very-secret")
    text = (home / "audit.jsonl").read_text()
    assert "hunter2-very-secret" not in text and "pw123" not in text


def test_an_unknown_action_is_refused_with_the_known_ones(home):
    with pytest.raises(ValueError, match="promote"):
        audit.record("promot", "x")
    assert not (home / "audit.jsonl").exists()


def test_concurrent_writers_never_interleave_lines(home):
    def write(i):
        for j in range(25):
            audit.record("query", f"t{i}", pad="x" * 2000, j=j)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = (home / "audit.jsonl").read_text().splitlines()
    assert len(lines) == 200
    assert all(json.loads(line)["pad"] == "x" * 2000 for line in lines)
