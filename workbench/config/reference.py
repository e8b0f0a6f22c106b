"""The configuration reference, written from the pydantic schemas themselves, so that it cannot drift from the code.

:func:`config_reference` renders every schema registered in :data:`workbench.config.SCHEMAS` (whatever task types
exist when it runs), group by group, one table row per field (type, default, allowed values, description), and the
``source:`` block once, kind by kind. The documentation site renders it at build time (``docs/hooks/generate.py``,
page ``reference/configuration.md``).

Run as::

    python -m workbench.config.reference > configuration.md
"""

from __future__ import annotations

import json
import re
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal, Union

import annotated_types as at
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from .base import SCHEMAS

# groups in the order a reader meets them: what the data is, how it becomes a task, the model, training, then the rest
_ORDER = ("columns", "data", "task", "model", "lora", "train", "eval", "published", "serve", "registry", "retune")
_BOUNDS = ((at.Gt, "gt", ">"), (at.Ge, "ge", "≥"), (at.Lt, "lt", "<"), (at.Le, "le", "≤"))


@dataclass
class FieldRow:
    """One documented field.

    Attributes:
        name: The field's dotted path, e.g. ``train.max_steps``.
        type: Its type in YAML words (``int``, ``str or null``, ``list of str``, ``group``).
        default: Its default as YAML (``16``, ``"mean"``, ``null``), or ``required``.
        allowed: Allowed values (a ``Literal``'s values) or bounds (``≥ 0``); empty when anything of the type goes.
        description: The schema's own description.
    """

    name: str
    type: str
    default: str
    allowed: str
    description: str


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation holds (``X``, ``X | None``, a discriminated union of them)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models(arg)]


def type_words(annotation: Any) -> str:
    """An annotation in YAML words: ``int``, ``str or null``, ``list of str``, ``mapping str → float``, ``group``."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return type_words(args[0])
    if origin is Literal:
        return " or ".join(sorted({type(a).__name__ for a in args}))
    if origin in (Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if len(inner) > 1 and all(_models(a) for a in inner):
            return "group (one of the kinds)"
        words = " or ".join(type_words(a) for a in inner)
        return words + (" or null" if len(inner) < len(args) else "")
    if origin in (list, tuple, set):
        return f"list of {type_words(args[0])}" if args else "list"
    if origin is dict:
        return f"mapping {type_words(args[0])} → {type_words(args[1])}" if args else "mapping"
    if _models(annotation):
        return "group"
    if annotation is Any:
        return "any"
    return getattr(annotation, "__name__", str(annotation))


def allowed_words(info: FieldInfo) -> str:
    """A field's allowed values: a ``Literal``'s values (also inside ``X | None``), else its numeric bounds."""
    literals = [a for a in [info.annotation, *typing.get_args(info.annotation)] if typing.get_origin(a) is Literal]
    if literals:
        return ", ".join(f"`{json.dumps(v)}`" for lit in literals for v in typing.get_args(lit))
    bounds = [f"{sign} {getattr(m, attr):g}" for m in info.metadata for kind, attr, sign in _BOUNDS
              if isinstance(m, kind)]
    return ", ".join(bounds)


def default_words(info: FieldInfo, value: Any = PydanticUndefined) -> str:
    """A field's default as YAML (JSON is YAML): ``value`` where the parent group's default sets it, else the
    field's own default or default factory; ``required`` where there is none."""
    if value is PydanticUndefined:
        if info.is_required():
            return "required"
        value = info.get_default(call_default_factory=True, validated_data={})
    if isinstance(value, BaseModel):
        return "(group below)"
    return json.dumps(value, default=str)


def _cell(text: str) -> str:
    """One table cell: line breaks folded, pipes escaped, Sphinx roles (``:mod:`x```) made code, and ``<``/``>``
    outside code spans written as entities, so that ``<output_dir>/<name>`` is not taken for HTML."""
    text = re.sub(r":(?:mod|class|func|data|meth|attr):`~?([^`]+)`", r"`\1`", " ".join(str(text).split()))
    text = text.replace("``", "`")
    parts = text.split("`")
    parts[::2] = [p.replace("<", "&lt;").replace(">", "&gt;") for p in parts[::2]]
    return "`".join(parts).replace("|", "\\|")


def rows(model: type[BaseModel], prefix: str = "", instance: BaseModel | None = None,
         only: typing.Iterable[str] | None = None) -> list[FieldRow]:
    """One :class:`FieldRow` per field of ``model`` (not descending into groups).

    Args:
        model: A pydantic model class (a run config or one of its groups).
        prefix: Dotted path of the group, e.g. ``"train."``.
        instance: The group's default instance where the parent sets one (its values are the defaults shown: chat
            SFT's ``train`` group defaults to a learning rate of 2e-4, not the class's 1e-3).
        only: Field names to include (default: all).
    """
    out = []
    for name, info in model.model_fields.items():
        if only is not None and name not in only:
            continue
        value = getattr(instance, name) if instance is not None else PydanticUndefined
        out.append(FieldRow(prefix + name, type_words(info.annotation), default_words(info, value),
                            allowed_words(info), info.description or ""))
    return out


def table(field_rows: list[FieldRow]) -> str:
    """A Markdown table of field rows (pipes escaped, line breaks folded)."""
    lines = ["| field | type | default | allowed | description |", "|---|---|---|---|---|"]
    for r in field_rows:
        default = "**required**" if r.default == "required" else _code(r.default)
        lines.append(f"| {_code(r.name)} | {_cell(r.type)} | {default} | {_cell(r.allowed)} | {_cell(r.description)} |")
    return "\n".join(lines)


def _code(text: str) -> str:
    """A code span in a table cell (whitespace folded; a pipe inside a code span does not split the cell)."""
    return "`" + " ".join(str(text).split()) + "`"


def _doc(model: type[BaseModel]) -> str:
    return _cell((model.__doc__ or "").strip().split("\n\n")[0])


def _groups(model: type[BaseModel], prefix: str, instance: BaseModel | None, anchor: str, depth: int) -> list[str]:
    """Sections for the groups of ``model`` (recursively), each a heading, its docstring and its table."""
    out = []
    names = sorted(model.model_fields, key=lambda n: _ORDER.index(n) if n in _ORDER else len(_ORDER))
    for name in names:
        info = model.model_fields[name]
        kinds = _models(info.annotation)
        if name == "source" and len(kinds) > 1:
            continue  # the source block is documented once, kind by kind
        if len(kinds) != 1:
            continue
        group = kinds[0]
        value = getattr(instance, name, None) if instance is not None else None
        if value is None and not info.is_required() and info.default_factory is not None:
            value = info.get_default(call_default_factory=True, validated_data={})
        path = f"{prefix}{name}"
        slug = f"{anchor}-{path}" if anchor else path
        out += [f"{'#' * depth} `{path}` {{#{slug.replace('.', '-')}}}", "", _doc(group), "",
                table(rows(group, path + ".", value)), ""]
        out += _groups(group, path + ".", value, anchor, depth + 1)
    return out


def schema_section(task_types: list[str], schema: type[BaseModel]) -> str:
    """The reference of one run-config schema: its top-level fields, then each group."""
    anchor = "-".join(task_types)
    title = ", ".join(f"`{t}`" for t in task_types)
    # plain fields, and the source-union fields (source, validation_source, test_source) that link to its block
    top = [n for n, info in schema.model_fields.items() if len(_models(info.annotation)) != 1]
    body = [f"## task.type: {title} {{#{anchor}}}", "",
            f"{_doc(schema)} Schema: `{schema.__module__}.{schema.__name__}`.", "",
            table(rows(schema, "", None, top)).replace("| group (one of the kinds)",
                                                     "| group: [the source block](#source)"), ""]
    return "\n".join(body + _groups(schema, "", None, anchor, 3))


def source_section() -> str:
    """The ``source:`` block: the fields every kind takes, then each built-in kind's own fields."""
    from data_connectors.config import CommonSource, PluginSource, SourceConfig

    kinds = [m for m in _models(SourceConfig) if m is not PluginSource]
    out = ["## The source block {#source}", "",
           "`source:` says where the rows come from; `kind` picks the connector (`data_connectors`). "
           "Any other `kind` is served by an installed plugin (entry point group `workbench.connectors`), whose "
           "own fields its `Options` model validates. Fields every kind takes:", "",
           table(rows(CommonSource, "source.")), ""]
    out += _groups(CommonSource, "source.", None, "", 3)
    for kind in kinds:
        own = [n for n in kind.__dict__.get("__annotations__", {}) if n in kind.model_fields and n != "kind"]
        name = typing.get_args(kind.model_fields["kind"].annotation)[0]
        needed = set(getattr(kind, "_needs", ()))
        kind_rows = [FieldRow(r.name, r.type, "required", r.allowed, r.description)
                     if r.name.removeprefix("source.") in needed else r for r in rows(kind, "source.", None, own)]
        out += [f"### kind: `{name}` {{#source-{name}}}", "", _doc(kind), "", table(kind_rows), ""]
        for field in own:
            for group in _models(kind.model_fields[field].annotation):
                out += [f"#### `source.{field}` {{#source-{name}-{field}}}", "", _doc(group), "",
                        table(rows(group, f"source.{field}.")), ""]
    return "\n".join(out)


def config_reference() -> str:
    """The whole configuration reference as Markdown: every registered schema, then the source block.

    Schemas registered for several task types (classification and regression share one) are rendered once.
    """
    by_schema: dict[type, list[str]] = {}
    for task_type, schema in SCHEMAS.items():
        by_schema.setdefault(schema, []).append(task_type)
    intro = ["# Configuration reference", "",
             "Every field of every run config, generated from the pydantic schemas when this site is built "
             "(`workbench/config/reference.py`), so it matches the code it was built from. A config is YAML; "
             "`task.type` picks the schema; `${VAR}` and `${VAR:-default}` are expanded from the environment; "
             "`workbench run CONFIG --set train.max_steps=600` overrides a field. Unknown fields are errors.", "",
             "Task types: " + ", ".join(f"[`{t}`](#{'-'.join(ts)})" for ts in by_schema.values() for t in ts)
             + "; [the source block](#source).", ""]
    sections = [schema_section(types_, schema) for schema, types_ in by_schema.items()]
    return "\n".join(intro + sections + [source_section(), ""])


if __name__ == "__main__":
    print(config_reference())
