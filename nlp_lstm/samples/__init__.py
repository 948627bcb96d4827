"""Sample data sets written by the project and shipped as package data.

`sentiment.tsv` (classification), `play.txt` (language models) and `phrasebook.tsv`
(translation); `nlp_lstm.data.texts` reads them for `data.source: sample`. The scripts that generate
them live in the repository, not in the package: `python tools/samples/make_sentiment.py
[--check]` and its siblings.
"""
