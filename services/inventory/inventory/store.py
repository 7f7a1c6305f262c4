"""The SQL. Every write that can race takes the item's row lock first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row


class NotFound(Exception):
    pass


class Conflict(Exception):
    pass


@dataclass(frozen=True)
class Reservation:
    id: int
    sku: str
    order_id: str
    quantity: int
    created: bool
    """False when an earlier reservation for the same order was returned."""


class Store:
    def __init__(self, database_url: str) -> None:
        self._url = database_url

    def _connect(self) -> psycopg.Connection[dict[str, Any]]:
        return psycopg.connect(self._url, row_factory=dict_row, connect_timeout=5)

    def ping(self) -> None:
        with self._connect() as conn:
            conn.execute("SELECT 1")

    def create_item(self, sku: str, name: str, quantity: int) -> dict[str, Any]:
        try:
            with self._connect() as conn:
                conn.execute("INSERT INTO items (sku, name, quantity) VALUES (%s, %s, %s)",
                             (sku, name, quantity))
        except psycopg.errors.UniqueViolation:
            raise Conflict(f"item {sku} already exists") from None
        return self.get_item(sku)

    def get_item(self, sku: str) -> dict[str, Any]:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT i.sku, i.name, i.quantity, COALESCE(SUM(r.quantity), 0)::int AS reserved"
                " FROM items i LEFT JOIN reservations r ON r.sku = i.sku"
                " WHERE i.sku = %s GROUP BY i.sku", (sku,)).fetchone()
        if row is None:
            raise NotFound(f"no item {sku}")
        row["available"] = row["quantity"] - row["reserved"]
        return dict(row)

    def reserve(self, sku: str, order_id: str, quantity: int) -> Reservation:
        with self._connect() as conn, conn.transaction():
            item = conn.execute("SELECT quantity FROM items WHERE sku = %s FOR UPDATE",
                                (sku,)).fetchone()
            if item is None:
                raise NotFound(f"no item {sku}")
            earlier = conn.execute(
                "SELECT id, quantity FROM reservations WHERE sku = %s AND order_id = %s",
                (sku, order_id)).fetchone()
            if earlier is not None:
                if earlier["quantity"] != quantity:
                    raise Conflict(f"order {order_id} already holds {earlier['quantity']} "
                                   f"of {sku}")
                return Reservation(earlier["id"], sku, order_id, quantity, created=False)
            held = conn.execute("SELECT COALESCE(SUM(quantity), 0)::int AS n FROM reservations"
                                " WHERE sku = %s", (sku,)).fetchone()
            assert held is not None
            available = item["quantity"] - held["n"]
            if quantity > available:
                raise Conflict(f"only {available} of {sku} available")
            row = conn.execute(
                "INSERT INTO reservations (sku, order_id, quantity) VALUES (%s, %s, %s)"
                " RETURNING id", (sku, order_id, quantity)).fetchone()
            assert row is not None
            return Reservation(row["id"], sku, order_id, quantity, created=True)

    def release(self, reservation_id: int) -> None:
        with self._connect() as conn:
            cur = conn.execute("DELETE FROM reservations WHERE id = %s", (reservation_id,))
            if cur.rowcount == 0:
                raise NotFound(f"no reservation {reservation_id}")
