"""The Python API: `load(path)` turns a run directory or a bare export into the task's predictor.

    >>> import nlp_lstm
    >>> classifier = nlp_lstm.load("runs/quickstart_classify-...")       # doctest: +SKIP
    >>> classifier.predict("A gorgeous, witty film.")["label"]            # doctest: +SKIP
    'positive'

Only the SavedModel is read (with the metadata it carries in assets.extra/), so an export that
was copied away from its run directory loads the same way.
"""

from nlp_lstm.errors import ExportError
from nlp_lstm.export import saved_model as export
from nlp_lstm.tasks import TASKS


def export_metadata(path, loaded):
    """The export's own metadata, or what its signatures imply for an older export (the task
    whose `signature_names` it has), completed or refused by its task."""
    metadata = export.read_metadata(path)
    if "task" not in metadata:
        names = set(loaded.signatures)
        matches = {
            name: len(names & set(TASKS.get(name).signature_names)) for name in TASKS.names()
        }
        task = max(matches, key=matches.get) if any(matches.values()) else None
        if task is None:
            raise ExportError(
                f"{path} is not an nlp_lstm export (its signatures: "
                f"{', '.join(sorted(names)) or 'none'})."
            )
        metadata = {"task": task, "signatures": sorted(names), **metadata}
    if metadata["task"] not in TASKS.names():
        raise ExportError(
            f"{path} is an export of task {metadata['task']!r}, which this nlp_lstm does not "
            f"have (its tasks: {', '.join(TASKS.names())}). Load it with the nlp_lstm that wrote "
            f"it (version {metadata.get('nlp_lstm_version', 'unknown')})."
        )
    metadata = TASKS.get(metadata["task"]).check_export_metadata(path, metadata)
    metadata["path"] = str(export.export_path(path))
    return metadata


def load(path, batch_size=None, progress=False):
    """The predictor of the export at `path` (a run directory or an export directory).

    Args:
        path: str or Path. A run directory (its export/ is used) or a SavedModel directory.
        batch_size: int or None. Inputs per call of the model; longer lists are cut into
            batches. None: 64, or the export's limits.max_batch_rows when that is lower; a
            larger value than that limit is a ValueError.
        progress: bool. Show a progress bar over the batches.

    Returns:
        ClassifierPredictor (`.predict`), TranslatorPredictor (`.translate`) or
        GeneratorPredictor (`.generate`), by the export's task.
    """
    loaded = export.load_export(path)
    metadata = export_metadata(path, loaded)
    task = TASKS.get(metadata["task"])
    return task.load_predictor(loaded, metadata, batch_size=batch_size, progress=progress)
