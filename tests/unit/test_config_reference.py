"""The configuration reference (workbench/config/reference.py) documents every field of every registered schema,
a schema registered later included, with its type, default, allowed values and description."""

from __future__ import annotations

import re
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from workbench.config import SCHEMAS, RunBase
from workbench.config.base import _Group
from workbench.config.reference import config_reference, default_words, rows, table, type_words


def _field_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every dotted field path of a run config, descending into single-model groups (not the source union)."""
    out = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        kinds = [a for a in (annotation, *getattr(annotation, "__args__", ())) if isinstance(a, type)
                 and issubclass(a, BaseModel)]
        if name == "source":
            continue
        out.append(prefix + name)
        if len(kinds) == 1:
            out += _field_paths(kinds[0], f"{prefix}{name}.")
    return out


@pytest.fixture(scope="module")
def reference() -> str:
    return config_reference()


@pytest.mark.parametrize("task_type", sorted(SCHEMAS))
def test_every_field_of_every_registered_schema_has_a_row(reference, task_type):
    schema = SCHEMAS[task_type]
    section = next(s for s in reference.split("## task.type:")[1:] if f"`{task_type}`" in s.split("\n")[0])
    for path in _field_paths(schema):
        leaf_is_group = any(p.startswith(path + ".") for p in _field_paths(schema))
        assert leaf_is_group or f"| `{path}` |" in section, f"{task_type}: no row for {path}"
    assert f"`{schema.__module__}.{schema.__name__}`" in section


def test_rows_carry_type_default_allowed_and_description(reference):
    row = next(line for line in reference.splitlines() if line.startswith("| `train.max_steps` |"))
    assert row.split(" | ")[1:4] == ["int", "`1800`", "≥ 0"] and "min(epochs x steps per epoch" in row
    precision = next(line for line in reference.splitlines() if line.startswith("| `train.precision` |"))
    assert '`"auto"`, `"fp32"`, `"bf16"`' in precision
    assert re.search(r"\| `lora.lora_dropout` \| float \| `0.0` \| ≥ 0, &lt; 1 \|", reference)  # < as an entity
    assert "| `name` | str | **required** |" in reference


def test_defaults_come_from_the_parent_group_instance():
    from workbench.config import RunConfig, SFTConfig

    sft = {r.name: r.default for r in rows(SFTConfig.model_fields["train"].default_factory().__class__, "train.",
                                           SFTConfig.model_fields["train"].default_factory())}
    seq = {r.name: r.default for r in rows(RunConfig.model_fields["train"].default_factory().__class__, "train.")}
    assert sft["train.learning_rate"] == "0.0002" and seq["train.learning_rate"] == "0.001"


def test_a_task_type_registered_later_appears_without_editing_the_generator(monkeypatch):
    class ProbeGroup(_Group):
        """Settings of a probe task."""

        window: int = Field(128, gt=0, description="Bases per <window> (see :class:`ProbeConfig`).")
        mode: Literal["a", "b"] = Field("a", description="Which mode.")

    class ProbeConfig(RunBase):
        """One probe run."""

        probe: ProbeGroup = Field(default_factory=ProbeGroup)

    monkeypatch.setitem(SCHEMAS, "probe-task", ProbeConfig)
    text = config_reference()
    assert "[`probe-task`](#probe-task)" in text and "## task.type: `probe-task` {#probe-task}" in text
    assert "### `probe` {#probe-task-probe}" in text
    row = next(line for line in text.splitlines() if line.startswith("| `probe.window` |"))
    assert "| int | `128` | > 0 |" in row.replace("&gt;", ">")
    assert "Bases per &lt;window&gt; (see `ProbeConfig`)." in row  # HTML-looking text escaped, Sphinx role as code
    assert '`"a"`, `"b"`' in next(line for line in text.splitlines() if line.startswith("| `probe.mode` |"))


def test_the_source_block_documents_each_kind_and_what_it_needs(reference):
    section = reference[reference.index("## The source block"):]
    for kind in ("sql", "files", "duckdb", "fasta", "bed", "vcf"):
        assert f"### kind: `{kind}` {{#source-{kind}}}" in section
    sql = section[section.index("### kind: `sql`"):section.index("### kind: `files`")]
    assert "| `source.url` | str or null | **required** |" in sql and "| `source.chunk_rows` | int | `10000` |" in sql
    assert "### `source.sample` {#source-sample}" in section and "#### `source.label_table`" in section


def test_type_and_default_words():
    assert type_words(dict[str, float]) == "mapping str → float"
    assert type_words(list[str] | None) == "list of str or null"
    assert type_words(Literal["x", "y"]) == "str"
    assert default_words(SCHEMAS["classification"].model_fields["output_dir"]) == "null"
    assert table([]).count("\n") == 1
