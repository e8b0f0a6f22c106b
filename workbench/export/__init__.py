"""Export a run as adapter, merged weights or GGUF, each checked against the adapter (:mod:`.formats`); the GGUF
writer (:mod:`.gguf`)."""

from .formats import DTYPES, FORMATS, TOLERANCE, ExportError, ExportResult, compare, export_run, result_dict, summary

__all__ = ["DTYPES", "FORMATS", "TOLERANCE", "ExportError", "ExportResult", "compare", "export_run", "result_dict",
           "summary"]
