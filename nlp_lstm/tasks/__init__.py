"""Tasks: one module per task, each registered in `TASKS` under its config name.

Importing this package fills the registry; the runner (`nlp_lstm.pipeline`) looks tasks up by
`config.task` and imports no task module itself.
"""

from nlp_lstm.tasks.base import TASKS, Task, register_task
from nlp_lstm.tasks.classification.task import ClassificationTask
from nlp_lstm.tasks.forecasting.task import ForecastingTask
from nlp_lstm.tasks.generation.task import GenerationTask
from nlp_lstm.tasks.translation.task import TranslationTask

__all__ = [
    "TASKS",
    "Task",
    "register_task",
    "ClassificationTask",
    "ForecastingTask",
    "GenerationTask",
    "TranslationTask",
]
