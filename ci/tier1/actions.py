"""The marketplace actions the generated workflows use, pinned to full commit SHAs.

One table, so the generator, the local ``act`` run (which swaps each action for
a stand-in) and the tests agree on what is pinned. A tag such as ``@v4`` can be
moved by whoever controls the action's repository; a full SHA cannot (zizmor
rates unpinned ``uses:`` high). The version goes in a trailing comment so a
reader, and Dependabot, can tell what the SHA is.

To upgrade: read the release tag's commit SHA from the action's own repository
and change it here, then run ``nox -s workflows``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ci.tier1.yamltext import Commented


@dataclass(frozen=True)
class Action:
    repo: str
    sha: str
    version: str
    stand_in: str
    """Folder under ``ci/tier1/stand_ins/`` that replaces it in a local ``act`` run."""

    @property
    def ref(self) -> str:
        return f"{self.repo}@{self.sha}"

    @property
    def uses(self) -> Commented:
        return Commented(self.ref, self.version)


CHECKOUT = Action("actions/checkout", "3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1",
                  "checkout")
SETUP_PYTHON = Action("actions/setup-python", "5fda3b95a4ea91299a34e894583c3862153e4b97",
                      "v7.0.0", "setup-python")
UPLOAD_ARTIFACT = Action("actions/upload-artifact", "bbbca2ddaa5d8feaa63e36b76fdaad77386f024f",
                         "v7.0.0", "upload-artifact")
CONFIGURE_AWS = Action("aws-actions/configure-aws-credentials",
                       "e6de054238d6b7531b4efff3b6587d9aade6a06c", "v6.2.3",
                       "configure-aws-credentials")

ALL: tuple[Action, ...] = (CHECKOUT, CONFIGURE_AWS, SETUP_PYTHON, UPLOAD_ARTIFACT)
