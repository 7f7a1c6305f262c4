"""A minimal client for an OpenAI-compatible ``POST /chat/completions``.

stdlib ``urllib`` in a worker thread keeps the runtime dependencies to three
(nats-py, psycopg, redis) and keeps the event loop free while a slow model
answers. Errors carry the HTTP status and a short excerpt of the body, never a
request header, so the API key cannot end up in a log, a row or an event.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

ERROR_EXCERPT = 500


class LLMError(Exception):
    """The endpoint refused, failed or answered something unusable."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "message": self.message}


@dataclass(frozen=True)
class Completion:
    content: str
    model: str
    usage: dict[str, Any]


class ChatClient:
    def __init__(self, base_url: str, api_key: str, timeout: float = 60.0) -> None:
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._api_key = api_key
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"ChatClient(url={self._url!r})"

    async def complete(self, model: str, messages: list[dict[str, str]]) -> Completion:
        return await asyncio.to_thread(self._complete, model, messages)

    def _complete(self, model: str, messages: list[dict[str, str]]) -> Completion:
        body = json.dumps({"model": model, "messages": messages}).encode()
        request = urllib.request.Request(
            self._url,
            data=body,
            method="POST",
            headers={
                "Authorization": f"Bearer {self._api_key}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            excerpt = self._redact(exc.read()[:ERROR_EXCERPT].decode(errors="replace"))
            raise LLMError(f"HTTP {exc.code} from chat endpoint: {excerpt}", exc.code) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise LLMError(f"chat endpoint unreachable: {reason}") from None
        return _parse_completion(payload, model)

    def _redact(self, text: str) -> str:
        """Some endpoints quote the presented key in a 401 body; it must not reach a row."""
        return text.replace(self._api_key, "***") if self._api_key else text


def _parse_completion(payload: bytes, requested_model: str) -> Completion:
    try:
        body = json.loads(payload)
        content = body["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        excerpt = payload[:ERROR_EXCERPT].decode(errors="replace")
        raise LLMError(f"unexpected response from chat endpoint: {excerpt}") from None
    if not isinstance(content, str):
        raise LLMError("chat endpoint returned no text content")
    usage = body.get("usage")
    return Completion(
        content=content,
        model=str(body.get("model") or requested_model),
        usage=usage if isinstance(usage, dict) else {},
    )
