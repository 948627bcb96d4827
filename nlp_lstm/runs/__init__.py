"""Runs: run directories and their locks (`rundir`), worker processes (`workers`), tuning
(`tuning`), seed sweeps (`seeds`) and `reproduce`. They drive tasks, so they sit above
`nlp_lstm.tasks`."""
