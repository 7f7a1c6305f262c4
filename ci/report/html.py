"""``index.html`` for a multi-service run: one self-contained page, no scripts.

A row per service (failures first) with its status, test counts, links to its
evidence, and its time on one shared axis: when its session started, the
Tier 2 part (env, install) and then each Tier 3 stage, so parallel runs show
as overlapping bars. Every string passes through the masker, then escaping.
"""

from __future__ import annotations

import html as _html
from collections.abc import Mapping
from typing import Any

from ci.masking import redact

STAGE_COLOURS = {"tier2": "#9aa5b1", "sweep": "#c8b6e2", "up": "#5b8def", "wait": "#f0b429",
                 "migrate": "#8e6bd8", "test": "#3ebd93", "collect": "#66c2d7",
                 "down": "#7b8794"}
STATUS_CLASS = {"passed": "ok", "failed": "bad", "config error": "bad", "infra error": "bad",
                "interrupted": "bad", "timed out": "bad", "cancelled": "muted",
                "not started": "muted"}

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#1f2933}
h1{font-size:1.4em}table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #e4e7eb;padding:.4em .6em;text-align:left;vertical-align:top}
th{background:#f5f7fa}.ok{color:#0e7c3a;font-weight:600}.bad{color:#b42318;font-weight:600}
.muted{color:#7b8794;font-weight:600}.track{position:relative;height:18px;background:#f5f7fa;
min-width:240px}.seg{position:absolute;top:0;height:18px}.legend span{display:inline-block;
margin-right:1em}.legend i{display:inline-block;width:.9em;height:.9em;margin-right:.3em;
vertical-align:middle}ul{margin:.2em 0;padding-left:1.2em}code{font-size:12px}
"""


def _t(value: Any) -> str:
    return _html.escape(redact(str(value)), quote=True)


def _link(href: str | None, label: str) -> str:
    if not href:
        return ""
    return f'<a href="{_t(href)}">{_t(label)}</a>'


def _timeline(row: Mapping[str, Any], scale: float) -> str:
    offset = float(row.get("offset") or 0.0)
    total = float(row.get("seconds") or 0.0)
    stages = row.get("stages") or []
    in_stages = sum(float(s["seconds"]) for s in stages)
    segments = [("tier2", max(0.0, total - in_stages), "ok")]
    segments += [(str(s["name"]), float(s["seconds"]), str(s["status"])) for s in stages]
    parts = []
    at = offset
    for name, seconds, status in segments:
        if seconds <= 0:
            continue
        left, width = 100 * at / scale, max(0.3, 100 * seconds / scale)
        colour = STAGE_COLOURS.get(name, "#cbd2d9")
        border = "" if status in ("ok", "cached", "skipped") else ";outline:2px solid #b42318"
        parts.append(f'<div class="seg" title="{_t(name)} {seconds:.2f}s ({_t(status)})" '
                     f'style="left:{left:.2f}%;width:{width:.2f}%;background:{colour}'
                     f'{border}"></div>')
        at += seconds
    return f'<div class="track">{"".join(parts)}</div>'


def _tests(row: Mapping[str, Any]) -> str:
    tests = row.get("tests")
    if not tests:
        return "-"
    parts = [f"{tests['passed']} passed"]
    for key in ("failed", "errors", "skipped"):
        if tests.get(key):
            parts.append(f"{tests[key]} {key}")
    return _t(", ".join(parts))


def _evidence(row: Mapping[str, Any]) -> str:
    links = row.get("links") or {}
    items = [_link(links.get("junit"), "junit.xml"), _link(links.get("coverage"), "coverage"),
             _link(links.get("run_json"), "run.json"),
             _link(links.get("session_log"), "session log")]
    items += [_link(href, href.rsplit("/", 1)[-1]) for href in links.get("logs", [])
              if href != links.get("session_log")]
    return " · ".join(i for i in items if i) or "-"


def _details(row: Mapping[str, Any]) -> str:
    lines = []
    if row.get("error"):
        lines.append(f"<li>{_t(row['error'])}</li>")
    for f in row.get("failures") or []:
        lines.append(f"<li><code>{_t(f['test'])}</code>: {_t(f['message'])}</li>")
    lines += [f"<li>{_t(note)}</li>" for note in row.get("notes") or []]
    return f"<ul>{''.join(lines)}</ul>" if lines else ""


def render(summary: Mapping[str, Any]) -> str:
    rows = summary.get("services") or []
    scale = max([float(r.get("offset") or 0) + float(r.get("seconds") or 0) for r in rows]
                + [0.001])
    body = []
    for row in rows:
        cls = STATUS_CLASS.get(str(row["status"]), "bad")
        body.append(
            f'<tr data-service="{_t(row["name"])}" data-status="{_t(row["status"])}">'
            f'<td><strong>{_t(row["name"])}</strong><br><small>{_t(row.get("backend") or "")}'
            f'</small></td>'
            f'<td class="{cls}">{_t(row["status"])}<br><small>exit '
            f'{_t(row.get("exit_code"))}</small></td>'
            f'<td>{_tests(row)}</td><td>{float(row.get("seconds") or 0):.1f}s</td>'
            f'<td>{_timeline(row, scale)}</td><td>{_evidence(row)}{_details(row)}</td></tr>')
    legend = "".join(f'<span><i style="background:{c}"></i>{_t(n)}</span>'
                     for n, c in STAGE_COLOURS.items())
    overall = STATUS_CLASS.get(str(summary.get("status")), "bad")
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>Integration: {_t(summary.get('status'))}</title><style>{CSS}</style></head>"
        f"<body><h1>Integration run: <span class=\"{overall}\">{_t(summary.get('status'))}"
        f"</span> (exit {_t(summary.get('exit_code'))})</h1>"
        f"<p>{len(rows)} service(s), {_t(summary.get('jobs'))} at a time; started "
        f"{_t(summary.get('started'))}, {float(summary.get('seconds') or 0):.1f}s wall. "
        '<a href="summary.json">summary.json</a></p>'
        f'<p class="legend">{legend}</p>'
        "<table><thead><tr><th>service</th><th>status</th><th>tests</th><th>time</th>"
        f"<th>timeline (0 to {scale:.1f}s)</th><th>evidence</th></tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></body></html>\n")
