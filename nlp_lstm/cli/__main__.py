"""`python -m nlp_lstm.cli` runs the `nlp-lstm` command line."""

from nlp_lstm.cli import main

main()
