"""Task plug-ins: one module per ``task.type``, registered here, chosen by the pipeline from the config.

Adding a task type: write a :class:`~workbench.tasks.base.Task` subclass in its own module (and a config
schema registered with :func:`workbench.config.register_schema` if it needs its own fields), then add it to
:data:`TASKS` below.
"""

from __future__ import annotations

from ..runs.run_dir import TASK_FILES
from .base import LazyModel, Prepared, Task
from .classification import ClassificationTask
from .pretrain import PretrainTask
from .regression import RegressionTask
from .sft import SFTTask

TASKS: dict[str, type[Task]] = {}


def register(task: type[Task]) -> type[Task]:
    """Adds a task class to :data:`TASKS` (and its run-directory files to the completeness check).

    Raises:
        ValueError: Its ``type`` is empty or already registered.
    """
    if not task.type or task.type in TASKS:
        raise ValueError(f"task type {task.type!r} is empty or already registered")
    TASKS[task.type] = task
    TASK_FILES[task.type] = task.run_files
    return task


for _task in (ClassificationTask, RegressionTask, SFTTask, PretrainTask):
    register(_task)


def get_task(task_type: str) -> type[Task]:
    """The task class for a ``task.type`` value.

    Raises:
        ValueError: Unknown type (names the registered ones).
    """
    if task_type not in TASKS:
        raise ValueError(f"unknown task type {task_type!r}; registered: {', '.join(sorted(TASKS))}.")
    return TASKS[task_type]


__all__ = ["TASKS", "ClassificationTask", "LazyModel", "Prepared", "PretrainTask", "RegressionTask", "SFTTask", "Task", "get_task",
           "register"]
