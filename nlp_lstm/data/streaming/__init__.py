"""The readers of corpora larger than memory: Arrow-backed columns and pairs, read in batches."""
