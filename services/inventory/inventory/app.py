"""The WSGI application: routing, request validation, JSON in and out.

Plain WSGI keeps the service on the standard library plus psycopg; any WSGI
server can host it, and ``__main__`` uses wsgiref with a thread per request.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

from inventory.config import Settings
from inventory.store import Conflict, NotFound, Store

log = logging.getLogger("inventory")

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
REASONS = {200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request",
           404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
           413: "Payload Too Large", 503: "Service Unavailable"}
SKU = re.compile(r"[A-Z0-9-]{1,32}")
MAX_BODY = 64 * 1024
KIND_NAMES = {str: "a string", int: "an integer"}


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class App:
    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.settings = settings
        self.store = store or Store(settings.database_url)
        self.routes: list[tuple[str, re.Pattern[str], Callable[..., tuple[int, Any]]]] = [
            ("GET", re.compile(r"/healthz"), self.health),
            ("POST", re.compile(r"/items"), self.create_item),
            ("GET", re.compile(r"/items/(?P<sku>[^/]+)"), self.get_item),
            ("POST", re.compile(r"/items/(?P<sku>[^/]+)/reservations"), self.reserve),
            ("DELETE", re.compile(r"/reservations/(?P<rid>[0-9]+)"), self.release),
        ]

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            status, body = self.dispatch(environ)
        except HttpError as exc:
            status, body = exc.status, {"error": str(exc)}
        except NotFound as exc:
            status, body = 404, {"error": str(exc)}
        except Conflict as exc:
            status, body = 409, {"error": str(exc)}
        except Exception:
            log.exception("request failed")
            status, body = 503, {"error": "internal error"}
        payload = b"" if body is None else json.dumps(body).encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
        start_response(f"{status} {REASONS.get(status, '')}", headers)
        return [payload]

    def dispatch(self, environ: dict[str, Any]) -> tuple[int, Any]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/")
        allowed = False
        for verb, pattern, handler in self.routes:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            if verb != method:
                allowed = True
                continue
            if method in ("POST", "PUT"):
                return handler(_read_json(environ), **match.groupdict())
            return handler(**match.groupdict())
        raise HttpError(405 if allowed else 404, f"{method} {path} is not a route")

    # -- handlers ------------------------------------------------------------
    def health(self) -> tuple[int, Any]:
        try:
            self.store.ping()
        except Exception as exc:
            return 503, {"status": "unavailable", "error": type(exc).__name__}
        return 200, {"status": "ok"}

    def create_item(self, body: dict[str, Any]) -> tuple[int, Any]:
        sku = _field(body, "sku", str)
        if not SKU.fullmatch(sku):
            raise HttpError(400, "sku must be 1-32 of A-Z, 0-9 and '-'")
        name = _field(body, "name", str).strip()
        if not name:
            raise HttpError(400, "name must not be empty")
        quantity = _field(body, "quantity", int)
        if quantity < 0:
            raise HttpError(400, "quantity must be >= 0")
        return 201, self.store.create_item(sku, name, quantity)

    def get_item(self, sku: str) -> tuple[int, Any]:
        return 200, self.store.get_item(sku)

    def reserve(self, body: dict[str, Any], sku: str) -> tuple[int, Any]:
        order_id = _field(body, "order_id", str)
        quantity = _field(body, "quantity", int)
        if not 1 <= quantity <= self.settings.max_reservation:
            raise HttpError(400, f"quantity must be 1..{self.settings.max_reservation}")
        res = self.store.reserve(sku, order_id, quantity)
        return (201 if res.created else 200), {"id": res.id, "sku": res.sku,
                                               "order_id": res.order_id,
                                               "quantity": res.quantity}

    def release(self, rid: str) -> tuple[int, Any]:
        self.store.release(int(rid))
        return 204, None


def _read_json(environ: dict[str, Any]) -> dict[str, Any]:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise HttpError(400, "bad Content-Length") from None
    if length > MAX_BODY:
        raise HttpError(413, f"body over {MAX_BODY} bytes")
    raw = environ["wsgi.input"].read(length) if length else b""
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        raise HttpError(400, "body is not JSON") from None
    if not isinstance(body, dict):
        raise HttpError(400, "body must be a JSON object")
    return body


def _field(body: dict[str, Any], name: str, kind: type) -> Any:
    value = body.get(name)
    # bool is an int in Python; a JSON true is not a quantity.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise HttpError(400, f"{name} must be {KIND_NAMES[kind]}")
    return value
