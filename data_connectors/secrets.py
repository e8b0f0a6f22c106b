"""Credentials: late-bound secret references, a ``.env`` file, the system keyring, and redaction.

A run config names its secrets instead of holding them. Two kinds of reference are
resolved by the connector at the moment it connects, so the secret never enters the
validated config, the saved ``config.yaml``, the lineage or the model card:

* ``${env:NAME}``: the environment variable ``NAME``, else ``NAME`` from the ``.env``
  file (``source.env_file``, default ``.env`` in the working directory), read with
  python-dotenv (https://github.com/theskumar/python-dotenv) without changing ``os.environ``.
* ``${keyring:SERVICE/USERNAME}``: the password stored in the system keyring
  (https://github.com/jaraco/keyring), e.g. after ``keyring set warehouse alice``.

(The workbench itself expands plain ``${NAME}`` when it loads the YAML; such values are
in the config, so :func:`redact_config` must be applied before saving it.)

Every value resolved here, and every password found in a URL, is registered, and
:func:`redact` replaces registered values as well as ``user:password@`` URL parts and
``password=``/``secret=``/``token=`` query parameters in any text.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from pathlib import Path
from typing import Any

from .errors import ConnectorError

_REF = re.compile(r"\$\{(env|keyring):([^}]+)\}")
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^\s/]*)@")
_QUERY_SECRET = re.compile(
    r"(?P<key>[?&;](?:password|passwd|pwd|secret|token|key|sig|access_key|secret_key|sas_token|"
    r"aws_secret_access_key|aws_session_token|credential)=)(?P<value>[^&;\s'\"]+)", re.IGNORECASE)
_SECRET_KEYS = re.compile(r"^(key|.*(password|passwd|pwd|secret|token|credential|private|api_?key|access_?key|"
                          r"account_key|sas|connection_string).*)$", re.I)
_MIN_SECRET = 4  # shorter values are not replaced in free text (too many false hits)
_lock = threading.Lock()
_registered: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remembers a secret value so that :func:`redact` removes it from any text.

    Args:
        value: The secret (a password, token, full URL ...). ``None`` and values shorter
            than 4 characters are ignored.
    """
    if value and len(value) >= _MIN_SECRET:
        with _lock:
            _registered.add(value)
            # URL-encoded and decoded forms can both show up in driver messages.
            from urllib.parse import quote, unquote

            _registered.update(v for v in (quote(value, safe=""), unquote(value)) if len(v) >= _MIN_SECRET)


def redact(text: str) -> str:
    """Removes secrets from ``text``.

    Replaces the password of every ``scheme://user:password@host`` URL by ``***``,
    the value of secret-like query parameters (``?password=...``, ``&token=...``) by ``***``,
    and every value registered with :func:`register_secret` by ``***``.

    Args:
        text: Any string, e.g. ``"postgresql://bob:s3cret@db/warehouse"``.

    Returns:
        The string with secrets replaced, e.g. ``"postgresql://bob:***@db/warehouse"``.
    """
    if not text:
        return text
    with _lock:
        known = sorted(_registered, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, "***")
    text = _URL_PASSWORD.sub(lambda m: f"{m.group('scheme')}{m.group('user')}:***@", text)
    return _QUERY_SECRET.sub(lambda m: f"{m.group('key')}***", text)


def redact_config(data: Any) -> Any:
    """Returns a copy of a config structure safe to save, log or send to a tracker.

    Strings go through :func:`redact`; values under secret-like keys (``password``,
    ``token``, ``secret``, ``key`` ..., e.g. in ``storage_options``) become ``"***"``
    unless they are still unresolved ``${env:...}``/``${keyring:...}`` references.

    Args:
        data: A dict/list/scalar tree, e.g. ``RunConfig.model_dump(mode="json")``.

    Returns:
        The redacted copy (the input is not modified).
    """
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            if isinstance(value, str) and _SECRET_KEYS.search(str(key)) and not _REF.fullmatch(value):
                out[key] = "***"
            else:
                out[key] = redact_config(value)
        return out
    if isinstance(data, (list, tuple)):
        return [redact_config(v) for v in data]
    return redact(data) if isinstance(data, str) else data


def _dotenv_values(env_file: str | os.PathLike | None) -> dict[str, str]:
    if env_file is None:
        return {}
    path = Path(env_file).expanduser()
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def resolve_secrets(value: Any, env_file: str | os.PathLike | None = ".env") -> Any:
    """Replaces ``${env:NAME}`` and ``${keyring:SERVICE/USER}`` references by their values.

    Strings inside dicts and lists are resolved too. Each resolved value is registered
    for redaction; a URL's password is registered as well.

    Args:
        value: A string, or a dict/list tree of strings (e.g. ``storage_options``).
        env_file: ``.env`` file consulted after ``os.environ`` for ``${env:NAME}``;
            ignored when it does not exist.

    Returns:
        The same structure with references replaced.

    Raises:
        ConnectorError: If a variable is in neither the environment nor the ``.env`` file,
            if no keyring backend is available, or the keyring has no such entry; the
            message says how to provide it (never the secret).
    """
    if isinstance(value, dict):
        return {k: resolve_secrets(v, env_file) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_secrets(v, env_file) for v in value]
    if not isinstance(value, str):
        return value
    dotenv_cache: dict[str, str] | None = None

    def sub(match: re.Match) -> str:
        nonlocal dotenv_cache
        source, name = match.group(1), match.group(2).strip()
        if source == "env":
            if name in os.environ:
                secret = os.environ[name]
            else:
                dotenv_cache = _dotenv_values(env_file) if dotenv_cache is None else dotenv_cache
                if name not in dotenv_cache:
                    raise ConnectorError(
                        f"${{env:{name}}}: the variable {name} is not set and not in the .env file "
                        f"{str(env_file)!r}. Export it or add `{name}=...` to that file (keep the file out of git).")
                secret = dotenv_cache[name]
        else:
            secret = _keyring_password(name)
        if "://" in secret:  # a whole URL: hide its password, keep host and database readable
            register_url_password(secret)
        else:
            register_secret(secret)
        return secret

    resolved = _REF.sub(sub, value)
    register_url_password(resolved)
    return resolved


def _keyring_password(ref: str) -> str:
    if "/" not in ref:
        raise ConnectorError(f"${{keyring:{ref}}}: write the reference as ${{keyring:SERVICE/USERNAME}}.")
    service, user = ref.split("/", 1)
    try:
        import keyring
        from keyring.errors import KeyringError

        secret = keyring.get_password(service, user)
    except KeyringError as exc:
        raise ConnectorError(
            f"${{keyring:{ref}}}: no usable system keyring ({type(exc).__name__}: {exc}). Use a desktop keyring, "
            "install a backend such as keyrings.alt, or use ${env:NAME} with a .env file instead.") from None
    if secret is None:
        raise ConnectorError(
            f"${{keyring:{ref}}}: the keyring has no password for service {service!r}, user {user!r}. "
            f"Store it with `keyring set {service} {user}`.")
    return secret


def register_url_password(url: str) -> None:
    """Registers the password (if any) of every URL in ``url`` for redaction.

    Args:
        url: A URL such as ``postgresql+psycopg://alice:pw@db/lims``.
    """
    for match in _URL_PASSWORD.finditer(url or ""):
        register_secret(match.group("pw"))
    for match in _QUERY_SECRET.finditer(url or ""):
        register_secret(match.group("value"))


class RedactingFilter(logging.Filter):
    """Logging filter that passes every record's message through :func:`redact`.

    Install it on a handler (``handler.addFilter(RedactingFilter())``) or call
    :func:`install_log_redaction` once at start-up.
    """

    def filter(self, record: logging.LogRecord) -> bool:  # noqa: D102
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Adds a :class:`RedactingFilter` to every handler of ``logger`` (default: the root logger).

    Args:
        logger: The logger whose handlers should redact; idempotent.
    """
    logger = logger or logging.getLogger()
    for handler in logger.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
