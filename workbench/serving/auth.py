"""Sign-in for the demo: who may use it, from environment variables or a file of hashed passwords.

Credentials never go in the run config. Either set ``WORKBENCH_DEMO_USER`` and ``WORKBENCH_DEMO_PASSWORD``
(one user), or point ``WORKBENCH_DEMO_AUTH_FILE`` (or ``workbench serve --auth-file``) at a file of lines
``user:pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>`` written by this module. A demo that binds anything
but loopback without credentials is refused.

Run as (add or replace a user; the password is asked for, or read from ``WORKBENCH_DEMO_PASSWORD``)::

    python -m workbench.serving.auth add USER --file demo_users.txt
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path

ENV_USER, ENV_PASSWORD, ENV_FILE = "WORKBENCH_DEMO_USER", "WORKBENCH_DEMO_PASSWORD", "WORKBENCH_DEMO_AUTH_FILE"
SCHEME, ITERATIONS = "pbkdf2_sha256", 300_000
HOW_TO = (f"set {ENV_USER} and {ENV_PASSWORD}, or write a password file with `python -m workbench.serving.auth add "
          f"USER --file FILE` and pass it with --auth-file FILE (or {ENV_FILE}=FILE)")


class AuthError(ValueError):
    """Raised for missing or malformed demo credentials; the message says how to set them."""


def hash_password(password: str, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    """Returns ``pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>`` of ``password`` (PBKDF2-HMAC-SHA256)."""
    if not password:
        raise AuthError("the demo password is empty; choose a non-empty one.")
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return f"{SCHEME}${iterations}${salt.hex()}${digest.hex()}"


def verify_password(password: str, encoded: str) -> bool:
    """True if ``password`` matches ``encoded`` (from :func:`hash_password`); compared in constant time."""
    try:
        scheme, iterations, salt, digest = encoded.split("$")
        if scheme != SCHEME:
            return False
        got = hashlib.pbkdf2_hmac("sha256", (password or "").encode("utf-8"), bytes.fromhex(salt), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), digest)


@dataclass
class Credentials:
    """Users allowed to sign in, with their hashed passwords (no plain-text password is kept).

    Attributes:
        users: User name -> ``pbkdf2_sha256$...`` hash.
        source: Where they came from (``environment`` or the file's path), for the audit log.
    """

    users: dict[str, str] = field(default_factory=dict)
    source: str = ""

    def check(self, user: str, password: str) -> bool:
        """True if ``user`` exists and ``password`` is theirs."""
        encoded = self.users.get(user or "")
        return bool(encoded) and verify_password(password, encoded)


def parse_auth_file(text: str, where: str = "the password file") -> dict[str, str]:
    """Parses ``user:pbkdf2_sha256$...`` lines (blank lines and ``#`` comments allowed).

    Raises:
        AuthError: Naming the line that is malformed and what a line must look like.
    """
    users = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, _, encoded = line.partition(":")
        parts = encoded.split("$")
        if not user or len(parts) != 4 or parts[0] != SCHEME or not parts[1].isdigit():
            raise AuthError(f"{where}, line {n}: expected `user:{SCHEME}$ITERATIONS$SALT$HASH`; write lines with "
                            "`python -m workbench.serving.auth add USER --file FILE`.")
        users[user] = encoded
    if not users:
        raise AuthError(f"{where} lists no users; add one with `workbench demo-user add USER --file FILE`.")
    return users


def load_credentials(auth_file: str | Path | None = None, env: dict | None = None) -> Credentials | None:
    """The demo's credentials: ``auth_file``, else ``$WORKBENCH_DEMO_AUTH_FILE``, else the user/password variables.

    Returns:
        :class:`Credentials`, or None when none are configured.

    Raises:
        AuthError: If the file is missing or malformed, or only one of the two variables is set.
    """
    env = os.environ if env is None else env
    path = auth_file or env.get(ENV_FILE)
    if path:
        path = Path(path)
        if not path.is_file():
            raise AuthError(f"demo password file {path} does not exist; {HOW_TO}.")
        return Credentials(parse_auth_file(path.read_text(), str(path)), str(path))
    user, password = env.get(ENV_USER), env.get(ENV_PASSWORD)
    if bool(user) != bool(password):
        raise AuthError(f"only one of {ENV_USER} and {ENV_PASSWORD} is set; set both (or neither).")
    if not user:
        return None
    from data_connectors import register_secret

    register_secret(password)  # redacted from logs and the audit trail from now on
    return Credentials({user: hash_password(password, iterations=50_000)}, "environment")


def is_loopback(host: str) -> bool:
    """True if ``host`` only reaches this machine (``localhost``, ``127.0.0.0/8``, ``::1``)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def require_credentials(host: str, credentials: Credentials | None) -> None:
    """Refuses to expose a demo without sign-in.

    Raises:
        AuthError: If ``host`` is not loopback and ``credentials`` is None.
    """
    if credentials is None and not is_loopback(host):
        raise AuthError(f"refusing to serve on {host} without sign-in: anyone on the network could use the model. "
                        f"To require sign-in, {HOW_TO}; or bind 127.0.0.1.")


def add_user(path: str | Path, user: str, password: str) -> None:
    """Adds ``user`` (or replaces their password) in the password file at ``path``, created with mode 0600.

    Raises:
        AuthError: If the user name is empty or contains ``:`` or whitespace, or the password is empty.
    """
    if not user or ":" in user or any(c.isspace() for c in user):
        raise AuthError("the user name must be non-empty, without ':' or spaces.")
    path = Path(path)
    lines = [ln for ln in (path.read_text().splitlines() if path.exists() else [])
             if ln.strip() and ln.partition(":")[0] != user]
    lines.append(f"{user}:{hash_password(password)}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    """``add USER --file FILE``: asks for the password (or reads ``$WORKBENCH_DEMO_PASSWORD``) and writes it."""
    import argparse
    import getpass

    parser = argparse.ArgumentParser(prog="python -m workbench.serving.auth", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="Add a user or replace their password.")
    add.add_argument("user")
    add.add_argument("--file", required=True, help="Password file to write (mode 0600).")
    args = parser.parse_args(argv)
    password = os.environ.get(ENV_PASSWORD) or getpass.getpass(f"password for {args.user}: ")
    try:
        add_user(args.file, args.user, password)
    except AuthError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.user} to {args.file}; serve with --auth-file {args.file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
