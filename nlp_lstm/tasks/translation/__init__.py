"""Translation: the task, its metrics (sacreBLEU), its streamed pairs, serving module and
predictor."""
