"""The command-line reference, written from the Typer application itself, so that it lists every command registered
on :data:`workbench.cli.app.app` with the help texts ``workbench COMMAND --help`` prints.

The documentation site renders it at build time (``docs/hooks/generate.py``, page ``reference/cli.md``).

Run as::

    python -m workbench.cli.reference > cli.md
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer


def _is_group(command: Any) -> bool:
    return hasattr(command, "list_commands")


def _commands(command: Any, path: str, parent: typer.Context | None) -> Iterator[tuple[str, Any, typer.Context]]:
    """``(full command line, command, its context)`` for ``command`` and, for a group, each sub-command (Typer's
    own Click commands: typer >= 0.24 vendors Click, so they are duck-typed here)."""
    ctx = typer.Context(command, info_name=path.split(" ")[-1], parent=parent)
    if _is_group(command):
        if parent is not None and command.help:
            yield path, command, ctx
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                yield from _commands(sub, f"{path} {name}", ctx)
    else:
        yield path, command, ctx


def _cell(text: str) -> str:
    parts = " ".join(text.split()).replace("|", "\\|").split("`")
    parts[::2] = [p.replace("<", "&lt;").replace(">", "&gt;") for p in parts[::2]]
    return "`".join(parts)


def command_section(path: str, command: Any, ctx: typer.Context) -> str:
    """One command: its usage line, its help and a table of its arguments and options."""
    params = command.get_params(ctx)
    arguments = [p.name.upper() + ("..." if p.nargs == -1 else "") for p in params if p.param_type_name == "argument"]
    usage = " ".join([path, "[OPTIONS]", *(arguments if not _is_group(command) else ["COMMAND [ARGS]..."])])
    lines = [f"## `{path}`", "", "```text", usage, "```", "", (command.help or "").strip(), ""]
    records = [r for p in params if (r := p.get_help_record(ctx)) and "--help" not in r[0]]
    if records and not _is_group(command):
        lines += ["| argument / option | what it does |", "|---|---|"]
        lines += [f"| `{' '.join(name.split())}` | {_cell(help_text)} |" for name, help_text in records]
        lines.append("")
    return "\n".join(lines)


def cli_reference(app: typer.Typer | None = None) -> str:
    """The reference of every ``workbench`` command as Markdown (commands in ``workbench --help`` order).

    Args:
        app: The Typer application (default: :data:`workbench.cli.app.app` with every command module registered).
    """
    if app is None:
        from . import app as registered  # importing the package registers every command module

        app = registered
    root = typer.main.get_command(app)
    intro = ["# Command line", "", "Every `workbench` command with its arguments and options, generated from the "
             "command-line application when this site is built (`workbench/cli/reference.py`); "
             "`workbench COMMAND --help` prints the same. Errors are one red `error:` line and exit status 2 "
             "(see [Troubleshooting](../troubleshooting.md)); `workbench retune` has exit codes of its own "
             "([Re-tunes](../data-teams/retunes.md)).", ""]
    return "\n".join(intro + [command_section(*item) for item in _commands(root, "workbench", None)])


if __name__ == "__main__":
    print(cli_reference())
