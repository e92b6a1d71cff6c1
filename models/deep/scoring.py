"""ONNX export of :class:`SessionNet` and the onnxruntime scorer the stream uses.

The scorer is batched: one ``InferenceSession.run`` scores a whole take window of sessions, then
``argpartition`` picks each row's top ``k``. It holds no torch state, so the worker imports onnxruntime
and numpy only on the scoring path: torch (~500 MB of RSS) is imported inside :func:`export_onnx`, which
only training runs.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence

from typing import TYPE_CHECKING

import numpy as np

from models.base import Candidate, Session
from models.deep.data import ItemVocab

if TYPE_CHECKING:
    from models.deep.network import SessionNet

OPSET = 17
INPUT = "items"
OUTPUT = "probs"
TOP_VALUES, TOP_COLUMNS = "top_probs", "top_columns"
EXPORT_TOP_K = 200


def _with_top_k(net: SessionNet, k: int):
    """``net`` plus the top-k inside the graph: copying (B, n_items) probabilities out of onnxruntime
    and partitioning them in numpy costs more than the whole network."""
    import torch

    class WithTopK(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net, self.k = net, k

        def forward(self, items: torch.Tensor):
            probs = self.net(items)
            values, columns = torch.topk(probs, self.k, dim=1)
            return probs, values, columns

    return WithTopK()


def export_onnx(net: SessionNet) -> bytes:
    """The scoring path (``net.forward``) as an ONNX model with dynamic batch and length.

    Outputs: ``probs`` (B, n_items) and the top ``EXPORT_TOP_K`` of each row, best first
    (``top_probs``, ``top_columns``); onnxruntime computes only the outputs a caller asks for.
    """
    import torch

    net.eval()
    example = torch.tensor([[1, 1], [1, 0]], dtype=torch.int64)
    buf = io.BytesIO()
    outputs = [OUTPUT, TOP_VALUES, TOP_COLUMNS]
    with warnings.catch_warnings():
        # The legacy exporter is the one that needs no onnxscript; its tracer warnings concern
        # shape constants that are genuinely constant here (embedding width, head count).
        warnings.simplefilter("ignore")
        torch.onnx.export(_with_top_k(net, min(EXPORT_TOP_K, net.n_items)), (example,), buf, dynamo=False,
                          input_names=[INPUT], output_names=outputs,
                          dynamic_axes={INPUT: {0: "batch", 1: "length"}, **{o: {0: "batch"} for o in outputs}},
                          opset_version=OPSET)
    return buf.getvalue()


def encode_batch(vocab: ItemVocab, sessions: Sequence[Sequence[str]], max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Right-padded (B, T) int64 indices of the last ``max_len`` known items, and which rows are non-empty."""
    encoded = [vocab.encode(s)[-max_len:] for s in sessions]
    width = max([len(e) for e in encoded] + [1])
    out = np.zeros((len(encoded), width), dtype=np.int64)
    for row, e in enumerate(encoded):
        out[row, :len(e)] = e
    return out, out[:, 0] != 0


def top_k(probs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of each row's ``k`` largest entries, best first."""
    k = min(k, probs.shape[1])
    idx = np.argpartition(-probs, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(probs, idx, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    return np.take_along_axis(idx, order, axis=1), np.take_along_axis(vals, order, axis=1)


def to_candidates(vocab: ItemVocab, popular: Sequence[str], idx: np.ndarray, vals: np.ndarray,
                  nonempty: np.ndarray, k: int, source: str) -> list[list[Candidate]]:
    """Rows of (column, probability) as Candidates; a session with no known item gets the popular list."""
    out: list[list[Candidate]] = []
    fallback = [Candidate(item, 0.0, "popular", source) for item in popular[:k]]
    for row in range(idx.shape[0]):
        if not nonempty[row]:
            out.append(list(fallback))
            continue
        out.append([Candidate(vocab.items[c], float(v), "deep session model", source)
                    for c, v in zip(idx[row], vals[row])])
    return out


class OnnxScorer:
    """Scores sessions with an exported model; ``version`` says which artifact it came from."""

    name = "deep"

    def __init__(self, onnx_bytes: bytes, vocab: ItemVocab, popular: Sequence[str], max_len: int,
                 version: str = "", threads: int = 1):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(onnx_bytes, opts, providers=["CPUExecutionProvider"])
        outputs = {o.name: o for o in self.session.get_outputs()}
        self.graph_k = int(outputs[TOP_COLUMNS].shape[1]) if TOP_COLUMNS in outputs else 0
        self.vocab = vocab
        self.popular = list(popular)
        self.max_len = max_len
        self.version = version

    def probs_many(self, item_lists: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
        """(B, n_items) next-item probabilities (column j = ``vocab.items[j]``) and the non-empty mask."""
        batch, nonempty = encode_batch(self.vocab, item_lists, self.max_len)
        # An empty row would point its gather at position -1; give it a dummy item and ignore its output.
        batch[~nonempty, 0] = 1
        return self.session.run([OUTPUT], {INPUT: batch})[0], nonempty

    def top_k_many(self, item_lists: Sequence[Sequence[str]], k: int) -> list[list[Candidate]]:
        if not item_lists:
            return []
        if k > self.graph_k:
            probs, nonempty = self.probs_many(item_lists)
            idx, vals = top_k(probs, k)
        else:
            batch, nonempty = encode_batch(self.vocab, item_lists, self.max_len)
            batch[~nonempty, 0] = 1
            vals, idx = self.session.run([TOP_VALUES, TOP_COLUMNS], {INPUT: batch})
            vals, idx = vals[:, :k], idx[:, :k]
        return to_candidates(self.vocab, self.popular, idx, vals, nonempty, k, self.name)

    def recommend_many(self, sessions: Sequence[Session], k: int) -> list[list[Candidate]]:
        return self.top_k_many([s.items for s in sessions], k)

    def candidates(self, session: Session, k: int) -> list[Candidate]:
        return self.top_k_many([session.items], k)[0]

    def candidates_many(self, sessions: Sequence[Session], k: int) -> list[list[Candidate]]:
        return self.recommend_many(sessions, k)
