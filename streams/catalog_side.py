"""The catalog: item upserts and tombstones into the global ``catalog`` table, the model and Redis."""

from __future__ import annotations

import logging

import msgspec

from contracts.events import CatalogItem, decode_item
from streams.routing import DeadLetter, route_item

log = logging.getLogger(__name__)
_json = msgspec.json.Encoder()


class CatalogSide:
    """The ``catalog`` agent's work and the catalog changelog (a mixin of Handlers)."""

    # --- catalog -----------------------------------------------------------------------------
    async def on_catalog(self, window) -> None:
        table = self.tables.catalog
        for event in window:
            msg = event.message
            routed = route_item(event.value, event.key, topic=msg.topic, partition=msg.partition,
                                offset=msg.offset)
            if isinstance(routed, DeadLetter):
                await self.send_dead_letter(routed)
            elif isinstance(routed, str):
                if routed in table:
                    del table[routed]
                self.apply_item(routed, None)
                await self.writer.set_item(routed, None)
                await self.forget_item_side(routed)
            else:
                body = _json.encode(routed)
                table[routed.item_id] = body
                self.apply_item(routed.item_id, routed)
                await self.writer.set_item(routed.item_id, body)

    def apply_item(self, item_id: str, item: CatalogItem | None) -> None:
        if item is None:
            self.categories.pop(item_id, None)
            if self.scores:
                self.processor.model.remove_item(item_id)
            return
        self.categories[item_id] = item.leaf_category
        if self.scores:
            self.processor.model.learn_item(item)

    async def on_catalog_changelog(self, event) -> None:
        try:
            item_id = event.key.decode() if isinstance(event.key, bytes) else event.key
            self.apply_item(item_id, decode_item(event.value) if event.value else None)
        except Exception as exc:  # noqa: BLE001
            log.error("skipping bad catalog changelog record: %s", exc)
