"""Server-rendered HTML of the dashboard: every value passes through ``html.escape``.

No template engine, no JavaScript framework, nothing fetched from a CDN (air-gapped
clusters have none): one stylesheet inline and a few lines of script that refresh the
running cycle's progress from ``/progress.json``.
"""

from __future__ import annotations

import html
import json
from datetime import datetime
from typing import Any, Iterable
from urllib.parse import quote

from server.http.state import DomainHistory, Overview, Progress

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:10px 24px;display:flex;gap:24px;align-items:center}
header a{color:#cfd6e4;text-decoration:none;font-weight:600}header a:hover{color:#fff}
header .brand{font-size:18px;color:#fff;margin-right:12px}
main{padding:16px 24px;max-width:1280px}
h1{font-size:22px;margin:8px 0 16px}h2{font-size:17px;margin:24px 0 8px}
table{border-collapse:collapse;background:#fff;width:100%;font-size:13px;box-shadow:0 1px 2px #0001}
th,td{padding:6px 10px;border-bottom:1px solid #e4e7ec;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;background:#e4e7ec}
.champion,.finished,.promote{background:#d3f2dc;color:#14532d}.rejected,.failed,.keep{background:#fde2e1;color:#7f1d1d}
.candidate,.running{background:#dbeafe;color:#1e3a8a}.retired,.interrupted,.planned{background:#eee;color:#555}
.box{background:#fff;padding:12px 16px;margin:12px 0;box-shadow:0 1px 2px #0001}
.muted{color:#667085}img{max-width:100%;background:#fff;border:1px solid #e4e7ec;margin:6px 0}
form.inline{display:inline}button{cursor:pointer;padding:3px 10px;border:1px solid #1d4ed8;background:#2563eb;color:#fff;border-radius:4px}
button.danger{border-color:#b91c1c;background:#dc2626}.error{background:#fde2e1;padding:10px;color:#7f1d1d}
progress{width:240px}
"""

PROGRESS_SCRIPT = """
<script>
(function(){
  var box=document.getElementById('progress');
  function show(p){
    if(!p.running){box.textContent='No cycle is running.';return;}
    var text='Cycle '+p.cycle_id+': '+p.stage+(p.domain?' ('+p.domain+')':'');
    if(p.total_steps){text+=' step '+p.step+'/'+p.total_steps+', loss '+p.loss.toFixed(4);}
    if(p.message){text+=' \\u2014 '+p.message;}
    box.textContent=text;
  }
  function poll(){fetch('/progress.json',{credentials:'same-origin'}).then(function(r){return r.json();})
    .then(show).catch(function(){});}
  setInterval(poll,2000);
})();
</script>
"""


def e(value: Any) -> str:
    """Escape anything for HTML text and attributes."""
    return html.escape("" if value is None else str(value), quote=True)


def url(*parts: str) -> str:
    return "/" + "/".join(quote(part, safe="") for part in parts)


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def number(value: Any, digits: int = 4) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "-"


def badge(status: str) -> str:
    return f'<span class="badge {e(status)}">{e(status)}</span>'


def table(headers: Iterable[str], rows: Iterable[Iterable[str]], numeric: Iterable[int] = ()) -> str:
    """Cells are HTML already (escape them when building rows); ``numeric`` columns align right."""
    numeric = set(numeric)
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def layout(title: str, body: str, *, script: str = "") -> str:
    nav = "".join(f'<a href="{href}">{e(name)}</a>' for name, href in
                  [("Domains", "/"), ("Cycles", "/cycles"), ("Ingestion", "/ingestion"), ("Metrics", "/metrics")])
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{e(title)} · adaptune</title>"
            f"<style>{CSS}</style></head><body><header><span class=\"brand\">adaptune</span>{nav}</header>"
            f"<main><h1>{e(title)}</h1>{body}</main>{script}</body></html>")


def progress_box(progress: Progress) -> str:
    if not progress.running:
        text = "No cycle is running."
    else:
        text = f"Cycle {progress.cycle_id}: {progress.stage}" + (f" ({progress.domain})" if progress.domain else "")
        if progress.total_steps:
            text += f" step {progress.step}/{progress.total_steps}, loss {progress.loss:.4f}"
    return f'<div class="box"><b>Live progress</b>: <span id="progress">{e(text)}</span></div>'


def overview_page(data: Overview, progress: Progress) -> str:
    rows = []
    for row in data.domains:
        ev = row.evidence or {}
        champion = row.champion
        rows.append([
            f'<a href="{url("domains", row.record.name)}">{e(row.record.name)}</a>',
            e(row.record.parent or "-"),
            e(row.events),
            e(", ".join(f"{k} {v}" for k, v in sorted(row.counts.items())) or "-"),
            e(f"{row.error_rate:.1%}"),
            e(number(ev.get("score"))), e(number(ev.get("affinity"), 3)), e(number(ev.get("need"), 3)),
            e("yes" if ev.get("selected") else ("no" if ev else "-")), e(ev.get("reason", "-")),
            (f'{badge("champion")} {e(champion.version)} ({e(number(champion.metrics.get("accuracy")))})'
             if champion else '<span class="muted">base model</span>'),
            e(row.versions),
        ])
    ranked = (f'Ranking evidence from <a href="{url("cycles", data.ranked_by)}">{e(data.ranked_by)}</a>.'
              if data.ranked_by else "No cycle has ranked the domains yet.")
    body = progress_box(progress) + f'<p class="muted">{ranked}</p>' + table(
        ["domain", "parent", "events", "feedback mix", "error rate", "score", "affinity", "need", "tuned", "why",
         "champion (accuracy)", "versions"],
        rows, numeric=(2, 4, 5, 6, 7, 11),
    )
    return layout("Domains", body, script=PROGRESS_SCRIPT)


def _gate(metrics: dict) -> tuple[str, str]:
    gate = metrics.get("gate") or {}
    return gate.get("decision", "-"), gate.get("reason", "-")


def domain_page(history: DomainHistory, *, csrf: str, can_promote: bool, message: str = "") -> str:
    name = history.row.record.name
    chain = " → ".join(
        f'<a href="{url("domains", link.domain)}">{e(link.domain)}</a>'
        + (f" ({e(link.champion)})" if link.champion else " (base)") for link in history.chain
    )
    rows = []
    for r in history.records:
        decision, reason = _gate(r.metrics)
        parent = f"{r.parent_domain}@{r.parent_version}" if r.parent_domain else "-"
        cycle_id = r.metrics.get("cycle_id")
        actions = ""
        if can_promote and r.status != "champion":
            actions = (f'<form class="inline" method="post" action="{url("domains", name, "promote")}">'
                       f'<input type="hidden" name="version" value="{e(r.version)}">'
                       f'<input type="hidden" name="csrf" value="{e(csrf)}"><button type="submit">Promote</button></form>')
        rows.append([
            f"<b>{e(r.version)}</b>", badge(r.status), e(when(r.created_at)), e(when(r.promoted_at)),
            e(number(r.metrics.get("accuracy"))), e(number(r.metrics.get("macro_f1"))),
            badge(decision) + " " + e(reason), e(parent), e(",".join(map(str, r.layers))),
            f'<a href="{url("cycles", cycle_id)}">{e(cycle_id)}</a>' if cycle_id else "-", actions,
        ])
    rollback = ""
    if can_promote and history.row.champion is not None:
        rollback = (f'<form class="inline" method="post" action="{url("domains", name, "rollback")}">'
                    f'<input type="hidden" name="csrf" value="{e(csrf)}">'
                    f'<button class="danger" type="submit">Roll back {e(history.row.champion.version)}</button></form>')
    champion = history.row.champion
    body = (
        (f'<p class="error">{e(message)}</p>' if message else "")
        + f'<div class="box">Champion: <b id="champion">{e(champion.version) if champion else "none (base model)"}</b> '
        + f"{rollback}<br>Chain (root first): {chain}<br>"
        + f"Events: {e(history.row.events)}, error rate {e(f'{history.row.error_rate:.1%}')}</div>"
        + (f'<img alt="metrics of {e(name)} over versions" src="{url("plots", "domains", name + ".png")}">'
           if history.records else "")
        + "<h2>Versions</h2>"
        + (table(["version", "status", "registered", "promoted", "accuracy", "macro F1", "gate decision and reason",
                  "parent", "layers", "cycle", ""], rows, numeric=(4, 5))
           if rows else '<p class="muted">No adapter versions yet: this domain is served by the base model.</p>')
    )
    if not can_promote:
        body += '<p class="muted">Read-only: promote and roll back need the server token (<a href="/login">log in</a>).</p>'
    return layout(f"Domain {name}", body)


def cycles_page(records: list, progress: Progress) -> str:
    rows = [[
        f'<a href="{url("cycles", r.cycle_id)}">{e(r.cycle_id)}</a>', badge(r.status), e(when(r.started_at)),
        e(number(r.summary.get("seconds"), 1)), e(f"{r.watermark_from}..{r.watermark_to}"),
        e(", ".join(r.summary.get("promoted", [])) or "-"), e(", ".join(r.summary.get("kept", [])) or "-"),
        e(r.error or ""),
    ] for r in records]
    body = progress_box(progress) + (table(["cycle", "status", "started", "seconds", "events (seq)", "promoted", "kept",
                                            "error"], rows, numeric=(3,)) if rows else "<p>No cycles yet.</p>")
    return layout("Cycles", body, script=PROGRESS_SCRIPT)


def cycle_page(record, images: list[str]) -> str:
    s = record.summary
    ranked = [[e(r["domain"]), e(number(r.get("score"))), e(number(r.get("affinity"), 3)), e(number(r.get("need"), 3)),
               e(f"{r.get('error_rate', 0):.1%}"), e(r.get("events")), e("yes" if r.get("selected") else "no"),
               e(r.get("reason", ""))] for r in s.get("ranked", [])]
    outcomes = []
    for d in s.get("domains", []):
        gate = d.get("gate", {})
        metric = gate.get("metric", "accuracy")
        outcomes.append([
            f'<a href="{url("domains", d.get("domain", ""))}">{e(d.get("domain"))}</a>', e(d.get("version")),
            e(",".join(map(str, d.get("layers", [])))), e(number(gate.get("reference", {}).get(metric))),
            e(number(gate.get("candidate", {}).get(metric))), e(number(gate.get("gain"))),
            badge(gate.get("decision", "-")) + " " + e(gate.get("reason", "")),
        ])
    figures = "".join(
        f'<figure><img alt="{e(rel)}" src="{url("cycles", record.cycle_id, "files", *rel.split("/"))}">'
        f"<figcaption class=\"muted\">{e(rel)}</figcaption></figure>" for rel in images
    )
    body = (
        f'<div class="box">{badge(record.status)} started {e(when(record.started_at))}, ended {e(when(record.finished_at))}, '
        f"events seq {e(record.watermark_from + 1)}..{e(record.watermark_to)}, took {e(number(s.get('seconds'), 1))} s"
        + (f'<p class="error">{e(record.error)}</p>' if record.error else "") + "</div>"
        + "<h2>Ranked domains</h2>"
        + (table(["domain", "score", "affinity", "need", "error rate", "events", "tuned", "why"], ranked, numeric=(1, 2, 3, 4, 5))
           if ranked else '<p class="muted">Nothing ranked.</p>')
        + "<h2>Candidates</h2>"
        + (table(["domain", "version", "layers", "before", "after", "gain", "gate"], outcomes, numeric=(3, 4, 5))
           if outcomes else '<p class="muted">No candidate trained.</p>')
        + "<h2>Report</h2>" + (figures or '<p class="muted">No report figures.</p>')
    )
    return layout(f"Cycle {record.cycle_id}", body)


def ingestion_page(timeline) -> str:
    rows = [[e(when(row.start)), e(row.total), *(e(row.counts.get(k, 0)) for k in ("positive", "negative", "corrected"))]
            for row in reversed(timeline.rows)]
    body = (f'<p>{e(timeline.total)} events, in {e(timeline.bucket)} buckets by when the server received them.</p>'
            '<img alt="ingestion over time" src="/plots/ingestion.png">'
            + table([f"{timeline.bucket} (received)", "events", "positive", "negative", "corrected"], rows,
                    numeric=(1, 2, 3, 4)))
    return layout("Ingestion", body)


def login_page(message: str = "") -> str:
    body = ((f'<p class="error">{e(message)}</p>' if message else "")
            + '<form method="post" action="/login" class="box"><label>Server token '
              '<input type="password" name="token" autocomplete="current-password"></label> '
              '<button type="submit">Log in</button></form>')
    return layout("Log in", body)


def error_page(status: int, message: str) -> str:
    return layout(f"{status}", f'<p class="error">{e(message)}</p><p><a href="/">Back to the domains</a></p>')


def progress_json(progress: Progress) -> bytes:
    return json.dumps(progress.to_json()).encode()
