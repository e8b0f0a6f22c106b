"""Credentials: ${env:...} with a .env file, ${keyring:...}, redaction of text, configs and logs."""

import logging
import sqlite3

import keyring
import pytest
from keyring.backend import KeyringBackend

from data_connectors import (ColumnMapping, ConnectorError, read_source, redact, redact_config, register_secret,
                             resolve_secrets)
from data_connectors.secrets import RedactingFilter


class DictKeyring(KeyringBackend):
    """An in-memory keyring backend, standing in for the system keyring."""

    priority = 1

    def __init__(self, entries):
        super().__init__()
        self.entries = entries

    def get_password(self, service, username):
        return self.entries.get((service, username))

    def set_password(self, service, username, password):
        self.entries[(service, username)] = password

    def delete_password(self, service, username):
        self.entries.pop((service, username), None)


@pytest.fixture
def fake_keyring():
    before = keyring.get_keyring()
    keyring.set_keyring(DictKeyring({("warehouse", "alice"): "kr-Pa55word!"}))
    yield
    keyring.set_keyring(before)


@pytest.fixture
def db(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    path = tmp_path / "w.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (seq TEXT, label TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [("ACGT", "a"), ("GGCC", "b")])
    return path


def test_env_reference_from_environment_then_dotenv_file(tmp_path, monkeypatch, db):
    env = tmp_path / "creds.env"
    env.write_text(f"WAREHOUSE_URL=sqlite:///{db}\nAPI_TOKEN='tok-123456'\n")
    monkeypatch.delenv("WAREHOUSE_URL", raising=False)
    src = {"kind": "sql", "url": "${env:WAREHOUSE_URL}", "query": "SELECT seq, label FROM t", "env_file": str(env)}
    ds, lin = read_source(src, ColumnMapping("seq", "label"))
    assert len(ds) == 2 and lin.location == f"sqlite:///{db}"
    assert resolve_secrets({"token": "${env:API_TOKEN}"}, env) == {"token": "tok-123456"}
    monkeypatch.setenv("API_TOKEN", "from-environment")
    assert resolve_secrets("${env:API_TOKEN}", env) == "from-environment"
    with pytest.raises(ConnectorError, match=r"\$\{env:NOPE\}: the variable NOPE is not set and not in the .env file"):
        resolve_secrets("x${env:NOPE}", env)


def test_keyring_reference_is_resolved_and_never_shown(fake_keyring):
    url = resolve_secrets("postgresql+psycopg://alice:${keyring:warehouse/alice}@127.0.0.1:1/lims")
    assert url == "postgresql+psycopg://alice:kr-Pa55word!@127.0.0.1:1/lims"
    assert redact(f"failed: {url} / password kr-Pa55word!") == (
        "failed: postgresql+psycopg://alice:***@127.0.0.1:1/lims / password ***")
    with pytest.raises(ConnectorError,
                       match=r"no password for service 'warehouse', user 'bob'.*keyring set warehouse bob"):
        resolve_secrets("${keyring:warehouse/bob}")
    with pytest.raises(ConnectorError) as err:
        read_source({"kind": "sql", "url": "postgresql+psycopg://alice:${keyring:warehouse/alice}@127.0.0.1:1/lims",
                     "query": "SELECT 1"})
    assert "kr-Pa55word!" not in str(err.value) and "alice:***@127.0.0.1:1" in str(err.value)


def test_keyring_without_backend_says_what_to_do():
    from keyring.backends.fail import Keyring as FailKeyring

    before = keyring.get_keyring()
    keyring.set_keyring(FailKeyring())
    try:
        with pytest.raises(ConnectorError, match=r"no usable system keyring.*\$\{env:NAME\}"):
            resolve_secrets("${keyring:svc/user}")
    finally:
        keyring.set_keyring(before)


def test_redact_urls_query_strings_and_registered_values():
    register_secret("Zq9-registered-secret")
    text = ("mysql+pymysql://root:p@ss:w0rd@db:3306/x?ssl=1&password=hunter22 "
            "abfs://c?sig=abcdef123&sv=2020 token Zq9-registered-secret")
    out = redact(text)
    for secret in ("p@ss:w0rd", "hunter22", "abcdef123", "Zq9-registered-secret"):
        assert secret not in out
    assert "mysql+pymysql://root:***@db:3306/x?ssl=1&password=***" in out and "sv=2020" in out


def test_redact_config_for_saved_configs():
    cfg = {"source": {"kind": "files", "path": "s3://bucket/x.parquet",
                      "storage_options": {"key": "AKIA123", "secret": "s3cr3t-value", "anon": False,
                                          "token": "${keyring:aws/token}"},
                      "url": "postgresql://u:pw1234@h/db"}, "train": {"epochs": 1}}
    out = redact_config(cfg)
    assert out["source"]["storage_options"] == {"key": "***", "secret": "***", "anon": False,
                                                "token": "${keyring:aws/token}"}
    assert out["source"]["url"] == "postgresql://u:***@h/db" and out["train"] == {"epochs": 1}
    assert cfg["source"]["storage_options"]["secret"] == "s3cr3t-value"  # input untouched


def test_log_filter_redacts_records(caplog):
    register_secret("log-secret-9876")
    logger = logging.getLogger("dc-test")
    handler = logging.StreamHandler()
    handler.addFilter(RedactingFilter())
    logger.addHandler(handler)
    try:
        with caplog.at_level(logging.INFO, logger="dc-test"):
            caplog.handler.addFilter(RedactingFilter())
            logger.info("connecting to %s with %s", "postgresql://u:pw5678@h/db", "log-secret-9876")
    finally:
        logger.removeHandler(handler)
    assert "pw5678" not in caplog.text and "log-secret-9876" not in caplog.text and "u:***@h/db" in caplog.text


def test_workbench_saved_config_has_no_url_password():
    from workbench.config import validate_config
    from workbench.runs.provenance import saved_config

    cfg = validate_config({"name": "s", "source": {"kind": "sql", "url": "postgresql+psycopg://bob:Sup3rS3cret@db/w",
                                                   "query": "SELECT 1"}})
    assert "Sup3rS3cret" not in str(saved_config(cfg)) and "Sup3rS3cret" not in str(redact_config(cfg.model_dump()))
