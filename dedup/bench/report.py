"""The run's summary as text, JSON and a self-contained HTML page with charts."""
from __future__ import annotations

import html
import json
from collections import Counter

from dedup.bench.runner import RunResult
from dedup.bench.stats import histogram, per_second, summarize


def summary(result: RunResult, spec, workload_description: str, quality: dict | None) -> dict:
    measured = result.measured()
    ok = [s for s in measured if s.code == "OK"]
    span = (max(s.done for s in measured) - min(s.intended for s in measured)) if measured else 0.0
    return {
        "mode": spec.mode, "concurrency": spec.concurrency, "rate": spec.rate,
        "workload": workload_description,
        "requests": len(result.samples), "measured": len(measured), "warmup_excluded": len(result.samples) - len(measured),
        "seconds": round(span, 3),
        "throughput": round(len(ok) / span, 1) if span > 0 else 0.0,
        "latency_ms": {k: round(v * 1000, 3) for k, v in summarize([s.latency for s in ok]).items()},
        "errors": dict(Counter(s.code for s in measured if s.code != "OK")),
        "quality": quality,
    }


def text(report: dict) -> str:
    lat = report["latency_ms"]
    lines = [
        f"dedup-bench: {report['mode']}, concurrency {report['concurrency']}"
        + (f", open loop at {report['rate']:g}/s" if report["rate"] else ", closed loop"),
        f"  workload:   {report['workload']}",
        f"  requests:   {report['measured']:,} measured ({report['warmup_excluded']:,} warm-up) in {report['seconds']:.1f} s",
        f"  throughput: {report['throughput']:,.1f} ok/s",
    ]
    if lat:
        lines.append("  latency ms: " + "  ".join(f"{k} {lat[k]:.2f}" for k in ("p50", "p90", "p99", "p99.9", "max")))
    lines.append("  errors:     " + (", ".join(f"{k} {v:,}" for k, v in sorted(report["errors"].items())) or "none"))
    q = report.get("quality")
    if q:
        lines.append(f"  duplicates: precision {q['precision']:.3f}  recall {q['recall']:.3f}  "
                     f"(pairs: {q['true_pairs']:,} true, {q['predicted_pairs']:,} predicted)")
    return "\n".join(lines)


def html_page(report: dict, result: RunResult) -> str:
    ok = [s for s in result.measured() if s.code == "OK"]
    series = per_second([(s.done, s.latency) for s in result.samples if s.code == "OK"], result.started)
    hist = histogram([s.latency * 1000 for s in ok])
    throughput = _bars([(str(r["second"]), r["requests"]) for r in series], "requests per second", "s")
    latency = _lines(series)
    distribution = _bars([(f"{lo:.2f}", n) for lo, _, n in hist], "latency histogram (count per bucket, ms, log scale)", "ms")
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>dedup-bench report</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:960px}}pre{{background:#f4f4f4;padding:1em}}
svg{{background:#fafafa;border:1px solid #ddd;margin:.5em 0}}text{{font-size:10px}}</style></head><body>
<h1>dedup-bench</h1><pre>{html.escape(text(report))}</pre>
<h2>Throughput over time</h2>{throughput}
<h2>Latency over time (p50 blue, p99 red, ms)</h2>{latency}
<h2>Latency distribution</h2>{distribution}
<script type="application/json" id="report">{html.escape(json.dumps(report))}</script>
</body></html>"""


def _bars(points: list[tuple[str, float]], title: str, unit: str, width: int = 900, height: int = 220) -> str:
    if not points:
        return "<p>no data</p>"
    top = max(v for _, v in points) or 1
    bar = width / len(points)
    rects = []
    for i, (label, value) in enumerate(points):
        h = (height - 30) * value / top
        rects.append(f'<rect x="{i * bar:.1f}" y="{height - 20 - h:.1f}" width="{max(bar - 1, 1):.1f}" height="{h:.1f}" '
                     f'fill="#4a7bd0"><title>{html.escape(label)} {unit}: {value:,}</title></rect>')
        if len(points) <= 40 or i % max(1, len(points) // 20) == 0:
            rects.append(f'<text x="{i * bar:.1f}" y="{height - 5}">{html.escape(label)}</text>')
    return (f'<svg width="{width}" height="{height}" role="img" aria-label="{html.escape(title)}">'
            f'<text x="4" y="12">{html.escape(title)} (max {top:,})</text>{"".join(rects)}</svg>')


def _lines(series: list[dict], width: int = 900, height: int = 220) -> str:
    values = [r[k] for r in series for k in ("p50", "p99") if r[k] is not None]
    if not values:
        return "<p>no data</p>"
    top = max(values) * 1000 or 1
    step = width / max(1, len(series) - 1)
    paths = []
    for key, colour in (("p50", "#4a7bd0"), ("p99", "#d04a4a")):
        pts = [f"{i * step:.1f},{height - 20 - (height - 30) * r[key] * 1000 / top:.1f}"
               for i, r in enumerate(series) if r[key] is not None]
        paths.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(pts)}"/>')
    return (f'<svg width="{width}" height="{height}"><text x="4" y="12">max {top:.1f} ms</text>{"".join(paths)}</svg>')
