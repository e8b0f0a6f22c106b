"""Run directories: atomic staging (:mod:`.run_dir`), the files every run gets (:mod:`.writer`), the model card
(:mod:`.card`), provenance (:mod:`.provenance`) and the guard of interrupted runs' checkpoints (:mod:`.partial`)."""
