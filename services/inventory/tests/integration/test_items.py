"""Items: create, read, and every way a request can be refused."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from inv_client import Client


def test_health_reports_the_database(api: Client) -> None:
    assert api.get("/healthz") == (200, {"status": "ok"})


def test_created_item_reads_back_with_nothing_reserved(api: Client) -> None:
    status, body = api.post("/items", {"sku": "BOLT-10", "name": "Bolt M10", "quantity": 7})
    assert status == 201
    assert body == {"sku": "BOLT-10", "name": "Bolt M10", "quantity": 7, "reserved": 0,
                    "available": 7}
    assert api.get("/items/BOLT-10") == (200, body)


def test_duplicate_sku_is_a_conflict_and_keeps_the_first(api: Client) -> None:
    api.post("/items", {"sku": "NUT-5", "name": "Nut", "quantity": 1})
    status, body = api.post("/items", {"sku": "NUT-5", "name": "Other", "quantity": 9})
    assert status == 409
    assert "already exists" in body["error"]
    assert api.get("/items/NUT-5")[1]["name"] == "Nut"


@pytest.mark.parametrize("payload, fragment", [
    ({"sku": "bad sku", "name": "x", "quantity": 1}, "sku must be"),
    ({"sku": "OK-1", "name": "  ", "quantity": 1}, "name must not be empty"),
    ({"sku": "OK-1", "name": "x", "quantity": -1}, "quantity must be >= 0"),
    ({"sku": "OK-1", "name": "x", "quantity": True}, "quantity must be an integer"),
    ({"sku": "OK-1", "name": "x"}, "quantity must be an integer"),
])
def test_invalid_items_are_refused_and_not_stored(api: Client, db: psycopg.Connection[Any],
                                                 payload: dict[str, Any],
                                                 fragment: str) -> None:
    status, body = api.post("/items", payload)
    assert status == 400
    assert fragment in body["error"]
    assert db.execute("SELECT count(*) FROM items").fetchone() == (0,)


def test_body_that_is_not_json_is_a_bad_request(api: Client) -> None:
    status, body = api.request("POST", "/items", raw=b"{not json")
    assert (status, body["error"]) == (400, "body is not JSON")


def test_unknown_item_and_route(api: Client) -> None:
    assert api.get("/items/NOPE")[0] == 404
    assert api.get("/nothing-here")[0] == 404
    assert api.delete("/items")[0] == 405


def test_schema_rejects_negative_stock_even_without_the_api(db: psycopg.Connection[Any]) -> None:
    """The migration's CHECK is the guard of last resort."""
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute("INSERT INTO items (sku, name, quantity) VALUES ('X-1', 'x', -1)")
