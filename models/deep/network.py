"""The torch network: a causal self-attention session encoder with a learned repeat/explore mixture.

On shop logs the next item is very often one already in the session, so the network predicts with two
heads and a gate, as RepeatNet does: a *repeat* head that points at the session's own items (attention
over positions, summed per item) and an *explore* head that scores every item (full softmax over the
vocabulary, cosine similarity times a fixed scale as in NISER, which keeps popular items from
dominating through embedding norm). ``p(i) = g * p_repeat(i) + (1 - g) * p_explore(i)``.

The explore head's session representation (``readout``) is either ``"last"``, a projection of the last
position's hidden state (the first design), or ``"core"``, an attention-weighted sum of the session's own
item embeddings with the last hidden state as the query (CORE, Hou et al. SIGIR 2022; STAMP/NARM's
target attention): the representation then lives in the space of the item table it is scored against,
or ``"mix"``, the sum of the two (the item-space part cannot express "the item after this one" by
itself: a cycle i -> i+1 defeats it).
``repeat=False`` drops the repeat head and the gate (``p = p_explore``).

One forward pass over a whole session trains every prefix at once (causal mask), which is what makes
full-softmax training affordable on a CPU. ``forward`` is the scoring path that is exported to ONNX: it
takes right-padded item indices and returns the probability of every item (column ``j`` = index ``j+1``).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

_MASKED = -1e9
_NO_MATCH = -1e4


class CausalBlock(nn.Module):
    """Pre-norm transformer block written with plain ops (exports to ONNX without fused kernels)."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.drop = nn.Dropout(dropout)
        # Zero-initialised residual branches: the block starts as the identity, so the network starts
        # as a last-item model (the strongest signal on these logs) and learns to use the context;
        # with random branches the last item's identity drowns and training crawls.
        for layer in (self.proj, self.ff[-1]):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(d // self.heads)
        att = self.drop(torch.softmax(att.masked_fill(~allowed[:, None], _MASKED), dim=-1))
        y = (att @ v).transpose(1, 2).reshape(b, t, d)
        x = x + self.drop(self.proj(y))
        return x + self.drop(self.ff(self.norm2(x)))


READOUTS = ("last", "core", "mix")


class SessionNet(nn.Module):
    """Defaults of the keyword arguments added after format 1's first artifacts (``readout``, ``repeat``,
    ``item_dropout``) give the first architecture, so a ``config.json`` written before them still
    describes its network."""

    def __init__(self, n_items: int, dim: int = 64, max_len: int = 30, layers: int = 2, heads: int = 2,
                 dropout: float = 0.2, scale: float = 12.0, readout: str = "last", repeat: bool = True,
                 item_dropout: float = 0.0):
        super().__init__()
        if readout not in READOUTS:
            raise ValueError(f"readout {readout!r}: choose one of {READOUTS}")
        self.n_items = n_items
        self.max_len = max_len
        self.scale = scale
        self.readout = readout
        self.repeat = repeat
        # Dropout on the item table scored against (CORE's robust distance measurement): each training
        # step sees a perturbed table, so the cosine scores do not lean on a few embedding coordinates.
        self.item_drop = nn.Dropout(item_dropout)
        self.item_emb = nn.Embedding(n_items + 1, dim, padding_idx=0)
        self.pos_emb = nn.Embedding(max_len + 1, dim)
        self.norm_in = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(CausalBlock(dim, heads, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        if readout != "core":
            self.query = nn.Linear(dim, dim)
        # Only the parts the architecture uses: a state_dict then has exactly the first design's keys
        # under its defaults, so its weights load into this class unchanged.
        if repeat:
            self.rep_q = nn.Linear(dim, dim)
            self.rep_k = nn.Linear(dim, dim)
            self.gate = nn.Linear(dim, 1)
        if readout != "last":
            self.read_q = nn.Linear(dim, dim)
            self.read_k = nn.Linear(dim, dim)
        nn.init.normal_(self.item_emb.weight, std=0.05)
        nn.init.normal_(self.pos_emb.weight, std=0.01)

    def encode(self, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Hidden state per position (B, T, D) and the causal + padding mask (B, T, T) it used."""
        t = items.shape[1]
        pos = torch.arange(t, device=items.device)
        x = self.drop(self.norm_in(self.item_emb(items) + self.pos_emb(pos)[None]))
        valid = items != 0
        causal = torch.ones(t, t, dtype=torch.bool, device=items.device).tril()
        allowed = causal[None] & valid[:, None, :]
        for block in self.blocks:
            x = block(x, allowed)
        return self.norm(x), allowed

    def _represent(self, h_q: torch.Tensor, h: torch.Tensor, items: torch.Tensor,
                   allowed: torch.Tensor) -> torch.Tensor:
        """Session representation of each query state ``h_q`` (B, Q, D) over the positions ``allowed``
        (B, Q, T) of ``h`` / ``items`` (B, T, ...); returns (B, Q, D)."""
        if self.readout == "last":
            return self.query(h_q)
        att = (self.read_q(h_q) @ self.read_k(h).transpose(1, 2)) / math.sqrt(h.shape[-1])
        att = torch.softmax(att.masked_fill(~allowed, _MASKED), dim=-1)
        rep = att @ self.drop(self.item_emb(items))
        return rep if self.readout == "core" else rep + self.query(h_q)

    def _explore_logits(self, rep: torch.Tensor) -> torch.Tensor:
        items = F.normalize(self.item_drop(self.item_emb.weight[1:]), dim=-1)
        return self.scale * F.normalize(rep, dim=-1) @ items.T

    def loss(self, items: torch.Tensor, sampler: torch.Tensor | None = None, negatives: int = 0,
             label_smoothing: float = 0.0) -> torch.Tensor:
        """Mean negative log-likelihood of every next item of every (right-padded) session in the batch.

        With ``negatives > 0`` the explore softmax is a sampled softmax: ``negatives`` items shared by
        the batch, drawn from ``sampler`` (a distribution over tokens 1..n), with the logQ correction
        so that the estimate stays consistent; otherwise it is the full softmax over every item, and
        ``label_smoothing`` moves that share of the explore head's target to a uniform one.
        """
        h, allowed = self.encode(items[:, :-1])
        inp, tgt = items[:, :-1], items[:, 1:]
        has_target = tgt != 0
        target = tgt[has_target]
        rep = self._represent(h, h, inp, allowed)[has_target]
        smooth = None
        if negatives > 0 and sampler is not None:
            log_explore = self._sampled_log_softmax(rep, target, sampler, negatives)
        else:
            logits = self._explore_logits(rep)
            norm = torch.logsumexp(logits, dim=1)
            log_explore = logits.gather(1, (target - 1)[:, None]).squeeze(1) - norm
            if label_smoothing > 0:
                smooth = norm - logits.mean(dim=1)   # cross-entropy against the uniform distribution
        if self.repeat:
            att = (self.rep_q(h) @ self.rep_k(h).transpose(1, 2)) / math.sqrt(h.shape[-1])
            log_att = torch.log_softmax(att.masked_fill(~allowed, _MASKED), dim=-1)
            match = (inp[:, None, :] == tgt[:, :, None]) & allowed
            log_repeat = torch.logsumexp(log_att.masked_fill(~match, _NO_MATCH), dim=-1)[has_target]
            g = self.gate(h[has_target]).squeeze(1)
            nll = -torch.logaddexp(F.logsigmoid(g) + log_repeat, F.logsigmoid(-g) + log_explore)
        else:
            nll = -log_explore
        if smooth is not None:
            nll = (1 - label_smoothing) * nll + label_smoothing * smooth
        return nll.mean()

    def _sampled_log_softmax(self, rep: torch.Tensor, target: torch.Tensor, sampler: torch.Tensor,
                             negatives: int) -> torch.Tensor:
        neg = torch.multinomial(sampler, negatives, replacement=True) + 1
        q = F.normalize(rep, dim=-1)
        pos = self.scale * (q * F.normalize(self.item_emb(target), dim=-1)).sum(-1)
        negl = self.scale * q @ F.normalize(self.item_emb(neg), dim=-1).T
        log_q = torch.log(sampler * negatives)
        pos = pos - log_q[target - 1]
        negl = (negl - log_q[neg - 1][None]).masked_fill(neg[None] == target[:, None], _MASKED)
        logits = torch.cat([pos[:, None], negl], dim=1)
        return pos - torch.logsumexp(logits, dim=1)

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        """(B, T) right-padded indices, each row with >= 1 item -> (B, n_items) next-item probabilities."""
        h, _ = self.encode(items)
        last = (items != 0).sum(1) - 1
        h_last = h.gather(1, last[:, None, None].expand(-1, 1, h.shape[-1]))
        rep = self._represent(h_last, h, items, (items != 0)[:, None, :]).squeeze(1)
        h_last = h_last.squeeze(1)
        explore = torch.softmax(self._explore_logits(rep), dim=-1)
        if not self.repeat:
            return explore
        att = (self.rep_k(h) @ self.rep_q(h_last)[:, :, None]).squeeze(2) / math.sqrt(h.shape[-1])
        att = torch.softmax(att.masked_fill(items == 0, _MASKED), dim=-1)
        g = torch.sigmoid(self.gate(h_last))
        # The repeat mass lands on the session's few items only: add it into the explore row in place
        # of building a dense (B, n_items) repeat matrix. Padding has weight 0 (it adds 0 to column 0).
        return ((1 - g) * explore).scatter_add(1, (items - 1).clamp(min=0), g * att)
