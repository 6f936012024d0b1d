"""A self-contained HTML page to browse clusters and see why articles match.

The page embeds its data as JSON and renders with a little JavaScript: a summary, a
searchable, paginated list of copy clusters, and per cluster its members and a side-by-side
view of any member against the canonical article, with the shared passages highlighted and
boilerplate shown as such. Only documents in clusters of two or more carry their text, so
the file stays small enough to open quickly for tens of thousands of documents.
"""
from __future__ import annotations

import html
import json
from collections import Counter

from dedup.boilerplate import BODY
from dedup.engine import Engine


def report_data(engine: Engine, ids: list[str], title: str = "dedup report") -> dict:
    """Everything the page shows, from an engine holding the clustered documents."""
    order = {article_id: i for i, article_id in enumerate(ids)}
    clusters, docs, pairs = [], {}, {}
    seen = set()
    for article_id in ids:
        if article_id in seen:
            continue
        view = engine.cluster(article_id)
        seen.update(view.members)
        story = engine.summary(view.canonical).story
        members = []
        for member in view.members:
            doc = engine.document(member)
            entry = {"id": member, "source": doc.source, "title": doc.title[:200],
                     "published_at": doc.published_at.isoformat() if doc.published_at else None,
                     "relation": None, "similarity": 1.0}
            if member != view.canonical:
                match = engine.relation_to(member, view.canonical)
                entry["relation"], entry["similarity"] = match.relation, match.similarity
                pairs[member] = [[p.a_start, p.a_end, p.b_start, p.b_end] for p in match.passages if p.tokens >= 4]
            members.append(entry)
        if len(members) > 1:
            for member in view.members:
                docs[member] = _doc_data(engine, member)
        clusters.append({"id": view.id, "canonical": view.canonical, "story": story, "size": len(members),
                         "title": members[0]["title"], "members": members, "first": order.get(view.canonical, 0)})
    clusters.sort(key=lambda c: (-c["size"], c["first"]))
    stats = engine.stats()
    sizes = [c["size"] for c in clusters]
    duplicates = sum(n - 1 for n in sizes)
    sources = Counter(m["source"] or "(unknown)" for c in clusters if c["size"] > 1 for m in c["members"])
    summary = {
        "title": title, "documents": len(ids), "copy_clusters": stats["copy_clusters"],
        "story_clusters": stats["story_clusters"], "clusters_with_copies": sum(1 for n in sizes if n > 1),
        "duplicates": duplicates, "duplicate_rate": duplicates / len(ids) if ids else 0.0,
        "largest": [{"id": c["id"], "size": c["size"], "title": c["title"]} for c in clusters[:10]],
        "top_sources": sources.most_common(10),
    }
    return {"summary": summary, "clusters": clusters, "docs": docs, "pairs": pairs}


def _doc_data(engine: Engine, article_id: str) -> dict:
    doc = engine.document(article_id)
    boiler = []
    for (lo, hi), label in zip(doc.block_bounds.tolist(), doc.block_labels):
        if label != BODY and hi > lo:
            boiler.append([int(doc.token_starts[lo]), int(doc.token_ends[hi - 1]), label])
    return {"text": doc.text, "boiler": boiler}


def render(data: dict) -> str:
    """The page: data as JSON in a script tag (escaped so no text can close the tag)."""
    payload = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
    return _PAGE.replace("__TITLE__", html.escape(data["summary"]["title"])).replace("__DATA__", payload)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,-apple-system,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#23395d;color:#fff;padding:12px 20px}header h1{margin:0;font-size:20px}
main{display:grid;grid-template-columns:420px 1fr;gap:16px;padding:16px}
section{background:#fff;border:1px solid #ddd;border-radius:6px;padding:12px}
#summary{grid-column:1/3;display:flex;gap:24px;flex-wrap:wrap}
.stat b{display:block;font-size:22px}.stat span{color:#666;font-size:12px}
#search{width:100%;padding:6px;box-sizing:border-box;margin-bottom:8px}
.cluster{padding:6px;border-bottom:1px solid #eee;cursor:pointer}.cluster:hover,.cluster.active{background:#eef3fb}
.size{display:inline-block;min-width:28px;text-align:center;background:#23395d;color:#fff;border-radius:10px;font-size:12px;margin-right:6px}
table{border-collapse:collapse;width:100%;font-size:13px}td,th{text-align:left;padding:4px 6px;border-bottom:1px solid #eee}
tr.member{cursor:pointer}tr.member:hover,tr.member.active{background:#eef3fb}
.pager{display:flex;justify-content:space-between;align-items:center;margin-top:8px}
#compare{display:grid;grid-template-columns:1fr 1fr;gap:12px;margin-top:12px}
.text{white-space:pre-wrap;font-size:13px;line-height:1.45;max-height:70vh;overflow:auto;border:1px solid #eee;padding:8px}
mark{background:#ffe27a}.boiler{color:#999;background:#f1f1f1;text-decoration:line-through dotted #bbb}
.legend mark,.legend .boiler{padding:0 4px}
</style></head><body>
<header><h1>__TITLE__</h1></header>
<main>
<section id="summary"></section>
<section><input id="search" placeholder="Filter clusters by id, title or source" aria-label="filter clusters">
<div id="clusters"></div><div class="pager"><button id="prev">&larr; prev</button><span id="page"></span><button id="next">next &rarr;</button></div></section>
<section><div id="detail"><p>Select a cluster.</p></div><div id="compare"></div></section>
</main>
<script id="data" type="application/json">__DATA__</script>
<script>
const DATA = JSON.parse(document.getElementById('data').textContent);
const PAGE = 50; let page = 0; let shown = DATA.clusters;
const esc = s => String(s ?? '').replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
function summary() {
  const s = DATA.summary;
  const stat = (v, l, id) => `<div class="stat" id="${id}"><b>${v}</b><span>${l}</span></div>`;
  document.getElementById('summary').innerHTML =
    stat(s.documents.toLocaleString(), 'documents', 'stat-documents') +
    stat(s.copy_clusters.toLocaleString(), 'copy clusters', 'stat-copy') +
    stat(s.story_clusters.toLocaleString(), 'story clusters', 'stat-story') +
    stat(s.clusters_with_copies.toLocaleString(), 'clusters with copies', 'stat-with-copies') +
    stat((100 * s.duplicate_rate).toFixed(1) + '%', 'duplicate rate', 'stat-rate') +
    `<div class="stat"><span>largest clusters</span>${s.largest.slice(0,3).map(c => esc(c.size + ' × ' + (c.title || c.id).slice(0, 40))).join('<br>')}</div>` +
    `<div class="stat"><span>top sources of copies</span>${s.top_sources.slice(0,3).map(([k, n]) => esc(k + ' (' + n + ')')).join('<br>')}</div>`;
}
function list() {
  const start = page * PAGE, items = shown.slice(start, start + PAGE);
  document.getElementById('clusters').innerHTML = items.map(c =>
    `<div class="cluster" data-id="${esc(c.id)}"><span class="size">${c.size}</span>${esc((c.title || c.id).slice(0, 90))}<br><small>${esc(c.id)}</small></div>`).join('') || '<p>No cluster matches.</p>';
  document.getElementById('page').textContent = `${shown.length ? start + 1 : 0}–${Math.min(start + PAGE, shown.length)} of ${shown.length.toLocaleString()}`;
  document.querySelectorAll('.cluster').forEach(el => el.onclick = () => openCluster(el.dataset.id, el));
}
function openCluster(id, el) {
  document.querySelectorAll('.cluster').forEach(e => e.classList.remove('active')); if (el) el.classList.add('active');
  const c = DATA.clusters.find(x => x.id === id);
  document.getElementById('compare').innerHTML = '';
  document.getElementById('detail').innerHTML = `<h2 id="cluster-title">${esc(c.title || c.id)}</h2>
    <p>Copy cluster <code>${esc(c.id)}</code>, ${c.size} members; canonical <code>${esc(c.canonical)}</code>; story cluster <code>${esc(c.story)}</code>.</p>
    <table id="members"><tr><th>id</th><th>source</th><th>published</th><th>relation</th><th>similarity</th></tr>` +
    c.members.map(m => `<tr class="member" data-id="${esc(m.id)}"><td>${esc(m.id)}${m.id === c.canonical ? ' <b>(canonical)</b>' : ''}</td><td>${esc(m.source)}</td><td>${esc(m.published_at || '')}</td><td>${esc(m.relation || '')}</td><td>${m.similarity.toFixed(3)}</td></tr>`).join('') + '</table>' +
    '<p class="legend"><mark>shared passage</mark> <span class="boiler">boilerplate</span></p>';
  document.querySelectorAll('tr.member').forEach(tr => tr.onclick = () => compare(c, tr.dataset.id, tr));
}
function paint(text, marks, boiler) {
  const events = [];
  marks.forEach(([a, b]) => { events.push([a, 1, 'mark']); events.push([b, 0, 'mark']); });
  boiler.forEach(([a, b]) => { events.push([a, 1, 'boiler']); events.push([b, 0, 'boiler']); });
  events.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let out = '', at = 0, open = {mark: 0, boiler: 0};
  const wrap = s => { let h = esc(s); if (open.boiler) h = `<span class="boiler">${h}</span>`; if (open.mark) h = `<mark>${h}</mark>`; return h; };
  for (const [pos, start, kind] of events) { if (pos > at) { out += wrap(text.slice(at, pos)); at = pos; } open[kind] += start ? 1 : -1; }
  return out + wrap(text.slice(at));
}
function compare(c, memberId, tr) {
  document.querySelectorAll('tr.member').forEach(e => e.classList.remove('active')); tr.classList.add('active');
  const canon = DATA.docs[c.canonical], member = DATA.docs[memberId], passages = DATA.pairs[memberId] || [];
  if (!canon || !member) { document.getElementById('compare').innerHTML = '<p>This article has no copies to compare.</p>'; return; }
  const left = paint(canon.text, passages.map(p => [p[2], p[3]]), canon.boiler);
  const right = memberId === c.canonical ? paint(member.text, [], member.boiler) : paint(member.text, passages.map(p => [p[0], p[1]]), member.boiler);
  document.getElementById('compare').innerHTML =
    `<div><h3>canonical: ${esc(c.canonical)}</h3><div class="text" id="left">${left}</div></div>` +
    `<div><h3>member: ${esc(memberId)}</h3><div class="text" id="right">${right}</div></div>`;
}
document.getElementById('search').oninput = e => {
  const q = e.target.value.toLowerCase(); page = 0;
  shown = q ? DATA.clusters.filter(c => c.id.toLowerCase().includes(q) || (c.title || '').toLowerCase().includes(q) ||
    c.members.some(m => m.id.toLowerCase().includes(q) || (m.source || '').toLowerCase().includes(q))) : DATA.clusters;
  list();
};
document.getElementById('prev').onclick = () => { if (page > 0) { page--; list(); } };
document.getElementById('next').onclick = () => { if ((page + 1) * PAGE < shown.length) { page++; list(); } };
summary(); list();
</script></body></html>
"""
