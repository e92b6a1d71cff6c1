"""Hot swap of the deep model inside a running worker (the ``deep-swap`` timer's work).

Each tick reads the store's ``CURRENT`` pointer (one small file read); when it names a version the
worker does not run, the artifact is loaded and validated in a thread (``run_in_executor``: checksums,
onnxruntime session, probe scores take from tens of milliseconds to seconds, and the event loop must
keep consuming meanwhile), then swapped in with one reference assignment between two windows. A
version that fails to load is logged once and remembered, and the running one stays.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from contracts.artifacts import VERSIONS, ArtifactError, current_version

log = logging.getLogger(__name__)


class DeepSwapper:
    """Watches ``store`` and swaps new versions into ``source`` (a :class:`models.deep.source.DeepSource`)."""

    def __init__(self, store: Path, source, on_swap=None):
        self.store = Path(store)
        self.source = source
        self.on_swap = on_swap
        self.rejected: set[str] = set()
        # Imported here: models.deep pulls in torch, which a worker without a deep source never needs.
        from models.deep.artifact import load_artifact

        self.load_artifact = load_artifact

    async def poll(self) -> str | None:
        """Swap in the current version if it is new and loads; returns the version swapped in, if any."""
        try:
            version = current_version(self.store)
        except OSError as exc:
            log.warning("deep store %s unreadable: %s", self.store, exc)
            return None
        if version is None or version == self.source.version or version in self.rejected:
            return None
        loop = asyncio.get_running_loop()
        try:
            artifact = await loop.run_in_executor(None, self.load_artifact, self.store / VERSIONS / version)
        except (ArtifactError, OSError) as exc:
            self.rejected.add(version)
            log.error("deep model %s rejected, keeping %s: %s", version, self.source.version or "none", exc)
            return None
        self.source.swap(artifact.scorer)
        if self.on_swap is not None:
            self.on_swap(version)
        log.info("deep model %s swapped in (validation %s)", version, artifact.metrics.get("validation"))
        return version


def deep_swapper(settings, handlers) -> DeepSwapper | None:
    """A swapper for the worker's recommender when it has a deep source, else None (no timer)."""
    source = getattr(handlers.recommender, "deep", None)
    if source is None or not hasattr(source, "swap"):
        return None
    recommender, processor = handlers.recommender, handlers.processor

    def on_swap(version: str) -> None:
        # Lists written from the next window on carry the new version.
        processor.model_version = getattr(recommender, "version", version)
        handlers.metrics.set_model_version("deep", version)

    if source.version:
        handlers.metrics.set_model_version("deep", source.version)
    return DeepSwapper(settings.resolved_deep_store, source, on_swap)
