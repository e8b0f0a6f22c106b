"""Run configuration: small pydantic groups per concern, one schema per task type, loaded from YAML.

- :mod:`.base`: the groups every task shares (model, LoRA, train, serve) and the schema registry;
- :mod:`.sequence`: classification and regression runs (:class:`RunConfig`, the default recipe);
- :mod:`.sft`: chat SFT runs (:class:`SFTConfig`);
- :mod:`.loader`: YAML, ``${VAR}`` expansion, ``--set`` overrides, validation that lists every problem at once.
"""

from .base import (SCHEMAS, ConfigError, LoRAConfig, ModelConfig, PublishedConfig, RegistryConfig, RetuneConfig,
                   RunBase, ServeConfig, SplitConfig, TrainConfig, register_schema)
from .loader import (expand_env, load_config, parse_overrides, read_yaml, task_type, validate_config,
                     validate_model)
from .pretrain import PretrainConfig
from .sequence import (ColumnsConfig, DataConfig, RunConfig, SequenceLoRAConfig, SequenceModelConfig,
                       SequenceTrainConfig, TaskConfig)
from .sft import (SFTColumnsConfig, SFTConfig, SFTDataConfig, SFTEvalConfig, SFTTaskConfig, SFTTrainConfig,
                  load_sft_config, validate_sft_config)

__all__ = [
    "SCHEMAS", "ColumnsConfig", "ConfigError", "DataConfig", "LoRAConfig", "ModelConfig", "PretrainConfig", "PublishedConfig",
    "RegistryConfig", "RetuneConfig", "RunBase", "RunConfig", "SFTColumnsConfig", "SFTConfig", "SFTDataConfig",
    "SFTEvalConfig", "SFTTaskConfig", "SFTTrainConfig", "SequenceLoRAConfig", "SequenceModelConfig", "SequenceTrainConfig", "ServeConfig", "SplitConfig",
    "TaskConfig", "TrainConfig", "expand_env", "load_config", "load_sft_config", "parse_overrides", "read_yaml",
    "register_schema", "task_type", "validate_config", "validate_model", "validate_sft_config",
]
