"""Greedy and beam search in the graph: end tokens, scores, tensor arguments, empty sources."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from nlp_lstm.models import LSTMSeq2Seq
from nlp_lstm.models.decoding import beam_search, greedy_decode

PAD, START, END, A, B, X = range(6)


class MarkovStub:
    """encode/decode_step whose next-token distribution depends only on the previous token."""

    def __init__(self, transitions):
        table = np.full((6, 6), 1e-6)
        for previous, row in transitions.items():
            for token, probability in row.items():
                table[previous, token] = probability
        self.log_table = np.log(table / table.sum(axis=1, keepdims=True)).astype("float32")

    def encode(self, source_ids):
        batch = tf.shape(source_ids)[0]
        return tf.zeros([batch, 1, 1]), tf.ones([batch, 1], tf.bool), [tf.zeros([batch, 1])]

    def decode_step(self, token_ids, states, encoder_outputs, source_mask):
        return tf.gather(self.log_table, token_ids), states, tf.ones([tf.shape(token_ids)[0], 1])

    def log_prob(self, tokens):
        path = [START] + list(tokens)
        return sum(self.log_table[p, t] for p, t in zip(path, path[1:]))


# Greedy takes A (0.6) then X (0.4) then END; the best sequence is B END (0.4 * 0.9).
STUB = MarkovStub(
    {
        START: {A: 0.6, B: 0.4},
        A: {X: 0.4, B: 0.3, END: 0.3},
        B: {END: 0.9, X: 0.1},
        X: {END: 0.6, X: 0.4},
    }
)
ONE_ROW = np.array([[7]])


class CountdownStub:
    """Row i emits A until it has emitted `source_ids[i, 0]` tokens, then END (B is always the
    runner-up); records the batch size of every decoder step."""

    def __init__(self):
        self.step_rows = []

    def encode(self, source_ids):
        budget = tf.cast(tf.convert_to_tensor(source_ids)[:, :1], tf.float32)
        return budget[:, :, tf.newaxis], tf.ones_like(budget, tf.bool), [tf.zeros_like(budget)]

    def decode_step(self, token_ids, states, encoder_outputs, source_mask):
        self.step_rows.append(int(tf.shape(token_ids)[0]))
        emitted = states[0] + 1.0
        budget = encoder_outputs[:, 0]
        done = emitted > budget
        logits = tf.concat(
            [
                tf.fill(tf.shape(budget), -9.0),
                tf.fill(tf.shape(budget), -9.0),
                tf.where(done, 0.0, -5.0),
                tf.where(done, -5.0, 0.0),
                tf.fill(tf.shape(budget), -1.0),
                tf.fill(tf.shape(budget), -9.0),
            ],
            axis=1,
        )
        return logits, [emitted], tf.ones([tf.shape(token_ids)[0], 1])


def test_rows_that_have_ended_leave_the_batch():
    budgets = np.array([[1], [4], [2], [0]])
    stub = CountdownStub()
    out = greedy_decode(stub, budgets, START, END, max_length=10)
    np.testing.assert_array_equal(out["lengths"], [1, 4, 2, 0])
    np.testing.assert_array_equal(
        out["ids"], [[A, 0, 0, 0], [A, A, A, A], [A, A, 0, 0], [0, 0, 0, 0]]
    )
    # Step 1 ends the empty row, step 2 the 1-token row, and so on: 4 + 3 + 2 + 1 + 1 rows.
    assert stub.step_rows == [4, 3, 2, 1, 1]
    for row, budget in enumerate(budgets[:, 0]):
        alone = greedy_decode(CountdownStub(), budgets[row : row + 1], START, END, max_length=10)
        np.testing.assert_array_equal(alone["ids"][0], out["ids"][row, :budget])
        np.testing.assert_allclose(alone["scores"], out["scores"][row : row + 1], rtol=1e-6)
    beam_stub = CountdownStub()
    beam = beam_search(
        beam_stub, budgets, START, END, max_length=10, beam_size=2, length_penalty=0.0
    )
    # Rows leave with all their hypotheses (beam 2), once their finished sets are settled.
    rows = beam_stub.step_rows
    assert rows[0] == 8 and rows[-1] < 8 and rows == sorted(rows, reverse=True)
    assert all(n % 2 == 0 for n in rows)
    np.testing.assert_array_equal(beam["lengths"][:, 0], budgets[:, 0])
    for row, budget in enumerate(budgets[:, 0]):
        alone = beam_search(
            CountdownStub(),
            budgets[row : row + 1],
            START,
            END,
            max_length=10,
            beam_size=2,
            length_penalty=0.0,
        )
        np.testing.assert_array_equal(beam["ids"][row, 0, :budget], alone["ids"][0, 0, :budget])
        np.testing.assert_allclose(beam["scores"][row, 0], alone["scores"][0, 0], rtol=1e-6)


def tiny_model():
    return LSTMSeq2Seq(
        source_vocabulary_size=12,
        target_vocabulary_size=12,
        embedding_dim=8,
        hidden_dim=8,
        encoder_layers=1,
        decoder_layers=2,
        dropout=0.0,
    )


SOURCE = np.array([[4, 5, 6, 0], [0, 0, 0, 0], [7, 8, 0, 0]])


def test_greedy_stops_at_the_end_token():
    out = greedy_decode(STUB, ONE_ROW, START, END, max_length=10)
    np.testing.assert_array_equal(out["ids"], [[A, X]])
    np.testing.assert_array_equal(out["lengths"], [2])
    np.testing.assert_allclose(out["scores"], [STUB.log_prob([A, X, END])], rtol=1e-6)


def test_beam_keeps_finished_hypotheses_and_normalises_scores():
    out = beam_search(STUB, ONE_ROW, START, END, max_length=10, beam_size=2, length_penalty=0.0)
    np.testing.assert_array_equal(out["ids"], [[[B, PAD], [A, B]]])
    np.testing.assert_array_equal(out["lengths"], [[1, 2]])
    np.testing.assert_allclose(
        out["scores"], [[STUB.log_prob([B, END]), STUB.log_prob([A, B, END])]], rtol=1e-6
    )
    out = beam_search(STUB, ONE_ROW, START, END, max_length=10, beam_size=2, length_penalty=0.6)
    np.testing.assert_array_equal(out["ids"][0, 0], [B, PAD])
    np.testing.assert_allclose(
        out["scores"][0, 0], STUB.log_prob([B, END]) / ((5 + 2) / 6) ** 0.6, rtol=1e-6
    )


def test_max_length_cuts_hypotheses_without_an_end():
    greedy = greedy_decode(STUB, ONE_ROW, START, END, max_length=1)
    np.testing.assert_array_equal(greedy["ids"], [[A]])
    np.testing.assert_allclose(greedy["scores"], [STUB.log_prob([A])], rtol=1e-6)
    beam = beam_search(STUB, ONE_ROW, START, END, max_length=1, beam_size=2, length_penalty=0.0)
    np.testing.assert_array_equal(beam["ids"], [[[A], [B]]])
    np.testing.assert_array_equal(beam["lengths"], [[1, 1]])
    empty = beam_search(STUB, ONE_ROW, START, END, max_length=0, beam_size=2)
    assert empty["ids"].shape == (1, 2, 0)
    np.testing.assert_array_equal(empty["scores"], [[0.0, -np.inf]])


def test_padding_is_never_emitted():
    stub = MarkovStub({START: {PAD: 0.9, A: 0.1}, A: {PAD: 0.9, END: 0.1}})
    np.testing.assert_array_equal(greedy_decode(stub, ONE_ROW, START, END, 5)["ids"], [[A]])
    out = beam_search(stub, ONE_ROW, START, END, 5, beam_size=2)
    assert out["lengths"][0, 0] == 1 and out["ids"][0, 0, 0] == A
    assert np.all(out["ids"].numpy()[out["lengths"].numpy() == 0] == PAD)


def test_beam_size_one_equals_greedy():
    for model, source in ((STUB, np.array([[7], [8]])), (tiny_model(), SOURCE)):
        greedy = greedy_decode(model, source, START, END, max_length=6)
        beam = beam_search(model, source, START, END, max_length=6, beam_size=1, length_penalty=0.0)
        np.testing.assert_array_equal(beam["ids"][:, 0], greedy["ids"])
        np.testing.assert_array_equal(beam["lengths"][:, 0], greedy["lengths"])
        np.testing.assert_allclose(beam["scores"][:, 0], greedy["scores"], rtol=1e-6)


def test_scores_sorted_and_finite_with_an_empty_source():
    model = tiny_model()
    out = beam_search(model, SOURCE, START, END, max_length=5, beam_size=3)
    scores = out["scores"].numpy()
    assert out["ids"].shape[:2] == (3, 3) and out["ids"].dtype == tf.int64
    assert out["lengths"].dtype == tf.int32 and scores.dtype == np.float32
    assert np.all(np.isfinite(scores))
    assert np.all(np.diff(scores, axis=1) <= 0)
    lengths = out["lengths"].numpy()
    ids = out["ids"].numpy()
    for row, length in np.ndenumerate(lengths):
        assert np.all(ids[row][:length] > 0) and np.all(ids[row][length:] == 0)
    for source in (np.zeros((2, 3), "int64"), np.zeros((2, 0), "int64")):
        assert np.all(np.isfinite(beam_search(model, source, START, END, 4, 2)["scores"]))
        assert np.all(np.isfinite(greedy_decode(model, source, START, END, 4)["scores"]))


def test_works_under_tf_function_with_tensor_arguments():
    model = tiny_model()

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None], tf.int64),
            tf.TensorSpec([], tf.int32),
            tf.TensorSpec([], tf.int32),
        ]
    )
    def translate(source, max_length, beam_size):
        return beam_search(model, source, START, END, max_length, beam_size), greedy_decode(
            model, source, START, END, max_length
        )

    settings = ((5, 2), (3, 3))
    eager = {
        setting: (
            beam_search(model, SOURCE, START, END, *setting),
            greedy_decode(model, SOURCE, START, END, setting[0]),
        )
        for setting in settings
    }
    for max_length, beam_size in settings:
        beam, greedy = translate(
            tf.constant(SOURCE), tf.constant(max_length), tf.constant(beam_size)
        )
        expected_beam, expected_greedy = eager[max_length, beam_size]
        assert beam["ids"].shape[:2] == (3, beam_size)
        for key in ("ids", "lengths"):
            np.testing.assert_array_equal(beam[key], expected_beam[key])
            np.testing.assert_array_equal(greedy[key], expected_greedy[key])
        np.testing.assert_allclose(beam["scores"], expected_beam["scores"], rtol=1e-5)
        np.testing.assert_allclose(greedy["scores"], expected_greedy["scores"], rtol=1e-5)
    assert translate.experimental_get_tracing_count() == 1
    # Traced with static shapes (batch 3) and Python sizes, too.
    static = tf.function(
        lambda source: (
            beam_search(model, source, START, END, 5, 2),
            greedy_decode(model, source, START, END, 5),
        )
    )
    beam, greedy = static(tf.constant(SOURCE))
    np.testing.assert_array_equal(beam["ids"], eager[5, 2][0]["ids"])
    np.testing.assert_array_equal(greedy["ids"], eager[5, 2][1]["ids"])


@pytest.mark.parametrize(
    "kwargs, match", [({"beam_size": 0}, "beam_size"), ({"max_length": -1}, "max_length")]
)
def test_invalid_sizes(kwargs, match):
    args = {"max_length": 3, "beam_size": 2}
    args.update(kwargs)
    with pytest.raises(ValueError, match=f"`{match}` must be an int >= "):
        beam_search(STUB, ONE_ROW, START, END, **args)


@pytest.mark.slow
def test_saved_model_signature_reloads_in_a_fresh_process(tmp_path):
    model = tiny_model()
    module = tf.Module()
    module.model = model

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None], tf.int64, name="source_ids"),
            tf.TensorSpec([], tf.int32, name="max_length"),
            tf.TensorSpec([], tf.int32, name="beam_size"),
        ]
    )
    def translate(source_ids, max_length, beam_size):
        return beam_search(model, source_ids, START, END, max_length, beam_size)

    module.translate = translate
    tf.saved_model.save(module, str(tmp_path / "export"), signatures={"serving_default": translate})
    expected = beam_search(model, SOURCE, START, END, 5, 2)
    script = textwrap.dedent(f"""
        import numpy as np, tensorflow as tf
        loaded = tf.saved_model.load({str(tmp_path / "export")!r})
        out = loaded.signatures["serving_default"](
            source_ids=tf.constant({SOURCE.tolist()}, tf.int64),
            max_length=tf.constant(5),
            beam_size=tf.constant(2),
        )
        np.save({str(tmp_path / "ids.npy")!r}, out["ids"].numpy())
        np.save({str(tmp_path / "scores.npy")!r}, out["scores"].numpy())
        """)
    subprocess.run([sys.executable, "-c", script], check=True)
    np.testing.assert_array_equal(np.load(tmp_path / "ids.npy"), expected["ids"])
    np.testing.assert_allclose(np.load(tmp_path / "scores.npy"), expected["scores"], rtol=1e-5)
