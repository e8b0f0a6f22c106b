"""Batch scoring from and back into the warehouse: :mod:`.job` (read a source in chunks, score, write) and
:mod:`.targets` (a Parquet/CSV file or a table, written atomically). CLI: ``workbench predict MODEL --source ...``."""
