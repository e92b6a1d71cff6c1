"""Side-by-side table and plot for several models evaluated on the same dataset and mode.

Offline: HR@K for K = 1..k, one line per model. Prequential: HR@k over stream position (the test
clicks cut into equal buckets), showing whether a model improves as it learns.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rich.table import Table

from models.evaluation.metrics import hit_rate_curve
from models.evaluation.protocol import EvalResult


def table(results: Sequence[EvalResult]) -> Table:
    first = results[0]
    t = Table(title=f"{first.dataset}, {first.mode}, k={first.k}")
    for col in ("model", f"HR@{first.k} %", f"MRR@{first.k} %", f"NDCG@{first.k}", "coverage", "cases", "seconds"):
        t.add_column(col, justify="left" if col == "model" else "right")
    for r in results:
        t.add_row(r.model, f"{r.hr:.2f}", f"{r.mrr:.2f}", f"{r.ndcg:.4f}", f"{r.coverage:.3f}", str(r.cases),
                  f"{r.seconds:.1f}")
    return t


def hit_rate_over_stream(ranks: np.ndarray, k: int, buckets: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """(bucket end positions, HR@k in percent per bucket) over the scored events in stream order."""
    ranks = np.asarray(ranks)
    if not len(ranks):
        return np.empty(0), np.empty(0)
    parts = np.array_split(ranks, min(buckets, len(ranks)))
    ends = np.cumsum([len(p) for p in parts])
    return ends, np.array([100.0 * float(((p >= 1) & (p <= k)).mean()) for p in parts])


def default_plot_path(dataset: str, mode: str) -> Path:
    return Path("out") / f"compare-{dataset}-{mode}.png"


def save_plot(results: Sequence[EvalResult], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")   # files only; never needs a display
    import matplotlib.pyplot as plt

    first = results[0]
    fig, ax = plt.subplots(figsize=(8, 5))
    if first.mode == "offline":
        ks = np.arange(1, first.k + 1)
        for r in results:
            ax.plot(ks, hit_rate_curve(r.ranks, r.k), marker="o", markersize=3, label=r.model)
        ax.set_xlabel("K")
        ax.set_ylabel("HR@K (%)")
        ax.set_xticks(ks)
    else:
        for r in results:
            x, y = hit_rate_over_stream(r.ranks, r.k)
            ax.plot(x, y, label=r.model)
        ax.set_xlabel("scored test events")
        ax.set_ylabel(f"HR@{first.k} (%) per bucket")
    ax.set_title(f"{first.dataset} ({first.mode})")
    ax.grid(alpha=0.3)
    ax.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
