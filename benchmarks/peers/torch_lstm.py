"""Peer 2: PyTorch `nn.LSTM` (bidirectional) with packed, length-sorted batches, on the CPU.

The usual PyTorch recipe for variable-length text: sort the examples by length, cut the sorted
list into batches (so each batch holds texts of nearly one length), shuffle the batch order every
epoch, and feed each batch through `pack_padded_sequence`, so the LSTM never steps over padding.
Needs the optional `torch` package (`pip install 'nlp_lstm[benchmarks]'`).
"""

import os
import time

import numpy as np

MISSING = (
    "PyTorch is not installed, so the PyTorch peer is skipped. Install the CPU build to "
    "run it: pip install 'nlp_lstm[benchmarks]' (or pip install torch --index-url "
    "https://download.pytorch.org/whl/cpu)."
)


def available():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


class TorchPackedClassifier:
    """The peer, with the same sizes, optimizer and batch size as the model it is compared with.

    The classifier reads the final hidden state of each direction (what `nn.LSTM` returns as
    `h_n` for a packed batch: the last real step forwards, the first backwards).

    Args:
        ids_path: str. The token ids of the train and test splits (`benchmarks.corpora.save_ids`).
        vocabulary_size: int. Token ids (0 is padding).
        num_classes: int. Output classes.
        embedding_dim: int. Token vector size.
        hidden_dim: int. LSTM units per direction.
        dropout: float. Dropout before the output layer.
        batch_size: int. Examples per step.
        learning_rate: float. Adam's learning rate.
        clipnorm: float or None. Gradient-norm clipping, as in the compared model.
        seed: int. Seeds the weights and the batch order.
    """

    name = "PyTorch nn.LSTM(bidirectional) on packed, length-sorted batches"

    def __init__(
        self,
        ids_path,
        vocabulary_size,
        num_classes,
        embedding_dim,
        hidden_dim,
        dropout,
        batch_size,
        learning_rate,
        clipnorm=None,
        seed=1337,
    ):
        import torch
        from torch import nn

        from benchmarks.corpora import load_ids

        splits = load_ids(ids_path)
        torch.manual_seed(seed)
        torch.set_num_threads(os.cpu_count() or 1)
        self.torch = torch
        self.batch_size = batch_size
        self.vocabulary_size = vocabulary_size
        self.clipnorm = clipnorm
        self.rng = np.random.default_rng(seed)

        class Model(nn.Module):
            def __init__(self):
                super().__init__()
                self.embedding = nn.Embedding(vocabulary_size, embedding_dim, padding_idx=0)
                self.lstm = nn.LSTM(embedding_dim, hidden_dim, batch_first=True, bidirectional=True)
                self.dropout = nn.Dropout(dropout)
                self.output = nn.Linear(2 * hidden_dim, num_classes)

            def forward(self, ids, lengths):
                packed = nn.utils.rnn.pack_padded_sequence(
                    self.embedding(ids), lengths, batch_first=True, enforce_sorted=True
                )
                _, (h_n, _) = self.lstm(packed)
                return self.output(self.dropout(torch.cat([h_n[0], h_n[1]], dim=-1)))

        self.model = Model()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=learning_rate)
        # Sorting and padding happen once, before training; that cost is not timed.
        self.train_batches = list(self._batches(*splits["train"]))
        self.test_batches = list(self._batches(*splits["test"]))
        self.num_test = len(splits["test"][1])

    def _batches(self, sequences, labels):
        lengths = np.fromiter((max(len(s), 1) for s in sequences), np.int64, len(sequences))
        order = np.argsort(-lengths, kind="stable")
        for begin in range(0, len(order), self.batch_size):
            rows = order[begin : begin + self.batch_size]
            ids = np.zeros((len(rows), lengths[rows[0]]), np.int64)
            for i, row in enumerate(rows):
                ids[i, : len(sequences[row])] = sequences[row]
            yield (
                self.torch.from_numpy(ids),
                self.torch.from_numpy(lengths[rows]),
                self.torch.from_numpy(np.asarray(labels)[rows]),
            )

    def fit_epoch(self):
        """One epoch over the batches in a fresh random order; returns its wall time in seconds."""
        torch = self.torch
        batches = list(self.train_batches)
        self.rng.shuffle(batches)
        self.model.train()
        start = time.perf_counter()
        for ids, lengths, target in batches:
            loss = torch.nn.functional.cross_entropy(self.model(ids, lengths), target)
            self.optimizer.zero_grad()
            loss.backward()
            if self.clipnorm:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clipnorm)
            self.optimizer.step()
        return time.perf_counter() - start

    def accuracy(self):
        torch = self.torch
        self.model.eval()
        correct = 0
        with torch.no_grad():
            for ids, lengths, target in self.test_batches:
                correct += int((self.model(ids, lengths).argmax(-1) == target).sum())
        return correct / self.num_test

    def step_profile(self, batch_size, length):
        """Milliseconds for one batch of `batch_size` texts of `length` real tokens: the
        forward pass, and the forward and backward passes (gradients, no optimizer step)."""
        from benchmarks import harness

        torch = self.torch
        generator = torch.Generator().manual_seed(0)
        ids = torch.randint(2, self.vocabulary_size, (batch_size, length), generator=generator)
        lengths = torch.full((batch_size,), length, dtype=torch.int64)
        target = torch.randint(0, 2, (batch_size,), generator=generator)
        self.model.train()

        def forward():
            return torch.nn.functional.cross_entropy(self.model(ids, lengths), target)

        def backward():
            self.model.zero_grad()
            forward().backward()

        return harness.best_ms(forward), harness.best_ms(backward)

    def count_params(self):
        return int(sum(p.numel() for p in self.model.parameters()))
