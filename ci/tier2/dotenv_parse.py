"""A strict .env reader: every line is a binding, a comment or blank, or exit 2 names it.

python-dotenv drops a line it cannot parse with a logger warning that names
neither the file nor the line, and a typo then silently becomes a missing
variable. This reader accepts the common syntax (``KEY=value``, ``export``,
single quotes taken literally, double quotes with ``\\n``/``\\"`` escapes, both
spanning lines, ``# comments``, ``${VAR}`` and ``${VAR:-default}`` expanded
from earlier keys in the file, then the process environment) and refuses
anything else with the file and line number. It needs only the standard
library, so the nox process needs nothing beyond nox to read .env files.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from ci.errors import ConfigError

_KEY = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}


def _expand(text: str, known: Mapping[str, str], environ: Mapping[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        found = known.get(name) or environ.get(name)
        return found if found else (default or "")
    return _VAR.sub(value, text)


def parse(path: Path, environ: Mapping[str, str], label: str | None = None) -> dict[str, str]:
    """Every binding in ``path``, expanded; ConfigError naming ``label``:line for a bad one."""
    where = label or str(path)
    text = path.read_text(encoding="utf-8")
    values: dict[str, str] = {}
    pos, line = 0, 1

    def bad(at_line: int, why: str) -> ConfigError:
        shown = text.splitlines()[at_line - 1] if at_line <= len(text.splitlines()) else ""
        return ConfigError(f"{where}:{at_line}: {why}: {shown.strip()[:80]!r}",
                           hint="write KEY=value (quote values with spaces or '#'); "
                           "comments start with '#'")

    while pos < len(text):
        end = text.find("\n", pos)
        end = len(text) if end == -1 else end
        raw = text[pos:end]
        start_line = line
        if not raw.strip() or raw.lstrip().startswith("#"):
            pos, line = end + 1, line + 1
            continue
        m = _KEY.match(raw)
        if not m:
            raise bad(start_line, "not a KEY=value line")
        key = m.group(1)
        rest_at = pos + m.end()
        quote = text[rest_at] if rest_at < len(text) else ""
        if quote in ("'", '"'):
            close = rest_at + 1
            chars: list[str] = []
            while True:
                if close >= len(text):
                    raise bad(start_line, f"{quote} is never closed")
                ch = text[close]
                if ch == "\n":
                    line += 1
                if quote == '"' and ch == "\\" and close + 1 < len(text):
                    nxt = text[close + 1]
                    chars.append(_ESCAPES.get(nxt, "\\" + nxt))
                    close += 2
                    continue
                if ch == quote:
                    break
                chars.append(ch)
                close += 1
            value = "".join(chars)
            if quote == '"':
                value = _expand(value, values, environ)
            tail_end = text.find("\n", close)
            tail_end = len(text) if tail_end == -1 else tail_end
            tail = text[close + 1:tail_end].strip()
            if tail and not tail.startswith("#"):
                raise bad(line, "text after the closing quote")
            values[key] = value
            pos, line = tail_end + 1, line + 1
            continue
        value = text[rest_at:end]
        value = re.split(r"\s+#", value, maxsplit=1)[0].strip()
        values[key] = _expand(value, values, environ)
        pos, line = end + 1, line + 1
    return values
