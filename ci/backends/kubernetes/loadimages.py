"""``--load-images``: put the stand-in images into a kind or k3d cluster's nodes.

An air-gapped machine builds its images locally (``nox -s images``); a kind or
k3d node has its own image store and cannot pull them from anywhere, so they
are imported with the cluster tool's own command. Pods use
``imagePullPolicy: IfNotPresent``, so an imported image is used as is.
"""

from __future__ import annotations

import shutil
import subprocess

from ci.console import Console
from ci.errors import ConfigError, InfraError


def command(context: str, image: str) -> list[str]:
    if context.startswith("kind-"):
        return ["kind", "load", "docker-image", image, "--name", context[len("kind-"):]]
    if context.startswith("k3d-"):
        return ["k3d", "image", "import", image, "--cluster", context[len("k3d-"):]]
    raise ConfigError(f"--load-images works with kind-* and k3d-* contexts, not {context!r}",
                      hint="push the images to a registry the cluster can pull from instead")


def load(context: str, images: list[str], console: Console, timeout: float = 600) -> None:
    for image in images:
        argv = command(context, image)
        if shutil.which(argv[0]) is None:
            raise ConfigError(f"--load-images needs the `{argv[0]}` command on PATH")
        console.info(f"loading {image} into {context}")
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise InfraError(f"{' '.join(argv)} failed ({done.returncode}): "
                             f"{(done.stderr or done.stdout).strip()[-500:]}")
