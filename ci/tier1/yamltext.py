"""A tiny, deterministic YAML writer for the generated workflows.

Why not PyYAML: it is not a runtime dependency of the framework, it cannot
write the ``# v7.0.1`` comment a pinned ``uses:`` needs, and its quoting and
key order depend on options that are easy to get wrong. Workflows use a small
subset of YAML (mappings, sequences, strings, ints, bools), so a writer for
exactly that subset is short, and its output is byte-for-byte stable, which
is what ``--check`` compares.

Mappings keep insertion order. A :class:`Commented` string is written with a
trailing comment. Multi-line strings become ``|`` blocks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

Node = object

INDENT = "  "
# Scalars written without quotes: they cannot be read back as another type or
# be mistaken for YAML syntax. Anything else is double-quoted (JSON escaping is
# valid YAML double-quoted style).
_PLAIN = re.compile(r"""[A-Za-z_/$.][A-Za-z0-9_./*${}()\[\]|&!=<>'" @-]*""")
_RESERVED = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


class Commented(str):
    """A string written with a trailing ``# comment`` (e.g. a pinned action's version)."""

    comment: str

    def __new__(cls, value: str, comment: str) -> Commented:
        obj = super().__new__(cls, value)
        obj.comment = comment
        return obj


def scalar(value: object) -> str:
    """One scalar as YAML text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, str):
        raise TypeError(f"cannot write {type(value).__name__} as a YAML scalar")
    text = str(value)
    plain = (
        _PLAIN.fullmatch(text) is not None
        and text.lower() not in _RESERVED
        and ": " not in text
        and " #" not in text
        and not text.endswith((" ", ":"))
        and not re.fullmatch(r"[0-9.eE+-]+", text)
    )
    out = text if plain else json.dumps(text)
    if isinstance(value, Commented):
        out += f"  # {value.comment}"
    return out


def _key(key: object) -> str:
    if not isinstance(key, str):
        raise TypeError(f"mapping keys must be strings, got {key!r}")
    # ``on`` is the workflow trigger key: GitHub reads it unquoted, so write it
    # as everyone does rather than as "on".
    return key if key == "on" else scalar(key)


def _is_block(value: object) -> bool:
    return isinstance(value, Mapping | list | tuple) and len(value) > 0


def _lines(node: Node, level: int) -> list[str]:
    pad = INDENT * level
    if isinstance(node, Mapping):
        out: list[str] = []
        for key, value in node.items():
            out += _entry(f"{pad}{_key(key)}:", value, level)
        return out
    if isinstance(node, Sequence) and not isinstance(node, str):
        out = []
        for item in node:
            child = _lines(item, level + 1) if _is_block(item) else None
            if child is None:
                out += _entry(f"{pad}-", item, level)
            else:
                # "- " followed by the first line of the nested block.
                first = child[0][len(INDENT * (level + 1)):]
                out.append(f"{pad}- {first}")
                out += child[1:]
        return out
    raise TypeError(f"top-level node must be a mapping or sequence, got {type(node).__name__}")


def _entry(head: str, value: object, level: int) -> list[str]:
    """``head`` (``key:`` or ``-``) followed by ``value``, inline or as a nested block."""
    if isinstance(value, Mapping | list | tuple):
        if not value:
            return [f"{head} {'{}' if isinstance(value, Mapping) else '[]'}"]
        return [head, *_lines(value, level + 1)]
    if isinstance(value, str) and "\n" in value:
        body = value if value.endswith("\n") else value + "\n"
        indicator = "|" if value.endswith("\n") else "|-"
        pad = INDENT * (level + 1)
        return [f"{head} {indicator}", *(f"{pad}{line}" if line else "" for line in
                                        body[:-1].split("\n"))]
    return [f"{head} {scalar(value)}"]


def dump(node: Node, header: str = "") -> str:
    """The YAML text of ``node``; ``header`` lines become leading ``#`` comments."""
    head = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    if isinstance(node, Mapping):
        # A blank line between top-level keys, as people write workflows.
        blocks = ["\n".join(_entry(f"{_key(k)}:", v, 0)) for k, v in node.items()]
        return head + "\n\n".join(blocks) + "\n"
    return head + "\n".join(_lines(node, 0)) + "\n"
