"""The monitor's outputs: a self-contained HTML page (trend panels with interval bands, the policy threshold and
alert markers; the group mix over time; the alerts and the windows), Markdown and JUnit. Formatting and chart
geometry only: the windows, trend and alerts are the windowed audit's, the verdicts the gate's."""

from __future__ import annotations

from typing import Any

from .charts import mix_bars, trend_panel
from .format import fmt, fmt_p, md

VERDICT_WORDS = {"drift": "drift", "no drift": "no drift", "not tested": "not tested",
                 "insufficient data": "insufficient data"}


def _day(ts: str) -> str:
    return ts[:10] if ts.endswith("00:00:00") else ts[:16]


def _thresholds(gate: Any, settings: dict[str, Any]) -> dict[str, tuple[float, str]]:
    """The line each alert metric's panel draws: the policy's bound, else the four-fifths rule for the ratio."""
    out: dict[str, tuple[float, str]] = {}
    ff = settings.get("config", {}).get("four_fifths", 0.8)
    out["demographic_parity_ratio"] = (ff, "four-fifths rule")
    if gate is not None:
        for _, g in gate.windows[:1]:
            for r in g.rules:
                bound = r.rule.min if r.rule.min is not None else r.rule.max
                if bound is None and r.rule.max_abs is not None:
                    bound = -r.rule.max_abs
                if bound is not None:
                    out[r.rule.metric] = (bound, f"policy: {r.rule.describe()}")
    return out


def build_view(windowed: Any, gate: Any = None) -> dict[str, Any]:
    info = windowed.info
    spans = list(windowed.spans)
    alerts = windowed.alert_records()
    trend = windowed.trend_records()
    drift = [a for a in alerts if a["verdict"] == "drift"]
    drift_keys = {(a["window_start"], a["attribute"], a["group"], a["metric"]) for a in drift}
    lines = _thresholds(gate, info)
    protected = list(info["protected"])
    by_key: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = {}
    for r in trend:
        by_key.setdefault((r["attribute"], r["group"], r["metric"]), {})[r["window_start"]] = r
    ref_values: dict[tuple[str, str, str], float] = {}
    if info["reference_mode"] in ("first", "range"):
        for a in alerts:
            if a["reference_value"] is not None:
                ref_values.setdefault((a["attribute"], a["group"], a["metric"]), a["reference_value"])
    refs = info["group_reference"]
    panels = []
    for metric in info["alert_metrics"]:
        groups = []
        keys = sorted({(a, g) for (a, g, m) in by_key if m == metric and g != refs.get(a)},
                      key=lambda k: (k[0] not in protected, k[0], k[1]))
        for attribute, group in keys:
            if attribute not in protected and not any(d[1] == attribute and d[2] == group and d[3] == metric
                                                      for d in drift_keys):
                continue  # intersections get a panel when they drift
            rows = by_key[(attribute, group, metric)]
            points = []
            for w in spans:
                r = rows.get(w.start)
                v = None if r is None or r["value"] is None else r["value"]
                points.append({"value": v, "ci_low": None if r is None else r["ci_low"],
                               "ci_high": None if r is None else r["ci_high"], "tick": _day(w.start),
                               "label": _day(w.start), "alert": (w.start, attribute, group, metric) in drift_keys})
            line = lines.get(metric)
            ref_v = ref_values.get((attribute, group, metric))
            n_alerts = sum(p["alert"] for p in points)
            desc = (f"{metric.replace('_', ' ')} of {attribute} = {group} against {refs.get(attribute, '')} in each "
                    f"of {len(points)} windows, with {100 * info['confidence']:g}% intervals"
                    + (f"; {n_alerts} drift alert(s)" if n_alerts else "; no drift alert"))
            panel = trend_panel(f"{attribute} = {group}", desc, points, threshold=None if line is None else line[0],
                                baseline=ref_v)
            panel["threshold_label"] = None if line is None else line[1]
            panel["alerts"] = n_alerts
            groups.append(panel)
        panels.append({"metric": metric, "title": metric.replace("_", " "), "groups": groups})
    mixes = []
    for attribute in protected:
        names: list[str] = []
        counts: list[dict[str, int]] = []
        for w in spans:
            c = {g["group"]: g["n"] for g in w.result.groups_table.records() if g["attribute"] == attribute}
            names.extend(g for g in c if g not in names)
            counts.append(c)
        shares = [[c.get(g, 0) / max(sum(c.values()), 1) for g in names] for c in counts]
        mixes.append(mix_bars(f"Group mix: {attribute}", f"share of each {attribute} group among each window's rows",
                              [_day(w.start) for w in spans], names, shares))
    table = [{"start": _day(w.start), "end": _day(w.end), "n": f"{w.n:,}", "labelled": f"{w.n_labelled:,}",
              "status": w.status, "drift": sum(1 for a in drift if a["window_start"] == w.start)} for w in spans]
    tested = [a for a in alerts if a["verdict"] in ("drift", "no drift")]
    shown = sorted(tested, key=lambda a: (a["verdict"] != "drift", a["p_value"]))[:200]

    def alert_row(a: dict[str, Any]) -> dict[str, Any]:
        return {"window": _day(a["window_start"]), "attribute": a["attribute"], "group": a["group"],
                "reference": a["reference"], "metric": a["metric"].replace("_", " "),
                "reference_value": fmt(a["reference_value"]), "value": fmt(a["value"]), "change": fmt(a["change"]),
                "ci": "" if a["ci_low"] is None else f"[{fmt(a['ci_low'])}, {fmt(a['ci_high'])}]",
                "p": fmt_p(a["p_value"]), "verdict": a["verdict"], "reason": a["reason"]}

    n_ok = sum(w.status == "ok" for w in spans)
    return {"title": "Fairness monitoring report", "info": info, "spans": table, "panels": panels, "mixes": mixes,
            "drift": [alert_row(a) for a in drift], "alerts": [alert_row(a) for a in shown],
            "n_tested": len(tested), "n_shown": len(shown), "gate": gate, "n_ok": n_ok,
            "n_small": sum(w.status == "insufficient data" for w in spans),
            "n_empty": sum(w.status == "empty" for w in spans),
            "first": _day(spans[0].start) if spans else "", "last": _day(spans[-1].start) if spans else "",
            "reference": (f"the rows from {info['reference'][0]} to {info['reference'][1]}, pooled"
                          if info["reference_mode"] == "range" else
                          "the first window with enough rows" if info["reference_mode"] == "first" else
                          "the window before")}


def render_html(windowed: Any, gate: Any = None) -> str:
    from .html import template_env

    return template_env().get_template("monitor.html.j2").render(**build_view(windowed, gate))


def render_markdown(windowed: Any, gate: Any = None) -> str:
    info = windowed.info
    drift = windowed.drift()
    out = []
    if gate is not None:
        out.append(f"## Fairness monitor: gate {'passed' if gate.passed else 'FAILED'}")
        out.append("")
        out.append(f"Scope: {md(gate.scope)}; drift alerts in scope: {len(gate.drift)} (at most {gate.max_drift}: "
                   f"{md(gate.drift_verdict)}); {gate.tested} tested.")
        for start, g in gate.windows:
            bad = [r for r in g.rules if r.blocking]
            out.append(f"- window {md(_day(start))}: {'passed' if g.passed else 'FAILED'}"
                       + (": " + "; ".join(f"{md(r.rule.name)} {md(r.verdict)}" for r in bad) if bad else ""))
        for note in gate.notes:
            out.append(f"\n> {md(note)}")
    else:
        out.append("## Fairness monitor")
    out.append("")
    spans = windowed.spans
    out.append(f"{len(spans)} windows of {md(info['every'])} from {md(_day(spans[0].start))} to "
               f"{md(_day(spans[-1].start))}, {info['n_rows']:,} rows; label `{md(info['label'])}`; protected: "
               + ", ".join(md(p) for p in info["protected"]) + f"; model: {md(info['model'])}")
    out.append("")
    out.append(f"Alerts: {', '.join(md(m) for m in info['alert_metrics'])} against "
               f"{md(info['reference_mode'])}, Holm-adjusted across {info['family_size']} tests (every tested window x "
               f"alert metric x group), persistence {info['persistence']}.")
    out.append("")
    out.append(f"### Drift alerts ({len(drift)})")
    if drift:
        ci = f"{100 * info['confidence']:g}% CI"
        out.append("")
        out.append(f"| window | attribute | group | metric | reference value | value | change | {ci} | p (Holm) |")
        out.append("|---|---|---|---|---|---|---|---|---|")
        for a in drift[:50]:
            out.append(f"| {md(_day(a['window_start']))} | {md(a['attribute'])} | {md(a['group'])} | "
                       f"{md(a['metric'])} | {fmt(a['reference_value'])} | {fmt(a['value'])} | {fmt(a['change'])} | "
                       f"\\[{fmt(a['ci_low'])}, {fmt(a['ci_high'])}\\] | {fmt_p(a['p_value'])} |")
        if len(drift) > 50:
            out.append(f"\n{len(drift) - 50} more in the report.")
    else:
        out.append("No window's change against its reference is significant after the correction.")
    small = [w for w in spans if w.status != "ok"]
    if small:
        out.append("")
        out.append(f"{len(small)} window(s) too small to judge or empty: "
                   + ", ".join(f"{md(_day(w.start))} ({md(w.status)})" for w in small[:10]))
    return "\n".join(out) + "\n"


def render_junit(windowed: Any, gate: Any) -> str:
    from xml.sax.saxutils import escape

    from .junit import rule_case, xml_attr as attr, xml_text as text

    cases, failures, skipped = [], 0, 0
    drift_lines = [f"drift: {_day(a['window_start'])} {a['attribute']} {a['group']} {a['metric']}: "
                   f"{fmt(a['reference_value'])} -> {fmt(a['value'])} (change {fmt(a['change'])}, "
                   f"{fmt_p(a['p_value'])})" for a in gate.drift]
    inner = ""
    if gate.drift_verdict != "pass":
        failures += 1
        msg = (f"{len(gate.drift)} drift alert(s), at most {gate.max_drift} allowed" if gate.drift_verdict == "fail"
               else "no alert could be tested in scope")
        inner = f"<failure type={attr(gate.drift_verdict)} message={attr(msg)}>{escape(text(chr(10).join(drift_lines)))}</failure>"
    cases.append(f"    <testcase name={attr(f'drift alerts ({gate.scope})')} classname=\"fairness_audit.monitor\" "
                 f'time="0">{inner}</testcase>')
    for start, g in gate.windows:
        for r in g.rules:
            case, failed, skipped_ = rule_case(r, prefix=f"{_day(start)}: ")
            cases.append(case)
            failures += failed
            skipped += skipped_
    info = windowed.info
    props = [("policy", gate.policy_source), ("windows", str(info["n_windows"])), ("rows", str(info["n_rows"])),
             ("label", info["label"]), ("protected", ", ".join(info["protected"])), ("model", info["model"]),
             ("gate", "passed" if gate.passed else "failed")]
    prop_xml = "\n".join(f"      <property name={attr(k)} value={attr(v)}/>" for k, v in props)
    out = "\n".join(drift_lines + [f"note: {n}" for n in gate.notes])
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n'
            f'  <testsuite name="fairness-audit monitor" package="fairness-audit" id="0" hostname="localhost" '
            f'tests="{len(cases)}" failures="{failures}" errors="0" skipped="{skipped}" time="0">\n'
            f"    <properties>\n{prop_xml}\n    </properties>\n" + "\n".join(cases) + "\n"
            f"    <system-out>{escape(text(out))}</system-out>\n  </testsuite>\n</testsuites>\n")


_NOTEBOOK = """<div class="fa-monitor"><p><strong>Fairness monitor</strong>: {{ n }} windows of <code>{{ every }}</code>
({{ first }} to {{ last }}), {{ "{:,}".format(rows) }} rows; {{ drift|length }} drift alert(s) of {{ tested }} tested
changes (Holm-adjusted).</p>
{% if drift %}<table><thead><tr><th>window</th><th>attribute</th><th>group</th><th>metric</th><th>reference value</th>
<th>value</th><th>change [CI]</th><th>p</th></tr></thead><tbody>{% for a in drift[:20] %}<tr><td>{{ a.window }}</td>
<td>{{ a.attribute }}</td><td>{{ a.group }}</td><td>{{ a.metric }}</td><td>{{ a.reference_value }}</td><td>{{ a.value }}</td>
<td>{{ a.change }} {{ a.ci }}</td><td>{{ a.p }}</td></tr>{% endfor %}</tbody></table>{% endif %}</div>"""


def render_notebook(windowed: Any) -> str:
    """A notebook cell's view of a windowed audit: the windows and the drift alerts (user strings escaped)."""
    from .html import template_env

    view = build_view(windowed)
    return template_env().from_string(_NOTEBOOK).render(
        n=len(view["spans"]), every=view["info"]["every"], first=view["first"], last=view["last"],
        rows=view["info"]["n_rows"], drift=view["drift"], tested=view["n_tested"])
