"""Host ports: pick a free one, or explain who holds a pinned one."""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel says is free now (another process could still take it first)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def free_ports(count: int, host: str = "127.0.0.1", *, avoid: set[int] | None = None) -> list[int]:
    """``count`` distinct ports, each free now, none in ``avoid``: side ports of a topology.

    The sockets stay bound until all are picked, so the kernel cannot hand
    the same port out twice; each is checked again once released.
    """
    taken = set(avoid or ())
    held: list[socket.socket] = []
    try:
        while len(held) < count:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            if int(sock.getsockname()[1]) in taken:
                sock.close()
                continue
            taken.add(int(sock.getsockname()[1]))
            held.append(sock)
        ports = [int(s.getsockname()[1]) for s in held]
    finally:
        for sock in held:
            sock.close()
    if all(port_is_free(p, host) for p in ports):
        return ports
    return free_ports(count, host, avoid=avoid)  # one was taken meanwhile: pick again


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table, encoding="ascii") as fh:
            next(fh, None)
            for line in fh:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                    inodes.add(inode)
    return inodes


def port_holder(port: int) -> str | None:
    """``"pid 1234 (nats-server)"`` for the process listening on ``port``, if visible."""
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    wanted = {f"socket:[{i}]" for i in inodes}
    for pid_dir in Path("/proc").iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            for fd in (pid_dir / "fd").iterdir():
                if os.readlink(fd) in wanted:
                    name = (pid_dir / "comm").read_text().strip()
                    return f"pid {pid_dir.name} ({name})"
        except OSError:
            continue
    return "another process (not visible to this user)"
