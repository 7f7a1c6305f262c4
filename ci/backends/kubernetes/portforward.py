"""Loopback ports for port-forwards, chosen when the endpoint is first asked for.

The wait stage asks for every endpoint before any server is ready, but a
forward can only attach to a running Pod. So the port is reserved first (the
pinned ``port=`` or a free one) and the forward starts on it once the Pod is
Ready; until then a probe sees "connection refused", which it treats as "not
yet", like any other backend's server still starting.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from ci.errors import ConfigError
from ci.ports import free_port, port_holder, port_is_free

HOST = "127.0.0.1"


@dataclass
class Forwards:
    ports: dict[str, int] = field(default_factory=dict)
    started: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reserve(self, name: str, pinned: int | None) -> int:
        with self.lock:
            if name not in self.ports:
                if pinned is not None and not port_is_free(pinned, HOST):
                    holder = port_holder(pinned) or "another process"
                    raise ConfigError(f"{name}: pinned port {pinned} is taken by {holder}",
                                      hint="stop it, or drop port= from the declaration")
                self.ports[name] = pinned if pinned is not None else free_port(HOST)
            return self.ports[name]
