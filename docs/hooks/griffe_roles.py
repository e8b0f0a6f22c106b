"""A Griffe extension for the API reference (``extensions:`` of mkdocstrings in ``mkdocs.yml``): the docstrings
name objects with Sphinx roles (``:class:`RunConfig```, ``:func:`setup```), which Markdown would show verbatim;
this writes them as code spans before mkdocstrings renders them.

Run as: loaded by ``mkdocs build`` through ``mkdocs.yml``.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:mod|class|func|meth|attr|data|exc|obj|py:\w+):`~?([^`]+)`")


def plain_roles(text: str) -> str:
    """``:class:`~a.B``` -> ```a.B```: Sphinx roles as Markdown code spans."""
    return ROLE.sub(r"`\1`", text)


class SphinxRoles(griffe.Extension):
    """Rewrites the Sphinx roles of every docstring as Markdown code spans."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Runs once per object, after the tree is built."""
        if obj.docstring is not None:
            obj.docstring.value = plain_roles(obj.docstring.value)
