"""Text generation (a language model): the task, its streamed corpus, sampling, predictor."""
