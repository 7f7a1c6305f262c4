"""Reservations: stock is held, released, never oversold, and retries are idempotent."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
from inv_client import Client


def _item(api: Client, sku: str, quantity: int) -> None:
    assert api.post("/items", {"sku": sku, "name": sku.lower(), "quantity": quantity})[0] == 201


def test_reservation_holds_stock(api: Client) -> None:
    _item(api, "PUMP-1", 5)
    status, body = api.post("/items/PUMP-1/reservations", {"order_id": "o-1", "quantity": 3})
    assert status == 201
    assert body["quantity"] == 3 and body["sku"] == "PUMP-1"
    item = api.get("/items/PUMP-1")[1]
    assert (item["reserved"], item["available"]) == (3, 2)


def test_more_than_available_is_a_conflict(api: Client, db: psycopg.Connection[Any]) -> None:
    _item(api, "PUMP-2", 2)
    status, body = api.post("/items/PUMP-2/reservations", {"order_id": "o-1", "quantity": 3})
    assert status == 409
    assert body["error"] == "only 2 of PUMP-2 available"
    assert db.execute("SELECT count(*) FROM reservations").fetchone() == (0,)


def test_same_order_twice_returns_the_first_reservation(api: Client) -> None:
    _item(api, "VALVE-1", 10)
    first = api.post("/items/VALVE-1/reservations", {"order_id": "o-9", "quantity": 4})
    again = api.post("/items/VALVE-1/reservations", {"order_id": "o-9", "quantity": 4})
    assert first[0] == 201 and again[0] == 200
    assert first[1]["id"] == again[1]["id"]
    assert api.get("/items/VALVE-1")[1]["available"] == 6
    changed = api.post("/items/VALVE-1/reservations", {"order_id": "o-9", "quantity": 5})
    assert changed[0] == 409


def test_concurrent_reservations_never_oversell(api: Client) -> None:
    """Twenty clients race for five units: exactly five win, none goes negative."""
    _item(api, "LAST-5", 5)

    def reserve(i: int) -> int:
        return api.post("/items/LAST-5/reservations", {"order_id": f"race-{i}",
                                                       "quantity": 1})[0]

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(reserve, range(20)))
    assert sorted(statuses) == [201] * 5 + [409] * 15
    item = api.get("/items/LAST-5")[1]
    assert (item["reserved"], item["available"]) == (5, 0)


def test_release_returns_stock(api: Client) -> None:
    _item(api, "GEAR-1", 1)
    rid = api.post("/items/GEAR-1/reservations", {"order_id": "o-1", "quantity": 1})[1]["id"]
    assert api.post("/items/GEAR-1/reservations", {"order_id": "o-2", "quantity": 1})[0] == 409
    assert api.delete(f"/reservations/{rid}") == (204, None)
    assert api.delete(f"/reservations/{rid}")[0] == 404
    assert api.post("/items/GEAR-1/reservations", {"order_id": "o-2", "quantity": 1})[0] == 201


def test_reservation_limit_comes_from_the_environment(api: Client) -> None:
    limit = int(os.environ["INVENTORY_MAX_RESERVATION"])
    _item(api, "BULK-1", limit + 10)
    status, body = api.post("/items/BULK-1/reservations", {"order_id": "o-1",
                                                           "quantity": limit + 1})
    assert status == 400
    assert body["error"] == f"quantity must be 1..{limit}"
    assert api.post("/items/BULK-1/reservations", {"order_id": "o-2",
                                                   "quantity": limit})[0] == 201


def test_unknown_item_cannot_be_reserved(api: Client) -> None:
    assert api.post("/items/GHOST/reservations", {"order_id": "o", "quantity": 1})[0] == 404
