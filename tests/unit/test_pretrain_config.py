"""The pretraining run config: what it needs, what it refuses, and the predictor fields that use unlabelled rows."""

import pytest

from workbench.config import ConfigError, validate_config
from workbench.tasks import get_task

BASE = {"name": "lm", "task": {"type": "pretrain"}}


def test_a_pretraining_config_needs_a_corpus_and_reads_fasta_alone():
    with pytest.raises(ConfigError, match="needs a corpus: corpus.fasta, corpus.vcf and/or source"):
        validate_config(BASE)
    cfg = validate_config({**BASE, "corpus": {"fasta": ["g.fa.gz"]}})
    assert cfg.task.window == 100 and cfg.task.loss == "dna" and cfg.task.markov_order == 5 and cfg.source is None
    with pytest.raises(ValueError, match="no `source:` to preview"):
        get_task("pretrain")(cfg).column_mapping()


def test_the_prompt_must_end_with_the_sequence():
    with pytest.raises(ConfigError, match="task.prompt must end with {sequence}"):
        validate_config({**BASE, "corpus": {"fasta": ["g.fa"]}, "task": {"type": "pretrain",
                                                                         "prompt": "DNA: {sequence}\nClass:"}})


def test_a_connector_source_is_read_by_its_sequence_column_without_a_label():
    cfg = validate_config({**BASE, "source": {"kind": "sql", "url": "sqlite:///x.db", "query": "SELECT s FROM t"},
                           "columns": {"sequence": "s"}})
    mapping = get_task("pretrain")(cfg).column_mapping()
    assert (mapping.sequence, mapping.label, mapping.text) == ("s", "s", True)


def test_task_adaptive_pretraining_needs_one_token_per_base():
    raw = {"name": "p", "source": {"kind": "files", "path": "x.csv"}, "train": {"pretrain_steps": 10}}
    assert validate_config(raw).train.pretrain_steps == 10
    with pytest.raises(ConfigError, match="train.pretrain_steps needs one token per base"):
        validate_config({**raw, "task": {"kmer": 2}})
    with pytest.raises(ConfigError, match="label_fraction"):
        validate_config({**raw, "train": {"label_fraction": 0}})
