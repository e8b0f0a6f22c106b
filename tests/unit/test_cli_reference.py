"""The command-line reference (workbench/cli/reference.py) lists every registered command with its arguments and
options, a command added later included."""

from __future__ import annotations

import typer

from workbench.cli import app
from workbench.cli.reference import cli_reference


def _command_lines(group, prefix="workbench") -> list[str]:
    out = []
    for info in group.registered_commands:
        out.append(f"{prefix} {info.name or info.callback.__name__.replace('_', '-')}")
    for sub in group.registered_groups:
        out += _command_lines(sub.typer_instance, f"{prefix} {sub.name}")
    return out


def test_every_registered_command_has_a_section_with_its_options():
    text = cli_reference()
    commands = _command_lines(app)
    assert {"workbench run", "workbench retune", "workbench docs", "workbench models promote"} <= set(commands)
    for command in commands:
        assert f"## `{command}`" in text, command
    run = text[text.index("## `workbench run`"):text.index("## `workbench load-sample-data`")]
    assert "workbench run [OPTIONS] CONFIG" in run and "| `--dry-run` |" in run and "[default: 7860]" in run
    assert "&lt;output_dir&gt;" in run  # help text that looks like HTML is escaped


def test_a_command_added_later_appears():
    extra = typer.Typer()

    @extra.command()
    def first() -> None:
        """The first command."""

    @extra.command("second-one")
    def second(count: int = typer.Option(3, help="How many <things>.")) -> None:
        """The second command."""

    text = cli_reference(extra)
    assert "## `workbench first`" in text and "## `workbench second-one`" in text
    assert "workbench second-one [OPTIONS]" in text and "How many &lt;things&gt;. [default: 3]" in text
