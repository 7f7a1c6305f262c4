"""Test-friendly PostgreSQL settings, and a migrated database cached as a local image.

Settings: a test database holds nothing worth an fsync. A postgres-kind
service whose compose file gives it no ``command``/``entrypoint`` of its own
is started with the kind's server arguments (``postgres -c fsync=off -c
synchronous_commit=off -c full_page_writes=off``, the local backend's settings),
which both the official image and the air-gapped stand-in accept.
``postgres(..., test_settings=False)`` or ``TIERS_PG_DURABLE=1`` keeps
PostgreSQL's defaults.

Cache: initdb and the migrations cost seconds on every run although they give
the same result each time. After the first successful migrate the container
is committed to ``tiers-cache/<service>-<backing>:<hash>``; later runs start
from that image with the schema in place, and the migrate stage reports
"cached". The hash covers the image id, the settings (command and
environment) and ``ci.tier3.migrations.digest`` of the folder, so a changed
migration, image or setting builds a new one (and says which part changed).
The official image declares ``VOLUME /var/lib/postgresql/data`` and a commit
does not include volumes, so cached services keep PGDATA at
:data:`PGDATA` instead, inside the container's own layer. ``TIERS_NO_CACHE=1``
(or ``--no-cache``) ignores the cache and rebuilds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ci import usercache

CACHE_REPO = "tiers-cache"
CACHE_LABEL = "io.tiers.cache"
"""On every cache image: ``<service>/<backing>``."""
KEY_LABEL = "io.tiers.cache.key"
PART_LABELS = {"image": "io.tiers.cache.image", "settings": "io.tiers.cache.settings",
               "migrations": "io.tiers.cache.migrations"}
PGDATA = "/var/lib/postgresql/tiers-pgdata"
"""Outside the image's declared data volume, so ``docker commit`` keeps the cluster."""
SERVER_USER = "postgres"
"""The user the official image and the stand-in run the server as (it owns PGDATA)."""
KEEP_PER_BACKING = 3
"""Cache images kept per backing (for other migrations, images or settings)."""
UNTAGGED_GRACE_S = 600.0
"""How old an untagged cache image must be before a prune takes it for a leftover.

A run commits its container untagged and tags it a moment later; younger
untagged images may be another run's commit in flight, which a prune must not
pull from under it."""
DURABLE_ENV = "TIERS_PG_DURABLE"
NO_CACHE_ENV = "TIERS_NO_CACHE"


def durable() -> bool:
    return os.environ.get(DURABLE_ENV, "") not in ("", "0", "false", "no")


def no_cache_requested() -> bool:
    return os.environ.get(NO_CACHE_ENV, "") not in ("", "0", "false", "no")


def test_command(spec: dict[str, Any], server_args: list[str]) -> list[str] | None:
    """The ``command`` giving a postgres service the kind's settings; None to leave it alone.

    ``server_args`` come from the declaration (``Postgres.server_args()``: the
    test settings unless ``test_settings=False``, plus ``settings=``).
    """
    if durable() or not server_args or "command" in spec or "entrypoint" in spec:
        return None
    return ["postgres", *server_args]


def environment_of(spec: dict[str, Any]) -> dict[str, str]:
    env = spec.get("environment") or {}
    if isinstance(env, list):
        return dict(str(e).partition("=")[::2] for e in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def why_not_cacheable(spec: dict[str, Any]) -> str | None:
    if spec.get("volumes"):
        return "the service mounts volumes (its data may live there)"
    if "PGDATA" in environment_of(spec):
        return "the service sets PGDATA itself"
    if "entrypoint" in spec:
        return "the service has its own entrypoint"
    return None


@dataclass(frozen=True)
class CacheKey:
    service: str
    backing: str
    image: str
    """The id of the image the compose file names."""
    settings: str
    migrations: str
    """``ci.tier3.migrations.digest`` of the migrations folder."""

    @property
    def owner(self) -> str:
        return f"{self.service}/{self.backing}"

    @property
    def hash(self) -> str:
        h = hashlib.sha256("\0".join((self.image, self.settings, self.migrations)).encode())
        return h.hexdigest()[:16]

    @property
    def repository(self) -> str:
        return f"{CACHE_REPO}/{self.service.lower()}-{self.backing.lower()}"

    @property
    def reference(self) -> str:
        return f"{self.repository}:{self.hash}"

    def labels(self) -> dict[str, str]:
        return {CACHE_LABEL: self.owner, KEY_LABEL: self.hash,
                PART_LABELS["image"]: self.image, PART_LABELS["settings"]: self.settings,
                PART_LABELS["migrations"]: self.migrations}

    def changes(self, labels: dict[str, str]) -> str:
        """What differs from a cache image built with ``labels``, for "invalidated" lines."""
        out = []
        for part, label in PART_LABELS.items():
            old, new = labels.get(label, ""), str(getattr(self, part))
            if old != new:
                out.append(f"{part} changed ({_short(old)} -> {_short(new)})")
        return ", ".join(out) or "built by an older version of the framework"


def _short(value: str) -> str:
    value = value.removeprefix("sha256:")
    return value[:12] if len(value) > 12 and " " not in value else value[:60]


def make_key(cli: Any, service: str, backing: str, image_ref: str, spec: dict[str, Any],
             command: list[str] | None, migrations: str) -> CacheKey:
    image_id = str(cli.images.get(image_ref).id)
    settings = json.dumps({"command": command or spec.get("command"),
                           "environment": environment_of(spec), "pgdata": PGDATA},
                          sort_keys=True, separators=(",", ":"))
    return CacheKey(service, backing, image_id, settings, migrations)


def cache_images(cli: Any, owner: str) -> list[Any]:
    """This backing's cache images, without those removed while they were being listed.

    ``images.list`` of the SDK reads every listed image back and raises on one
    that another run removed in between (a lost race to tag, a prune).
    """
    import docker.errors

    found = []
    for row in cli.api.images(filters={"label": f"{CACHE_LABEL}={owner}"}):
        with contextlib.suppress(docker.errors.NotFound):
            found.append(cli.images.get(row["Id"]))
    return found


def find(cli: Any, key: CacheKey) -> tuple[Any | None, list[Any]]:
    """The cache image for ``key`` (or None) and the other cache images of the same backing."""
    hit, others = None, []
    for image in cache_images(cli, key.owner):
        if (image.labels or {}).get(KEY_LABEL) == key.hash and hit is None:
            hit = image
        else:
            others.append(image)
    return hit, others


def checkpoint(endpoint: Any) -> None:
    """Flush everything to the data files, so the committed copy needs no recovery work."""
    import psycopg

    with psycopg.connect(host=endpoint.host, port=endpoint.port, user=endpoint.user,
                         password=endpoint.password, dbname=endpoint.database,
                         autocommit=True, connect_timeout=10) as conn:
        conn.execute("CHECKPOINT")


def commit(cli: Any, container: Any, key: CacheKey, *, replace: bool = False
           ) -> tuple[str, float, bool]:
    """Commit the running container as the cache image: (reference, seconds, saved).

    Committed untagged first, then :func:`claim` tags it unless a concurrent
    run already tagged one for the same key (``saved`` is then False).
    """
    started = time.monotonic()
    # The low-level call returns the new id without reading the image back,
    # so nothing here depends on the image surviving a concurrent prune.
    image_id = str(cli.api.commit(container.id, conf={"Labels": key.labels()},
                                  pause=True)["Id"])
    saved = claim(cli, image_id, key, replace=replace)
    return key.reference, time.monotonic() - started, saved


def claim(cli: Any, image_id: str, key: CacheKey, *, replace: bool = False) -> bool:
    """Tag a committed image as the cache for ``key``; False if another run's is there.

    Ours is then dropped, so runs racing to fill an empty cache leave one
    image. ``replace`` (``--no-cache``) moves the tag to ours and drops the old.
    """
    import docker.errors

    with owner_lock(key.owner):  # Docker's tag is no compare-and-swap: look and tag as one
        try:
            old = cli.images.get(key.reference)
        except docker.errors.ImageNotFound:
            old = None
        if old is not None and not replace:
            remove_quietly(cli, image_id)
            return False
        cli.api.tag(image_id, key.repository, key.hash, force=True)
    if old is not None and old.id != image_id:
        remove_quietly(cli, old.id)
    return True


@contextlib.contextmanager
def owner_lock(owner: str) -> Iterator[None]:
    """Hold this backing's cache lock: runs on one machine take turns to tag and prune.

    Without it two runs filling an empty cache could both find no image and
    both tag, the second orphaning the first's image. The lock file lives
    beside the framework's other caches and is never removed (removing a
    lock file others may hold open is what breaks ``flock``).
    """
    base = usercache.directory() / "locks"
    base.mkdir(parents=True, exist_ok=True)
    slug = hashlib.sha256(owner.encode()).hexdigest()[:16]
    with open(base / f"dbcache-{slug}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def remove_quietly(cli: Any, image_id: str) -> bool:
    """Remove an image; False when a container still uses it (a later run retries)."""
    import docker.errors

    try:
        cli.images.remove(image_id, force=False, noprune=False)
    except docker.errors.NotFound:
        return True
    except docker.errors.APIError:
        return False
    return True


def prune_superseded(cli: Any, key: CacheKey, keep: int = KEEP_PER_BACKING) -> list[str]:
    """Remove this backing's older cache images beyond the ``keep`` newest; returns what went.

    A few are kept, not one: two branches (or checkouts) with different
    migrations would otherwise rebuild each other's cache on every switch.
    Untagged leftovers of a crashed run go once older than
    :data:`UNTAGGED_GRACE_S`; a younger one may be a concurrent run's commit
    between its ``commit`` and its ``tag``.
    """
    with owner_lock(key.owner):
        return _prune(cli, key, keep)


def _prune(cli: Any, key: CacheKey, keep: int) -> list[str]:
    removed = []
    ours = [i for i in cache_images(cli, key.owner) if key.reference not in i.tags]
    ours.sort(key=lambda i: str(i.attrs.get("Created", "")), reverse=True)
    kept = 1  # the image just saved
    for image in ours:
        if image.tags and kept < keep:
            kept += 1
            continue
        if not image.tags and _age_s(image) < UNTAGGED_GRACE_S:
            continue
        if remove_quietly(cli, image.id):
            removed.append(", ".join(image.tags) or image.short_id)
    return removed


def _age_s(image: Any) -> float:
    """Seconds since the image was created (0 when Docker's timestamp cannot be read)."""
    from datetime import UTC, datetime

    created = str(image.attrs.get("Created", ""))
    try:  # Docker writes nanoseconds; fromisoformat takes at most microseconds
        head, _, frac = created.rstrip("Z").partition(".")
        stamp = datetime.fromisoformat(f"{head}.{frac[:6] or '0'}+00:00")
    except ValueError:
        return 0.0
    return (datetime.now(UTC) - stamp).total_seconds()
