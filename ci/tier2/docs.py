"""Generate the tables of ``docs/configuration.md`` from the code.

``python -m ci.tier2.docs`` rewrites the generated blocks (between
``<!-- BEGIN GENERATED: x -->`` and ``<!-- END GENERATED: x -->``) and leaves
the prose around them alone; ``--check`` writes nothing and exits 1 when the
file is stale. Tables: environment variables (:mod:`ci.tier2.options`), .env
files (:mod:`ci.tier2.envfiles`), exit codes (:mod:`ci.exit_codes`).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from ci.exit_codes import DESCRIPTIONS
from ci.tier2.options import OPTIONS

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
_BLOCK = re.compile(r"(<!-- BEGIN GENERATED: (\w+) -->\n)(.*?)(<!-- END GENERATED: \2 -->)",
                    re.DOTALL)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def env_table() -> str:
    rows = ["| Variable | Read by | Default | Meaning |", "|---|---|---|---|"]
    for opt in OPTIONS:
        names = " / ".join(f"`{n}`" for n in opt.name.split(" / "))
        rows.append(f"| {names} | {_cell(opt.read_by)} | {_cell(opt.default)} | "
                    f"{_cell(opt.help)} |")
    return "\n".join(rows)


def envfile_table() -> str:
    rows = [
        "| Precedence | Source | Committed? |",
        "|---|---|---|",
        "| 1 (highest) | the process environment (an empty value counts as unset) | - |",
        "| 2 | `services/<name>/.env.local`, then `.env.local` | no (git-ignored) |",
        "| 3 | `services/<name>/.env.<environment>`, then `.env.<environment>` | yes |",
        "| 4 | `services/<name>/.env`, then `.env` | yes |",
        "| 5 | Parameter Store (`EnvVar.ssm`, `Service.ssm_path`) for what is still unset "
        "| - |",
        "| 6 (lowest) | `EnvVar.default`, then `EnvVar.local_default` (only when CI is not "
        "`true`) | - |",
    ]
    return "\n".join(rows)


def exit_table() -> str:
    rows = ["| Code | Name | Meaning |", "|---|---|---|"]
    for code, text in DESCRIPTIONS.items():
        rows.append(f"| {int(code)} | `{code.name}` | {_cell(text)} |")
    return "\n".join(rows)


def tier3_options_table() -> str:
    from ci.tier3.options import markdown_table

    return markdown_table()


BLOCKS = {"env": env_table, "envfiles": envfile_table, "exit_codes": exit_table,
          "tier3_options": tier3_options_table}


def render(text: str) -> str:
    def replace(m: re.Match[str]) -> str:
        name = m.group(2)
        if name not in BLOCKS:
            return m.group(0)
        return f"{m.group(1)}{BLOCKS[name]()}\n{m.group(4)}"

    return _BLOCK.sub(replace, text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ci.tier2.docs", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    parser.add_argument("--file", type=Path, default=DOC)
    args = parser.parse_args(argv)
    current = args.file.read_text(encoding="utf-8")
    fresh = render(current)
    if args.check:
        if fresh != current:
            print(f"{args.file} is out of date: run `python -m ci.tier2.docs`", file=sys.stderr)
            return 1
        return 0
    if fresh != current:
        args.file.write_text(fresh, encoding="utf-8")
        print(f"updated {args.file}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
