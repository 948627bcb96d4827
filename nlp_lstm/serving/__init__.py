"""Serving: the HTTP server (`server`), the signatures' request checks and JSON (`signatures`), and
dynamic batching (`batching`). The only package that imports the web stack."""
