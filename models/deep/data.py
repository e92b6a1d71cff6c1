"""Item vocabulary and batching for the deep session model.

Items are strings at the protocol boundary and tokens inside the network. The vocabulary is the one
every model uses (:class:`models.vocab.Vocab`: ids 0..n-1 in order of first sight, append-only); the
network's input token of item id ``i`` is ``i + 1``, because token 0 is padding. Output column ``j`` of
the network's next-item scores is item id ``j`` (it never predicts padding). A vocabulary extended with
new items keeps every old id and token (a warm start copies old embedding rows unchanged).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from models.vocab import Vocab

if TYPE_CHECKING:
    import torch

PAD = 0


class ItemVocab(Vocab):
    """:class:`~models.vocab.Vocab` with the network's tokens: ``token = id + 1``, token 0 is padding."""

    def extend(self, items: Iterable[str]) -> int:
        """Add unseen items at the end; returns how many were new."""
        before = len(self.items)
        for item in items:
            self.id(item)
        return len(self.items) - before

    @classmethod
    def from_sessions(cls, sessions: Iterable[Sequence[str]]) -> ItemVocab:
        vocab = cls()
        for s in sessions:
            vocab.extend(s)
        return vocab

    def encode(self, items: Sequence[str]) -> list[int]:
        """Tokens of the known items: an unknown item carries nothing the network could use, so it is dropped."""
        index = self.index
        return [index[i] + 1 for i in items if i in index]

    def decode(self, token: int) -> str:
        return self.items[token - 1]

    def __setstate__(self, state: dict) -> None:
        # Pickles from before the vocabularies were one held 1-based ids: the item list decides.
        super().__setstate__(state)
        self.index = {item: i for i, item in enumerate(self.items)}


def split_validation(sessions: Sequence[Sequence[str]], fraction: float) -> tuple[list, list]:
    """Cut the validation slice from the *end* of the training sessions (they are in time order)."""
    n_val = int(len(sessions) * fraction)
    if n_val == 0:
        return list(sessions), []
    return list(sessions[:-n_val]), list(sessions[-n_val:])


def chunk_sessions(encoded: Iterable[list[int]], max_len: int) -> list[list[int]]:
    """Sessions of >= 2 items as training sequences of at most ``max_len + 1`` items.

    A longer session is cut into consecutive windows that overlap by one item, so every next item in it
    is a training target exactly once (with the context its window holds).
    """
    out: list[list[int]] = []
    for s in encoded:
        if len(s) < 2:
            continue
        start = 0
        while start < len(s) - 1:
            out.append(s[start:start + max_len + 1])
            start += max_len
    return out


def pad_right(seqs: Sequence[Sequence[int]], width: int | None = None) -> torch.Tensor:
    """(B, T) int64, items left-aligned, padding (0) on the right."""
    import torch  # training only: the scoring path (the worker) never loads torch

    width = width or max(len(s) for s in seqs)
    out = np.zeros((len(seqs), width), dtype=np.int64)
    for row, s in enumerate(seqs):
        s = s[-width:]
        out[row, :len(s)] = s
    return torch.from_numpy(out)


def training_batches(seqs: Sequence[list[int]], batch_size: int, rng: np.random.Generator):
    """Shuffled batches of similar length (sorted within large random pools) to waste little padding."""
    order = rng.permutation(len(seqs))
    pool = batch_size * 50
    batches = []
    for p in range(0, len(order), pool):
        chunk = sorted(order[p:p + pool], key=lambda i: len(seqs[i]))
        batches.extend(chunk[b:b + batch_size] for b in range(0, len(chunk), batch_size))
    for b in rng.permutation(len(batches)):
        yield pad_right([seqs[i] for i in batches[b]])


def prefix_cases(sessions: Iterable[list[int]]) -> list[tuple[list[int], int]]:
    """Every ``s[:t] -> s[t]`` of each session: the papers' augmentation, used for validation."""
    return [(s[:t], s[t]) for s in sessions for t in range(1, len(s))]
