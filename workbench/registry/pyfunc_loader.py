"""The loader MLflow calls for a registered version's pyfunc flavor (``loader_module`` in its ``MLmodel``).

``mlflow.pyfunc.load_model("models:/NAME@champion")`` downloads the version's files (the run directory, its
packed base model under ``base/`` and a copy of this package under ``code/``) and calls :func:`_load_pyfunc` on
them; ``.predict(frame)`` then goes through the same :class:`~workbench.serving.predictor.Predictor` and
:func:`~workbench.serving.table.score_table` as ``workbench predict``. Nothing here imports MLflow: the same
object serves ``mlflow models serve`` and ``mlflow.pyfunc.spark_udf`` workers.

Run as (from a notebook)::

    import mlflow
    model = mlflow.pyfunc.load_model("models:/splice@champion")
    model.predict(pandas.DataFrame({"Sequence": ["CCAGCTGCATCACAGGAGGCC..."]}))
"""

from __future__ import annotations

from pathlib import Path


class WorkbenchPyfunc:
    """A loaded run behind MLflow's ``predict(data, params)`` interface.

    Args:
        predictor: The loaded :class:`~workbench.serving.predictor.Predictor`.
    """

    def __init__(self, predictor):
        self.predictor = predictor
        self.column = predictor.task.get("sequence_column") or "sequence"

    def predict(self, data, params: dict | None = None):
        """Scores a table of sequences.

        Args:
            data: A :class:`pandas.DataFrame` with the run's sequence column (``task.json`` ``sequence_column``,
                else ``sequence``), shape ``(rows, columns)``; a list of strings or a dict of columns also works.
            params: ``{"batch_size": int}`` (optional; sequences per forward pass, default 64).

        Returns:
            A :class:`pandas.DataFrame` of shape ``(rows, outputs)`` (the columns of
            :func:`workbench.serving.table.output_columns`), in input order; refused rows carry the reason in
            ``error`` and null predictions.

        Raises:
            ValueError: The table has no sequence column (the message lists the columns it has).
        """
        import pandas as pd

        from ..serving.table import score_table

        frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(
            data if isinstance(data, dict) else {self.column: list(data)})
        column = next((c for c in (self.column, "sequence") if c in frame.columns), None)
        if column is None:
            raise ValueError(f"the input has no {self.column!r} column (it has {list(frame.columns)}); send the "
                             f"sequences in a column named {self.column!r}.")
        batch_size = int((params or {}).get("batch_size", 64))
        return score_table(self.predictor, frame[column].tolist(), batch_size=batch_size)


def _load_pyfunc(path: str) -> WorkbenchPyfunc:
    """MLflow's entry point: loads the model directory ``path`` (the version's run directory with ``base/``)."""
    from ..serving.predictor import Predictor

    return WorkbenchPyfunc(Predictor.load(Path(path)))
