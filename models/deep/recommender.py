"""DeepRecommender: the torch session model behind :class:`models.base.Recommender`.

``fit`` trains from scratch on whole sessions, choosing the best epoch on a validation slice cut from
the end of those sessions; ``learn_one`` only buffers (a deep model is retrained out of band, see
``freshrec train``); ``recommend_many`` scores a batch of sessions at once, with torch after ``fit`` or
with onnxruntime when built from an artifact (:meth:`from_artifact`), the stream's path.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from models.base import Candidate, Estimator, Interaction, Session
from models.deep.data import ItemVocab, chunk_sessions, prefix_cases, split_validation
from models.deep.network import SessionNet
from models.deep.scoring import OnnxScorer, encode_batch, to_candidates, top_k
from models.deep.training import EpochReport, train

log = logging.getLogger(__name__)


def _log_epoch(r: EpochReport) -> None:
    log.info("deep epoch %d: loss %.4f, validation HR@20 %.2f MRR@20 %.2f (%.0fs)",
             r.epoch, r.loss, r.val_hr, r.val_mrr, r.seconds)


class DeepRecommender(Estimator):
    """Causal self-attention session model with a repeat/explore mixture (see ``network.py``).

    >>> rec = DeepRecommender(dim=16, epochs=2, negatives=0, validation_fraction=0.0)
    >>> rec.fit([["a", "b", "c"]] * 50)
    >>> rec.recommend_many([Session("u", [Interaction("a"), Interaction("b")])], 1)[0][0].item
    'c'
    """

    name = "deep"

    def __init__(self, dim: int = 64, max_len: int = 30, layers: int = 1, heads: int = 2, dropout: float = 0.1,
                 scale: float = 12.0, epochs: int = 8, batch_size: int = 128, lr: float = 1e-2,
                 dense_lr_ratio: float = 0.1, negatives: int = 2048, sampler_power: float = 0.75,
                 validation_fraction: float = 0.05, patience: int = 2, seed: int = 0, threads: int = 1,
                 n_popular: int = 100, buffer_size: int = 1_000_000, readout: str = "mix", repeat: bool = True,
                 item_dropout: float = 0.0, label_smoothing: float = 0.0):
        self.dim = dim
        self.max_len = max_len
        self.layers = layers
        self.heads = heads
        self.dropout = dropout
        self.scale = scale
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.dense_lr_ratio = dense_lr_ratio
        self.negatives = negatives
        self.sampler_power = sampler_power
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.seed = seed
        self.threads = threads
        self.n_popular = n_popular
        self.buffer_size = buffer_size
        self.readout = readout
        self.repeat = repeat
        self.item_dropout = item_dropout
        self.label_smoothing = label_smoothing

        self.net: SessionNet | None = None
        self.vocab = ItemVocab()
        self.popular: list[str] = []
        self.history: list[EpochReport] = []
        self.validation: dict[str, float] = {}
        self.validation_sessions: list[list[str]] = []  # the slice `validation` was measured on
        self.train_info: dict[str, float] = {}
        self.scorer: OnnxScorer | None = None
        self.buffer: deque[tuple[str, str]] = deque(maxlen=buffer_size)

    # --- configuration as the artifact records it ---------------------------------------------------
    def network_config(self) -> dict[str, object]:
        return dict(n_items=len(self.vocab), dim=self.dim, max_len=self.max_len, layers=self.layers,
                    heads=self.heads, dropout=self.dropout, scale=self.scale, readout=self.readout,
                    repeat=self.repeat, item_dropout=self.item_dropout)

    # --- learning -----------------------------------------------------------------------------------
    def fit(self, sessions: Sequence[Sequence[str]],
            on_batch: Callable[[int, int], None] | None = None,
            on_epoch: Callable[[EpochReport], None] | None = None) -> None:
        sessions = [[str(x) for x in s] for s in sessions]
        # Items seen only in the validation slice still get a row: they are real items the stream will
        # meet, and a row trained only as a negative is better than no row.
        self.fit_from(sessions, ItemVocab.from_sessions(sessions), on_batch=on_batch, on_epoch=on_epoch)

    def fit_from(self, sessions: Sequence[list[str]], vocab: ItemVocab,
                 init: Callable[[SessionNet], None] | None = None,
                 on_batch: Callable[[int, int], None] | None = None,
                 on_epoch: Callable[[EpochReport], None] | None = None) -> None:
        """Train a fresh network over ``vocab`` (which holds every item of ``sessions``, ids as str),
        ``init`` seeding it first: :meth:`fit` builds the vocabulary, a warm start
        (:mod:`models.deep.warmstart`) grows the previous version's and copies its weights. One loop
        for both, so the two cannot drift apart."""
        torch.set_num_threads(self.threads)
        start, cpu_start = time.perf_counter(), time.process_time()
        fit_part, val_part = split_validation(sessions, self.validation_fraction)
        self.vocab = vocab
        counts = Counter(i for s in sessions for i in s)
        self.popular = [i for i, _ in counts.most_common(self.n_popular)]
        seqs = chunk_sessions((vocab.encode(s) for s in fit_part), self.max_len)
        val_cases = prefix_cases([vocab.encode(s) for s in val_part])
        if not seqs:
            raise ValueError("no session with 2+ items to learn from")
        freq = np.zeros(len(vocab))
        for s in seqs:
            np.add.at(freq, np.asarray(s[1:]) - 1, 1.0)
        sampler = torch.tensor((freq + 1.0) ** self.sampler_power, dtype=torch.float32)
        self.net = SessionNet(**self.network_config())
        if init is not None:
            init(self.net)
        self.history = train(self.net, seqs, val_cases, epochs=self.epochs, batch_size=self.batch_size,
                             lr=self.lr, dense_lr_ratio=self.dense_lr_ratio, seed=self.seed,
                             patience=self.patience, negatives=self.negatives, sampler=sampler / sampler.sum(),
                             label_smoothing=self.label_smoothing,
                             on_batch=on_batch, on_epoch=on_epoch or _log_epoch)
        best = max(self.history, key=lambda r: r.val_mrr) if val_cases else self.history[-1]
        self.validation = {"hr@20": best.val_hr, "mrr@20": best.val_mrr, "cases": len(val_cases),
                           "epoch": best.epoch}
        self.validation_sessions = val_part
        # CPU seconds beside wall seconds: on a shared machine (or one paused for someone's timings)
        # only the CPU figure says what a training costs.
        self.train_info = {"seconds": time.perf_counter() - start,
                           "cpu_seconds": time.process_time() - cpu_start, "epochs_run": len(self.history),
                           "sessions": len(fit_part), "validation_sessions": len(val_part),
                           "sequences": len(seqs), "items": len(vocab)}
        self.scorer = None

    def learn_one(self, session: Session, interaction: Interaction) -> None:
        """Buffered for the next retrain: a deep model does not learn per event."""
        self.buffer.append((session.user_id, interaction.item))

    # --- scoring ------------------------------------------------------------------------------------
    @torch.no_grad()
    def _torch_top_k(self, item_lists: Sequence[Sequence[str]], k: int) -> list[list[Candidate]]:
        assert self.net is not None
        self.net.eval()
        batch, nonempty = encode_batch(self.vocab, item_lists, self.max_len)
        batch[~nonempty, 0] = 1
        probs = self.net(torch.from_numpy(batch)).numpy()
        idx, vals = top_k(probs, k)
        return to_candidates(self.vocab, self.popular, idx, vals, nonempty, k, self.name)

    def recommend_many(self, sessions: Sequence[Session], k: int, batch_size: int = 512) -> list[list[Candidate]]:
        if self.scorer is None and self.net is None:
            raise RuntimeError("DeepRecommender is not trained: call fit() or build it with from_artifact()")
        torch.set_num_threads(self.threads)
        out: list[list[Candidate]] = []
        for b in range(0, len(sessions), batch_size):
            lists = [s.items for s in sessions[b:b + batch_size]]
            out.extend(self.scorer.top_k_many(lists, k) if self.scorer is not None else self._torch_top_k(lists, k))
        return out

    def recommend(self, session: Session, k: int) -> list[Candidate]:
        return self.recommend_many([session], k)[0]

    # --- artifacts ----------------------------------------------------------------------------------
    def save(self, store: str | Path) -> Path:
        """Write a new artifact version into ``store`` (not published); returns its directory."""
        from models.deep.artifact import write_artifact

        if self.net is None:
            raise RuntimeError("nothing to save: call fit() first")
        hyper = {k: v for k, v in self._get_params().items()}
        metrics = {"metric": "mrr@20", "validation": self.validation,
                   "history": [r.as_dict() for r in self.history], "train": self.train_info}
        return write_artifact(store, self.net, self.vocab, self.popular,
                              {"network": self.network_config(), "recommender": hyper}, metrics,
                              validation=self.validation_sessions)

    @classmethod
    def from_artifact(cls, path: str | Path, threads: int = 1) -> DeepRecommender:
        """A recommender that scores with the artifact's ONNX model (validated on load)."""
        from models.deep.artifact import load_artifact

        art = load_artifact(path, threads)
        params = {k: v for k, v in art.config.get("recommender", {}).items() if k in cls._param_names()}
        rec = cls(**params)
        rec.scorer = art.scorer
        rec.vocab = art.scorer.vocab
        rec.popular = art.scorer.popular
        rec.validation = dict(art.metrics.get("validation", {}))
        return rec

    @classmethod
    def _param_names(cls) -> set[str]:
        import inspect

        return set(inspect.signature(cls.__init__).parameters) - {"self"}

    @property
    def version(self) -> str:
        return self.scorer.version if self.scorer is not None else ""

    def torch_probs(self, item_lists: Sequence[Sequence[str]]) -> np.ndarray:
        """Torch scores in the ONNX scorer's layout, for parity checks."""
        assert self.net is not None
        self.net.eval()
        batch, _ = encode_batch(self.vocab, item_lists, self.max_len)
        with torch.no_grad():
            return self.net(torch.from_numpy(batch)).numpy()
