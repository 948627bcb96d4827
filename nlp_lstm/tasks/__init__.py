"""Tasks: one folder per task, each registered in `TASKS` under its config name.

Importing this package fills the registry; the runner (`nlp_lstm.pipeline`), the server, the CLI
and `nlp_lstm.load` look a task up by name (`task_for(config)`, `TASKS.get(name)`), ask it its
facts (limits, signatures, predictor, CLI verb, config keys), and import no task module.
"""

from nlp_lstm.tasks.base import TASKS, Task, register_task
from nlp_lstm.tasks.classification.task import ClassificationTask
from nlp_lstm.tasks.forecasting.task import ForecastingTask
from nlp_lstm.tasks.generation.task import GenerationTask
from nlp_lstm.tasks.scope import task_for as _task_for
from nlp_lstm.tasks.translation.task import TranslationTask

__all__ = [
    "TASKS",
    "Task",
    "register_task",
    "task_for",
    "ClassificationTask",
    "ForecastingTask",
    "GenerationTask",
    "TranslationTask",
]


def task_for(config):
    """The registered Task subclass that `config.task` names (a ConfigError naming the file and
    the registered tasks otherwise)."""
    return _task_for(config, TASKS)
