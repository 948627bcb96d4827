"""Data readers (no tokenization): labelled texts, running text, sentence pairs, tables, series;
the batching helpers (`inputs`), the leakage check and pretrained embeddings."""
