"""Data: the bridge to ``data_connectors``, sequence validation, conversations, seeded splits, bundled samples.

- :mod:`.sources`: read a run's source and validate its rows;
- :mod:`.sequences`: the IUPAC alphabet, ambiguity policy and prompt format;
- :mod:`.conversations`: rows -> chat conversations, answer normalisation, the conversation split;
- :mod:`.splits`: seeded, stratified train/validation/test splits with duplicate control;
- :mod:`.samples`: the bundled UCI splice data (SQLite "warehouse") and the GC-content CSV.
"""
