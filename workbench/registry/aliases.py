"""Champion and challenger: promote a version, roll back to the previous champion, and record every decision.

The registered model's ``champion_history`` tag keeps each promotion and rollback (version, time, user, reason), so a
rollback knows the previous champion; every move is also appended to the audit log (``workbench.audit``).

From a notebook::

    from workbench.registry import promote, rollback
    promote("splice", 3, reason="beats v2 on the frozen set")
    rollback("splice")                         # champion back to the one before
"""

from __future__ import annotations

import datetime as _dt
import json

from .. import audit
from .tracking import RegistryError, client
from .versions import decisions, get_version, parse_spec

_HISTORY_KEPT = 100


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _append_history(name: str, entry: dict) -> None:
    history = decisions(name) + [entry]
    client().set_registered_model_tag(name, "champion_history", json.dumps(history[-_HISTORY_KEPT:]))


def tag_version(name: str, version: str | int, **tags) -> None:
    """Sets tags (values turned into strings) on one version."""
    c = client()
    for key, value in tags.items():
        c.set_model_version_tag(name, str(version), key, str(value))


def set_challenger(name: str, version: str | int) -> None:
    """Points the ``challenger`` alias at ``version``."""
    client().set_registered_model_alias(name, "challenger", str(version))


def promote(name: str, version: str | int | None = None, reason: str = "promoted by hand", user: str | None = None) -> dict:
    """Makes ``version`` the champion (``NAME@challenger`` or a number), recording why.

    Args:
        name: Registered model name, or ``NAME@REF`` (then ``version`` may be None).
        version: Version number, ``challenger`` or ``latest``; default the challenger.
        reason: Why; kept in the champion history, on the version and in the audit log.
        user: Who; default :func:`workbench.audit.actor`.

    Returns:
        The history entry: ``{"action", "version", "previous", "time", "user", "reason"}``.

    Raises:
        RegistryError: The model or version does not exist, or it is already the champion.
    """
    if "@" in name:
        name, ref = parse_spec(name)
        version = version or ref
    target = get_version(name, str(version or "challenger"))
    current = _champion_number(name)
    if current == str(target.version):
        raise RegistryError(f"{name} version {target.version} is already the champion.")
    c = client()
    c.set_registered_model_alias(name, "champion", str(target.version))
    aliases = dict(c.get_registered_model(name).aliases or {})
    if str(aliases.get("challenger")) == str(target.version):
        c.delete_registered_model_alias(name, "challenger")
    who = user or audit.actor()
    entry = {"action": "promote", "version": str(target.version), "previous": current, "time": _now(), "user": who,
             "reason": reason}
    _append_history(name, entry)
    tag_version(name, target.version, promoted_at=entry["time"], promoted_by=who, promotion_reason=reason)
    audit.record("promote", f"{name}@champion", user=who, version=str(target.version), previous=current,
                 reason=reason)
    return entry


def rollback(name: str, to: str | int | None = None, reason: str = "rolled back by hand", user: str | None = None) -> dict:
    """Moves the champion back to the previous champion (or to version ``to``), recording why.

    Args:
        name: Registered model name.
        to: Version number to roll back to; default the champion before the current one.
        reason: Why; kept in the champion history and in the audit log.
        user: Who; default :func:`workbench.audit.actor`.

    Returns:
        The history entry (``action`` ``rollback``).

    Raises:
        RegistryError: There is no champion, or no earlier champion to return to.
    """
    current = _champion_number(name)
    if current is None:
        raise RegistryError(f"{name} has no champion to roll back.")
    if to is None:
        earlier = [e["version"] for e in decisions(name) if e["version"] != current]
        if not earlier:
            raise RegistryError(f"{name} has had no champion before version {current}; nothing to roll back to. "
                                f"Promote another version instead (`workbench models promote {name} VERSION`).")
        to = earlier[-1]
    target = get_version(name, str(to))
    if str(target.version) == current:
        raise RegistryError(f"{name} version {current} is already the champion.")
    client().set_registered_model_alias(name, "champion", str(target.version))
    who = user or audit.actor()
    entry = {"action": "rollback", "version": str(target.version), "previous": current, "time": _now(), "user": who,
             "reason": reason}
    _append_history(name, entry)
    tag_version(name, current, rolled_back_at=entry["time"], rolled_back_by=who)
    audit.record("rollback", f"{name}@champion", user=who, version=str(target.version), previous=current,
                 reason=reason)
    return entry


def _champion_number(name: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(client().get_model_version_by_alias(name, "champion").version)
    except MlflowException:
        return None


def champion_number(name: str) -> str | None:
    """The champion's version number, or None if ``name`` has no champion (or does not exist)."""
    return _champion_number(name)


def record_model_decision(name: str, decision: dict) -> None:
    """Keeps the latest re-tune decision (JSON) in the registered model's ``last_retune`` tag."""
    client().set_registered_model_tag(name, "last_retune", json.dumps(decision, default=str)[:4900])
