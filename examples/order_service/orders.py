"""The order service's state: orders placed and looked up, shared by its HTTP and Triple APIs."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


class TooManyItemsError(ValueError):
    """An order with more items than ``orders.max_items`` allows."""


@dataclass(frozen=True)
class Order:
    id: int
    items: tuple[str, ...]

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "items": list(self.items)}


@dataclass
class OrderBook:
    """Orders in memory, safe to use from the HTTP workers and the gRPC thread pool at once."""

    _orders: dict[int, Order] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def place(self, items: list[str], limit: int) -> Order:
        if len(items) > limit:
            raise TooManyItemsError(f"at most {limit} items")
        with self._lock:
            order = Order(len(self._orders) + 1, tuple(items))
            self._orders[order.id] = order
        return order

    def get(self, order_id: int) -> Order | None:
        return self._orders.get(order_id)
