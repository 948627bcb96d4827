"""Text classification: the task, its metrics, its serving module and its predictor."""
