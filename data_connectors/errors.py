"""Error and warning types shared by every connector."""

from __future__ import annotations


class ConnectorError(ValueError):
    """Raised when a source cannot be read or its rows do not fit the declared mapping.

    The message always says what was wrong and what to do next, and never holds a secret.
    """


class DataWarning(UserWarning):
    """Warned for data that can be read but deserves a look (one label class, letters outside
    the DNA alphabet, duplicate IDs, dropped NULL rows). Each warning is also kept in
    ``Lineage.extra["warnings"]`` so the model card records it."""
