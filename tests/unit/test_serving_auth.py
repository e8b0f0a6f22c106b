"""Demo sign-in: password hashing, the password file, credentials from the environment, the refusal to expose a
demo without sign-in, and that a share link cannot be turned on."""

import os
import stat

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.serving.auth import (AuthError, Credentials, add_user, hash_password, is_loopback, load_credentials,
                                    parse_auth_file, require_credentials, verify_password)


@settings(max_examples=25, deadline=None)
@given(password=st.text(min_size=1, max_size=40), other=st.text(max_size=40))
def test_hash_verifies_only_its_password(password, other):
    encoded = hash_password(password, iterations=50)
    assert verify_password(password, encoded)
    assert verify_password(other, encoded) == (other == password)


@given(garbage=st.text(max_size=80))
def test_verify_never_raises_on_a_malformed_hash(garbage):
    assert verify_password("x", garbage) is False


def test_password_file_round_trip_and_mode(tmp_path):
    path = tmp_path / "users.txt"
    add_user(path, "alice", "first")
    add_user(path, "bob", "second")
    add_user(path, "alice", "changed")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    creds = load_credentials(path, env={})
    assert set(creds.users) == {"alice", "bob"}
    assert creds.check("alice", "changed") and not creds.check("alice", "first") and creds.check("bob", "second")
    assert not creds.check("carol", "second") and not creds.check("", "")
    assert "changed" not in path.read_text()


@pytest.mark.parametrize("text,message", [
    ("alice:plaintext\n", "line 1: expected `user:pbkdf2_sha256"),
    ("# comment\n\n:pbkdf2_sha256$1$00$00\n", "line 3"),
    ("# only a comment\n", "lists no users"),
])
def test_malformed_password_file_names_the_line(text, message):
    with pytest.raises(AuthError, match=message):
        parse_auth_file(text)


@pytest.mark.parametrize("user", ["", "a:b", "with space"])
def test_bad_user_names_are_refused(tmp_path, user):
    with pytest.raises(AuthError, match="user name"):
        add_user(tmp_path / "u.txt", user, "pw")


def test_credentials_from_environment_and_half_set_variables():
    creds = load_credentials(env={"WORKBENCH_DEMO_USER": "ops", "WORKBENCH_DEMO_PASSWORD": "env-pw-1"})
    assert creds.source == "environment" and creds.check("ops", "env-pw-1") and not creds.check("ops", "nope")
    assert "env-pw-1" not in repr(creds)
    assert load_credentials(env={}) is None
    with pytest.raises(AuthError, match="only one of"):
        load_credentials(env={"WORKBENCH_DEMO_USER": "ops"})
    with pytest.raises(AuthError, match="does not exist"):
        load_credentials(env={"WORKBENCH_DEMO_AUTH_FILE": "/nonexistent/users.txt"})


@pytest.mark.parametrize("host,loopback", [("127.0.0.1", True), ("127.8.9.1", True), ("localhost", True),
                                           ("::1", True), ("[::1]", True), ("0.0.0.0", False), ("::", False),
                                           ("10.0.0.5", False), ("demo.internal", False), ("", False)])
def test_loopback_detection(host, loopback):
    assert is_loopback(host) is loopback


def test_non_loopback_without_credentials_is_refused():
    with pytest.raises(AuthError, match="refusing to serve on 0.0.0.0 without sign-in.*WORKBENCH_DEMO_USER"):
        require_credentials("0.0.0.0", None)
    require_credentials("0.0.0.0", Credentials({"a": hash_password("b", iterations=10)}))
    require_credentials("127.0.0.1", None)


def test_serve_refuses_before_loading_the_model(tmp_path, monkeypatch):
    from workbench.serving.demo import serve

    for name in ("WORKBENCH_DEMO_USER", "WORKBENCH_DEMO_PASSWORD", "WORKBENCH_DEMO_AUTH_FILE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(AuthError, match="refusing to serve on 0.0.0.0"):
        serve(tmp_path / "no_such_run", host="0.0.0.0", port=0, block=False)


def test_cli_serve_refuses_non_loopback_with_a_message(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from workbench.cli import app

    for name in ("WORKBENCH_DEMO_USER", "WORKBENCH_DEMO_PASSWORD", "WORKBENCH_DEMO_AUTH_FILE"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(app, ["serve", str(tmp_path), "--host", "0.0.0.0"])
    assert result.exit_code == 2 and "refusing to serve on 0.0.0.0 without sign-in" in result.output
    assert "Traceback" not in result.output


def test_share_link_cannot_be_turned_on(monkeypatch):
    """``launch`` passes share=False explicitly, so GRADIO_SHARE=true is ignored; the serve functions have no
    share argument at all."""
    import inspect

    import gradio as gr

    from workbench.serving import chat_app, demo, launch

    monkeypatch.setenv("GRADIO_SHARE", "true")
    with gr.Blocks() as app:
        gr.Markdown("hello")
    url = launch.launch(app, "test-target", "127.0.0.1", 0)
    try:
        assert url.startswith("http://127.0.0.1:") and app.share is False and app.share_url is None
    finally:
        app.close()
    for fn in (demo.serve, chat_app.serve_chat, launch.launch):
        assert "share" not in inspect.signature(fn).parameters
    with pytest.raises(TypeError):
        demo.serve("run", share=True)
