"""Which task reads which config key: the scoped keys each task lists in `config_keys`, the
check that refuses a scoped key set for a task that would ignore it, and the lookup of the task
a config names.

A key of the schema is scoped (`nlp_lstm.config.schema.is_scoped`) when only some tasks read it;
every other key is read by every task. A test records which keys each task's run reads and holds
both sides to these lists.
"""

import functools

from nlp_lstm.config.schema import FIELDS, default_value, is_scoped, reads
from nlp_lstm.errors import ConfigError

# Scoped config keys that several tasks read (each lists them in its `config_keys`): the split
# files, split and sample of examples read from text files, the streamed reader's, and the
# length buckets'.
TEXT_SPLIT_KEYS = (
    "data.train",
    "data.validation",
    "data.test",
    "data.max_examples",
    "data.split_seed",
    "data.leakage_warn_share",
)
STREAMING_KEYS = ("data.streaming", "data.streaming_threshold_bytes", "data.vocabulary_sample")
BUCKET_KEYS = ("train.bucketing", "train.num_buckets", "train.batch_tokens", "train.shuffle_buffer")


def check_config_keys(config, config_keys, tasks):
    """A ConfigError for the first scoped key set to other than its default and not among
    `config_keys` (the task's), naming the tasks of the registry `tasks` that do read it."""
    for key in FIELDS:
        if not is_scoped(key) or reads(config_keys, key):
            continue
        value = functools.reduce(getattr, key.split("."), config)
        if hasattr(value, "__dataclass_fields__") or value == default_value(key):
            continue
        readers = [name for name in tasks.names() if reads(tasks.get(name).config_keys, key)]
        read_by = f"read only by task {' and '.join(readers)}" if readers else "read by no task"
        raise ConfigError(
            f"{config.where(key)} is {read_by}, and this pipeline's task is {config.task}: it "
            f"would be ignored. Received: {key.rpartition('.')[2]}={value!r}. Remove the key."
        )


def task_for(config, tasks):
    """The Task subclass of the registry `tasks` that `config.task` names; a ConfigError naming
    the file otherwise."""
    if config.task is None:
        files = ", ".join(map(str, config.sources)) or "the pipeline"
        raise ConfigError(
            f"The pipeline sets no `task`. Add `task: NAME` to {files}, NAME one of "
            f"{', '.join(tasks.names())}."
        )
    if config.task not in tasks.names():
        try:
            tasks.get(config.task)
        except ConfigError as err:
            raise ConfigError(f"{config.where('task')}: {err}") from None
    return tasks.get(config.task)
