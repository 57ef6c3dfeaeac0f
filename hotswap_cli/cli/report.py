"""A deployment's report as text (a terminal), markdown (a PR comment, a CI step summary) or one
self-contained HTML file whose inline SVG charts each instance's error rate and p99 against the
gate's thresholds. Pure functions of a core.deploy.report.Report: they return the text."""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

from hotswap_cli.core.deploy.report import Figure, Point, Report, Series, wall

FORMATS = ("text", "markdown", "html")
MAX_CHARTS = 24  # instances charted (failing ones first); a large fleet's others are listed, not drawn
_VALUE = 300  # characters of a diff value shown in text and markdown


def render(report: Report, fmt: str) -> str:
    return {"text": render_text, "markdown": render_markdown, "html": render_html}[fmt](report)


# -- shared ----------------------------------------------------------------------------------------


def _title(report: Report) -> str:
    r = report.record
    return f"{r.get('kind', 'deploy')} {r.get('profile', '')} {r.get('version', '')}: {r.get('status', '')}"


def _facts(report: Report) -> list[tuple[str, str]]:
    r = report.record
    started, finished = str(r.get("started_at", "?")), str(r.get("finished_at", "?"))
    same_day = started[:11] == finished[:11] and len(finished) > 11
    when = f"{started} -> {finished[11:] if same_day else finished}"
    if r.get("duration_s") is not None:
        when += f" ({float(r['duration_s']):.1f}s)"
    facts = [("id", str(r.get("id", ""))), ("profile", str(r.get("profile", ""))),
             ("version", str(r.get("version", "")) or "-"), ("strategy", str(r.get("strategy", ""))),
             ("status", f"{r.get('status', '')} (exit {r.get('exit_code')})"),
             ("who", f"{r.get('who', '')} on {r.get('host', '?')}"), ("when", when),
             ("config", f"sha256 {str(r.get('sha256', ''))[:16]}" + (f", commit {str(r['commit'])[:12]}"
                                                                    if r.get("commit") else "")),
             ("approved by", ", ".join(report.approvals) or "nobody (no approvals required or recorded)")]
    policy = (r.get("timeline") or {}).get("policy")
    if policy:
        facts.append(("gate", f"error rate <= baseline +{policy['error_rate_pp']:g}pp, p99 <= baseline "
                              f"+{policy['p99_increase_pct']:g}%, failed checks <= {policy['failed_checks_pct']:g}%; "
                              f"confidence {policy['confidence']:.0%}, a look every {policy['interval_s']:g}s"))
    if r.get("reason"):
        facts.append(("reason", str(r["reason"])))
    if r.get("unrestored"):
        facts.append(("NOT restored", ", ".join(r["unrestored"])))
    if r.get("recovers"):
        facts.append(("recovers", str(r["recovers"])))
    return facts


def _phase_rows(report: Report) -> list[tuple[str, str, str, str, str]]:
    verdicts = {v.phase: v for v in report.verdicts}
    rows = []
    for p in report.record.get("phases", []):
        v = verdicts.get(int(p.get("number") or 0))
        verdict = "-" if v is None else ("pass" if v.ok else "FAIL") + (f" ({v.outcome})" if v.outcome != (
            "pass" if v.ok else "fail") else "")
        rows.append((str(p.get("number", "")), str(p.get("name", "")), ", ".join(p.get("instances", [])),
                     f"{float(p.get('bake_s') or 0):g}s", verdict))
    return rows


def _when(t: float | None, at: str) -> str:
    return f"+{t:.1f}s" if t is not None else at


def _changes(report: Report, name: str) -> str:
    line = next(i for i in report.instances if i.instance == name)
    return " → ".join(f"{c.state} {_when(c.t, c.at)}" for c in line.changes) or "-"


def _value(value: Any, limit: int | None = _VALUE) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if limit is None or len(text) <= limit else text[:limit - 3] + "..."


def _diff_lines(report: Report, limit: int | None = _VALUE) -> list[tuple[str, str]]:
    """(sign, text) of each change: + added, - removed, ~ changed, ! a breaking reason."""
    if report.diff is None:
        return []
    out = [("!", f"BREAKING: {reason}") for reason in report.diff.breaking_reasons]
    for c in report.diff.changes:
        if c.kind == "added":
            out.append(("+", f"{c.path}: {_value(c.new, limit)}"))
        elif c.kind == "removed":
            out.append(("-", f"{c.path}: {_value(c.old, limit)}"))
        else:
            out.append(("~", f"{c.path}: {_value(c.old, limit)} → {_value(c.new, limit)}"))
    return out


def _diff_heading(report: Report) -> str:
    if report.diff is None:
        return report.diff_note
    n = len(report.diff.changes)
    return f"{report.diff_note}: " + ("no differences" if not n else f"{n} change(s)")


# -- text ------------------------------------------------------------------------------------------


def _table(rows: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))] if rows else []
    return [indent + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)).rstrip() for r in rows]


def render_text(report: Report) -> str:
    lines = [_title(report), ""]
    width = max(len(k) for k, _ in _facts(report))
    lines += [f"{k.ljust(width)}  {v}" for k, v in _facts(report)]
    if report.record.get("phases"):
        lines += ["", "phases:"] + _table([("#", "PHASE", "INSTANCES", "BAKE", "VERDICT"), *_phase_rows(report)])
    if report.instances:
        rows: list[tuple[str, ...]] = [("INSTANCE", "PHASE", "STATE", "TIMELINE")]
        rows += [(i.instance, str(i.phase or "-"), i.state, _changes(report, i.instance)) for i in report.instances]
        lines += ["", "instances:"] + _table(rows)
        lines += [f"  {i.instance}: {i.error}" for i in report.instances if i.error]
    for v in report.verdicts:
        head = f"phase {v.phase}: {'pass' if v.ok else 'FAIL'} ({v.outcome}, confidence {v.confidence:.0%})"
        lines += ["", f"verdict {head}" + (f" [{v.decided_by}]" if v.decided_by else ""), f"  {v.summary}"]
        if v.figures:
            rows = [("INSTANCE", "RULE", "OUTCOME", "MEASURED", "BASELINE", "THRESHOLD")]
            rows += [(f.instance, f.rule, f.outcome, f.measured, f.baseline, f.threshold) for f in v.figures]
            lines += _table(rows, "    ")
        lines += [f"    note: {n}" for n in v.notes]
    if report.marks:
        lines += ["", "timeline:"]
        lines += [f"  {f'+{m.t:.1f}s':>8} {wall(report.record, m.t)}  {m.text}" for m in report.marks]
    lines += ["", f"changes: {_diff_heading(report)}"]
    lines += [f"  {sign} {text}" for sign, text in _diff_lines(report)]
    return "\n".join(lines) + "\n"


# -- markdown --------------------------------------------------------------------------------------


def _md(text: Any) -> str:
    """A table cell: one line, pipes escaped, no HTML (GitHub would read `<...>` as a tag)."""
    text = str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
    return re.sub(r"<(?=[A-Za-z/!?])", "&lt;", text) or " "


def _md_table(head: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return out


_ICON = {"pass": "✅", "fail": "❌", "inconclusive": "⚠️"}


def render_markdown(report: Report) -> str:
    r = report.record
    icon = "✅" if r.get("status") == "completed" else "❌"
    lines = [f"## {icon} {_md(_title(report))}", ""]
    lines += _md_table(("", ""), ((f"**{k}**", v) for k, v in _facts(report)))
    if r.get("phases"):
        lines += ["", "### Phases", ""] + _md_table(("#", "phase", "instances", "bake", "verdict"), _phase_rows(report))
    if report.instances:
        lines += ["", "### Instances", ""]
        lines += _md_table(("instance", "phase", "state", "timeline", "error"),
                           ((f"`{i.instance}`", i.phase or "-", i.state, _changes(report, i.instance), i.error or "")
                            for i in report.instances))
    if report.verdicts:
        lines += ["", "### Verdicts"]
    for v in report.verdicts:
        lines += ["", f"**Phase {v.phase}: {_ICON.get('pass' if v.ok else 'fail')} {'pass' if v.ok else 'FAIL'}** "
                      f"({v.outcome}, confidence {v.confidence:.0%})" + (f", {v.decided_by}" if v.decided_by else ""),
                  "", f"> {_md(v.summary)}", ""]
        lines += _md_table(("instance", "rule", "outcome", "measured", "baseline", "threshold"),
                           _figure_rows(v.figures))
        lines += [f"- note: {_md(n)}" for n in v.notes]
    if report.marks:
        lines += ["", "<details><summary>Timeline</summary>", ""]
        lines += _md_table(("t", "UTC", "event"), ((f"+{m.t:.1f}s", wall(r, m.t), m.text) for m in report.marks))
        lines += ["", "</details>"]
    lines += ["", "### Changes", "", _md(_diff_heading(report))]
    if report.diff is not None and (report.diff.changes or report.diff.breaking_reasons):
        lines += ["", "```diff"] + [line.replace("```", "'''") for line in _unified(report)] + ["```"]
    return "\n".join(lines) + "\n"


def _unified(report: Report) -> list[str]:
    """The changes as a diff block colours them: a changed value is its old line and its new line."""
    assert report.diff is not None
    out = [f"! BREAKING: {reason}" for reason in report.diff.breaking_reasons]
    for c in report.diff.changes:
        if c.kind in ("removed", "changed"):
            out.append(f"- {c.path}: {_value(c.old)}")
        if c.kind in ("added", "changed"):
            out.append(f"+ {c.path}: {_value(c.new)}")
    return out


def _figure_rows(figures: Iterable[Figure]) -> Iterable[Sequence[str]]:
    for f in figures:
        yield (f"`{f.instance}`", f.rule, f"{_ICON.get(f.outcome, '')} {f.outcome}", f.measured, f.baseline,
               f.threshold)


# -- html ------------------------------------------------------------------------------------------

_CSS = """
:root{--fg:#1f2328;--muted:#656d76;--line:#d0d7de;--bg:#fff;--soft:#f6f8fa;--ok:#1a7f37;--bad:#cf222e;
--warn:#9a6700;--err:#0969da;--p99:#8250df}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:var(--fg);background:var(--bg)}main{max-width:1180px;margin:0 auto;padding:24px 28px 48px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px;padding-bottom:4px;
border-bottom:1px solid var(--line)}.sub{color:var(--muted);margin:0 0 16px}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;font-size:13px;font-weight:600;color:#fff;
vertical-align:middle;margin-left:8px}.b-ok{background:var(--ok)}.b-bad{background:var(--bad)}
.b-warn{background:var(--warn)}.b-none{background:var(--muted)}
table{border-collapse:collapse;width:100%;margin:6px 0}th,td{text-align:left;padding:5px 8px;
border-bottom:1px solid var(--line);vertical-align:top}th{background:var(--soft);font-weight:600}
.facts{display:grid;grid-template-columns:repeat(4,minmax(0,1fr));gap:8px 24px;margin:0 0 8px;padding:12px 14px;
background:var(--soft);border:1px solid var(--line);border-radius:8px}.facts div{min-width:0;overflow-wrap:anywhere}
.facts .wide{grid-column:1/-1}.facts .two{grid-column:span 2}
.facts span{display:block;color:var(--muted);font-size:12px}
td.num{font-variant-numeric:tabular-nums;white-space:nowrap}code{font:12.5px ui-monospace,Menlo,Consolas,monospace}
.s-pass,.s-healthy,.s-completed{color:var(--ok);font-weight:600}.s-fail,.s-failed,.s-reverted,.s-FAIL{color:var(--bad);
font-weight:600}.s-inconclusive,.s-unknown{color:var(--warn);font-weight:600}
.chip{display:inline-block;padding:0 6px;margin:1px 2px;border-radius:4px;background:var(--soft);
border:1px solid var(--line);font-size:12px;white-space:nowrap}.chip.reverted,.chip.failed{border-color:var(--bad);
color:var(--bad)}.chip.healthy{border-color:var(--ok);color:var(--ok)}
.charts{display:grid;grid-template-columns:1fr;gap:14px}.card{border:1px solid var(--line);border-radius:8px;
padding:10px 12px 6px}.card.fail{border-color:var(--bad);box-shadow:0 0 0 1px var(--bad) inset}
.card h3{font-size:14px;margin:0 0 4px}.card h3 .note{font-weight:400}
.pair{display:flex;gap:12px;flex-wrap:wrap}.pair svg{flex:1 1 500px;
max-width:100%;height:auto}.legend{color:var(--muted);font-size:12.5px;margin:4px 0 10px}
.legend i{display:inline-block;width:18px;height:0;border-top:2px solid;vertical-align:middle;margin:0 4px 0 10px}
.diff{border:1px solid var(--line);border-radius:8px;overflow:hidden;font:12.5px/1.6 ui-monospace,Menlo,Consolas,
monospace}.diff div{padding:1px 12px;white-space:pre-wrap;overflow-wrap:anywhere}.diff .add{background:#dafbe1}
.diff .rem{background:#ffebe9}.diff .chg{background:#fff8c5}.diff .brk{background:#ffebe9;color:var(--bad);
font-weight:600}.note{color:var(--muted)}
svg text{font:11px system-ui,sans-serif;fill:#57606a}svg .ttl{font-weight:600;fill:#1f2328}
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _badge(status: str) -> str:
    kind = {"completed": "ok", "reverted": "bad", "revert_failed": "bad", "aborted": "bad",
            "interrupted": "warn"}.get(status, "none")
    return f'<span class="badge b-{kind}">{_e(status)}</span>'


def _html_table(head: Sequence[str], rows: Iterable[Sequence[str]], cls: str = "") -> str:
    """Cells are HTML already (escape what goes in)."""
    out = [f'<table class="{cls}"><thead><tr>' + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr></thead><tbody>"]
    out += ["<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows]
    return "".join(out) + "</tbody></table>"


def render_html(report: Report) -> str:
    r = report.record
    parts = [f"<h1>{_e(r.get('kind', 'deploy'))} {_e(r.get('profile', ''))} {_e(r.get('version', ''))}"
             f"{_badge(str(r.get('status', '')))}</h1>", f'<p class="sub">{_e(r.get("id", ""))}</p>',
             '<div class="facts">' + "".join(
                 f'<div class="{"wide" if k in _WIDE else "two" if k in _TWO else ""}"><span>{_e(k)}</span>'
                 f"{_e(v)}</div>" for k, v in _facts(report) if k != "id") + "</div>"]
    if report.series:
        parts += ["<h2>Health</h2>", _legend(), _charts(report)]
    if r.get("phases"):
        parts += ["<h2>Phases</h2>", _html_table(("#", "phase", "instances", "bake", "verdict"), (
            (_e(n), _e(name), _e(inst), _e(bake), f'<span class="s-{_e(v.split()[0])}">{_e(v)}</span>')
            for n, name, inst, bake, v in _phase_rows(report)))]
    if report.instances:
        parts += ["<h2>Instances</h2>", _html_table(("instance", "phase", "state", "timeline", "error"), (
            (f"<code>{_e(i.instance)}</code>", _e(i.phase or "-"),
             f'<span class="s-{_e(i.state)}">{_e(i.state)}</span>',
             "".join(f'<span class="chip {_e(c.state)}" title="{_e(c.at)} UTC {_e(c.detail)}">{_e(c.state)} '
                     f'{_e(_when(c.t, c.at))}</span>' for c in i.changes), _e(i.error))
            for i in report.instances))]
    for v in report.verdicts:
        word = "pass" if v.ok else "FAIL"
        parts += [f'<h2>Verdict, phase {v.phase}: <span class="s-{word}">{word}</span> '
                  f'<span class="note">({_e(v.outcome)}, confidence {v.confidence:.0%}'
                  f'{", " + _e(v.decided_by) if v.decided_by else ""})</span></h2>', f"<p>{_e(v.summary)}</p>",
                  _html_table(("instance", "rule", "outcome", "measured", "baseline", "threshold", "evidence"), (
                      (f"<code>{_e(f.instance)}</code>", _e(f.rule), f'<span class="s-{_e(f.outcome)}">'
                       f"{_e(f.outcome)}</span>", f'<span class="num">{_e(f.measured)}</span>', _e(f.baseline),
                       _e(f.threshold), f'<span class="note">{_e(f.text)}</span>') for f in v.figures))]
        parts += [f'<p class="note">note: {_e(n)}</p>' for n in v.notes]
    if report.marks:
        parts += ["<h2>Timeline</h2>", _html_table(("t", "UTC", "event"), (
            (f'<span class="num">+{m.t:.1f}s</span>', _e(wall(r, m.t)), _e(m.text)) for m in report.marks))]
    classes = {"+": "add", "-": "rem", "~": "chg", "!": "brk"}
    parts += ["<h2>Changes</h2>", f"<p>{_e(_diff_heading(report))}</p>"]
    lines = _diff_lines(report, limit=None)
    if lines:
        parts.append('<div class="diff">' + "".join(f'<div class="{classes[sign]}">{_e(sign)} {_e(text)}</div>'
                                                    for sign, text in lines) + "</div>")
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{_e(_title(report))}</title><style>{_CSS}</style></head>"
            f"<body><main>{''.join(parts)}</main></body></html>\n")


_WIDE = ("approved by", "gate", "reason", "NOT restored")  # facts given a whole row of the HTML page
_TWO = ("who", "when", "config", "recovers")  # and half of one


def _legend() -> str:
    return ('<p class="legend">seconds since the run started'
            '<i style="border-color:#8c959f"></i>before the push (baseline samples, shaded)'
            '<i style="border-color:var(--err)"></i>error rate <i style="border-color:var(--p99)"></i>p99 after it'
            '<i style="border-color:var(--bad);border-top-style:dashed"></i>gate threshold'
            '<i style="border-color:#8c959f;border-top-style:dotted"></i>measured baseline</p>')


def _charts(report: Report) -> str:
    order = {"fail": 0, "inconclusive": 1}
    ranked = sorted(report.series, key=lambda s: (order.get(s.outcome, 2), s.reverted_at is None))
    shown, rest = ranked[:MAX_CHARTS], ranked[MAX_CHARTS:]
    span = max([report.duration] + [p[0] for s in report.series for p in (*s.before, *s.after)] + [1.0])
    verdict_times = [m.t for m in report.marks if m.kind == "verdict"]
    cards = []
    for s in shown:
        outcome = f' <span class="s-{_e(s.outcome)}">{_e(s.outcome)}</span>' if s.outcome else ""
        folded = f' <span class="note">(each point: the worst of {s.folded} samples)</span>' if s.folded > 1 else ""
        if not s.after:
            folded += ' <span class="note">not pushed: its baseline samples only</span>'
        cards.append(f'<div class="card{" fail" if s.outcome == "fail" else ""}" data-instance="{_e(s.instance)}">'
                     f"<h3><code>{_e(s.instance)}</code>{outcome}{folded}</h3><div class=\"pair\">"
                     f"{_chart(s, 1, span, verdict_times)}{_chart(s, 2, span, verdict_times)}</div></div>")
    more = f'<p class="note">{len(rest)} more instance(s) not charted: ' \
           f'{_e(", ".join(s.instance for s in rest))}</p>' if rest else ""
    return f'<div class="charts">{"".join(cards)}</div>{more}'


W, H = 540, 200
LEFT, RIGHT, TOP, BOTTOM = 58, 14, 34, 28


def _nice_ticks(top: float, n: int = 4) -> list[float]:
    raw = top / n
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [i * step for i in range(int(top / step + 1e-9) + 1)]


def _chart(s: Series, column: int, span: float, verdict_times: Sequence[float]) -> str:
    """One panel: column 1 error rate (%), 2 p99 (ms), against time since the run started."""
    is_err = column == 1
    scale = 100.0 if is_err else 1.0
    name, unit, color = ("error rate", "%", "#0969da") if is_err else ("p99", "ms", "#8250df")
    threshold = s.error_threshold if is_err else s.p99_threshold_ms
    base = s.baseline_rate if is_err else s.baseline_p99_ms
    values = [v for p in (*s.before, *s.after) if (v := _at(p, column)) is not None]
    if not values:
        return (f'<svg class="chart {"error-rate" if is_err else "p99"}" viewBox="0 0 {W} {H}" role="img">'
                f'<text class="ttl" x="{LEFT}" y="14">{name}</text><text x="{LEFT}" y="{H / 2}">no {name} '
                f"samples (the probes did not measure it)</text></svg>")
    top = max([v * scale for v in values] + [(threshold or 0) * scale * 1.15, (base or 0) * scale, 1e-6]) * 1.1
    top = max(top, 1.0 if is_err else 10.0)  # 0..1% or 0..10ms when everything measured is ~0
    ticks = _nice_ticks(top)
    top = ticks[-1] if ticks[-1] >= top * 0.999 else top
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + pw * min(max(t / span, 0.0), 1.0)

    def y(v: float) -> float:
        return TOP + ph * (1 - min(v * scale / top, 1.0))

    out = [f'<svg class="chart {"error-rate" if is_err else "p99"}" viewBox="0 0 {W} {H}" role="img" '
           f'aria-label="{_e(s.instance)} {name}" xmlns="http://www.w3.org/2000/svg">',
           f'<text class="ttl" x="{LEFT}" y="14">{name} ({unit})</text>',
           f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="#fff" stroke="#d0d7de"/>']
    if s.live_at is not None:
        out.append(f'<rect class="before-push" x="{LEFT}" y="{TOP}" width="{x(s.live_at) - LEFT:.1f}" '
                   f'height="{ph}" fill="#f6f8fa"/>')
    for tick in ticks:
        ty = TOP + ph * (1 - tick / top)
        label = f"{tick:.3g}" if is_err else f"{tick:.0f}"
        out.append(f'<line x1="{LEFT}" x2="{LEFT + pw}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="#eaeef2"/>'
                   f'<text x="{LEFT - 6}" y="{ty + 4:.1f}" text-anchor="end">{label}</text>')
    for tick in _nice_ticks(span, 6):
        out.append(f'<text x="{x(tick):.1f}" y="{H - 8}" text-anchor="middle">{tick:g}s</text>')
    for vt in verdict_times:
        out.append(f'<line class="verdict-mark" x1="{x(vt):.1f}" x2="{x(vt):.1f}" y1="{TOP}" y2="{TOP + ph}" '
                   f'stroke="#afb8c1" stroke-dasharray="2 3"/>')
    for t, label, stroke in ((s.live_at, "live", "#57606a"), (s.reverted_at, "reverted", "#cf222e")):
        if t is not None:
            out.append(f'<line class="mark-{label}" x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{TOP}" y2="{TOP + ph}" '
                       f'stroke="{stroke}"/><text x="{x(t):.1f}" y="{TOP - 5}" style="fill:{stroke}" '
                       f'text-anchor="{"end" if x(t) > LEFT + pw * 0.8 else "middle"}">{label}</text>')
    if base is not None:
        out.append(f'<line class="baseline" x1="{LEFT}" x2="{LEFT + pw}" y1="{y(base):.1f}" y2="{y(base):.1f}" '
                   f'stroke="#8c959f" stroke-dasharray="1 3" stroke-width="1.5"/>')
    if threshold is not None:
        shown = f"{threshold * scale:.3g}{unit}"
        out.append(f'<line class="threshold" x1="{LEFT}" x2="{LEFT + pw}" y1="{y(threshold):.1f}" '
                   f'y2="{y(threshold):.1f}" stroke="#cf222e" stroke-dasharray="6 4" stroke-width="1.5">'
                   f"<title>gate threshold {shown}</title></line>"
                   f'<text x="{LEFT + pw - 4}" y="{y(threshold) - 4:.1f}" text-anchor="end" '
                   f'style="fill:#cf222e">threshold {shown}</text>')
    out += _line(s.before, column, x, y, "#8c959f", "series before", scale, unit)
    out += _line(s.after, column, x, y, color, "series after", scale, unit)
    return "".join(out) + "</svg>"


def _line(points: Sequence[Point], column: int, x: Any, y: Any, color: str, cls: str, scale: float,
          unit: str) -> list[str]:
    """A polyline per run of measured points (a sample without the figure breaks the line)."""
    out: list[str] = []
    run: list[tuple[float, float]] = []
    for p in (*points, None):
        v = None if p is None else _at(p, column)
        if p is not None and v is not None:
            run.append((p[0], v))
            continue
        if run:
            coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in run)
            out.append(f'<polyline class="{cls}" points="{coords}" fill="none" stroke="{color}" stroke-width="2" '
                       f'stroke-linejoin="round"/>')
            if len(points) <= 80:
                out += [f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="2.5" fill="{color}">'
                        f"<title>+{t:.1f}s: {v * scale:.3g}{unit}</title></circle>" for t, v in run]
            run = []
    return out


def _at(point: Point, column: int) -> float | None:
    return point[1] if column == 1 else point[2]
