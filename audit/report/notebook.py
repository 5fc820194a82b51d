"""Jupyter views: a compact HTML summary (``AuditResult._repr_html_``), and charts drawn with the report's own
SVG templates (``result.chart(...)``): a metric by group or a disparity with intervals, a gap attribution, the
before and after of reweighing. Views format what the result holds; they compute nothing."""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING, Any

from .charts import dot_chart
from .findings import is_total, output_name

if TYPE_CHECKING:  # pragma: no cover
    from ..record.result import ResultData as AuditResult

KINDS = ("metric", "disparity", "gap", "mitigation")


def notebook_html(result: "AuditResult") -> str:
    return "<pre style='white-space:pre-wrap'>" + html.escape(result.summary()) + "</pre>"


class Chart:
    """One of the report's charts, shown by Jupyter (``_repr_html_``: an SVG with the report's styles) or written
    into any page (``.html``)."""

    def __init__(self, geometry: dict[str, Any]):
        self.geometry = geometry

    @property
    def html(self) -> str:
        """The chart's SVG with the report's chart styles, scoped to it (a notebook page keeps its own styles)."""
        from .html import template_env

        env = template_env()
        css = env.get_template("_style.css.j2").render()
        css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
        css = re.sub(r"@media[^{]*\{(?:[^{}]*\{[^{}]*\})*[^{}]*\}", "", css)  # screen-size and print rules
        scoped = "".join(
            ", ".join(f".fairness-audit-chart {sel.strip()}" for sel in selectors.split(",")) + " {" + body + "}"
            for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css)
            if selectors.strip().startswith(("svg ", "figure.chart")))
        palette = re.search(r":root \{(.*?)\}", css, re.S)  # the report's colours, as the chart's own variables
        variables = " ".join(palette.group(1).split()) if palette else ""
        body = env.from_string('{% include "_chart.html.j2" %}').render(chart=self.geometry, cid="nb")
        return (f"<div class='fairness-audit-chart' style='font-family: system-ui, sans-serif; max-width: 760px; "
                f"{variables}'><style>{scoped}</style>{body}</div>")

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return f"<Chart {self.geometry['title']!r}: {len(self.geometry['items'])} rows>"


#: each task's default metric and disparity of a chart
DEFAULTS = {"binary": ("accuracy", "demographic_parity_difference"),
            "regression": ("mae", "mean_prediction_difference"),
            "multiclass": ("accuracy", "worst_class_parity_difference")}


def _of_class(rows: list[dict[str, Any]], result: "AuditResult", name: str, cls: str | None) -> list[dict[str, Any]]:
    """A multiclass result's rows of one class (default: accuracy of all classes, macro averages, else the
    favourable view); the worst-class rows each name their own."""
    if result.task != "multiclass" or name == "worst_class_parity_difference":
        return rows
    if cls is None:
        present = {r.get("class") for r in rows}
        cls = next((c for c in ("(all classes)", "(macro)", "(favourable)") if c in present), None)
    return [r for r in rows if r.get("class") == cls]


def chart(result: "AuditResult", kind: str, name: str | None = None, attribute: str | None = None,
          group: str | None = None, cls: str | None = None) -> Chart:
    """A chart of the result (see :meth:`audit.AuditResult.chart`)."""
    conf = f"{100 * result.config.confidence:g}%"
    default_metric, default_disparity = DEFAULTS.get(result.task, DEFAULTS["binary"])
    if kind not in KINDS:
        raise ValueError(f"chart kind {kind!r} is not one of {', '.join(KINDS)}.")
    attribute = attribute or (result.protected[0] if result.protected else None)
    if kind == "metric":
        name = name or default_metric
        rows = _of_class([r for r in result.metrics_table.records() if r["metric"] == name
                          and r["attribute"] == attribute], result, name, cls)
        overall = next((r["value"] for r in _of_class(result.metrics_table.records(), result, name, cls)
                        if r["metric"] == name and r["attribute"] == "(overall)"), None)
        items = [{"label": r["group"], "value": r["value"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                  "marker": "dot" if r["status"] == "ok" else "hollow",
                  "note": "" if r["status"] == "ok" else " (insufficient data)"} for r in rows]
        geometry = dot_chart(f"{name.replace('_', ' ')} by {attribute}", items, overall, "overall",
                             f"{name.replace('_', ' ')} of each {attribute} group with {conf} intervals; the dashed "
                             "line is the overall value.")
    elif kind == "disparity":
        name = name or default_disparity
        rows = _of_class([r for r in result.disparities_table.records() if r["metric"] == name
                          and r["attribute"] == attribute and r["comparison"] == "vs_reference"], result, name, cls)
        ideal = 1.0 if name.endswith("_ratio") else 0.0
        items = [{"label": r["group"] + (f" ({r['class']})" if name == "worst_class_parity_difference"
                                         and r.get("class") else ""),
                  "value": r["value"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                  "marker": "diamond" if r["verdict"] == "significant" else
                  ("hollow" if r["verdict"] == "insufficient data" else "dot"), "note": f" ({r['verdict']})"}
                 for r in rows]
        ref = rows[0]["reference"] if rows else ""
        geometry = dot_chart(f"{name.replace('_', ' ')} by {attribute} (reference: {ref})", items, ideal, "parity",
                             f"{name.replace('_', ' ')} of each {attribute} group against {ref}, with {conf} "
                             "intervals; negative (or below 1) means the group fares worse.")
    elif kind == "gap":
        sec = result.section("explanations")
        table = sec.table("gap_attribution") if sec is not None else None
        rows = [r for r in (table.records() if table is not None else []) if r["attribute"] == attribute
                and r["population"] == "all" and (group is None or r["group"] == group)]
        if rows:
            group = rows[0]["group"]
            rows = [r for r in rows if r["group"] == group]
        out = output_name(sec, result) if sec is not None else "model output"
        total = [r for r in rows if is_total(r)]
        items = [{"label": "(the whole gap)" if is_total(r) else r["feature"], "value": r["contribution"],
                  "ci_low": r["ci_low"], "ci_high": r["ci_high"]} for r in total + [r for r in rows
                                                                                   if not is_total(r)][:9]]
        geometry = dot_chart(f"Gap in mean {out}: {group} vs {rows[0]['reference'] if rows else ''}", items, 0.0,
                             "no gap", f"Each feature's contribution to the gap in mean {out}, with {conf} "
                             "intervals (explanations needed: run_audit(..., explain=True)).")
    else:
        sec = result.section("mitigation")
        table = sec.table("changes") if sec is not None else None
        name = name or ("mean_prediction_difference" if result.task == "regression"
                        else "demographic_parity_difference")
        rows = [r for r in (table.records() if table is not None else []) if r["metric"] == name
                and r["attribute"] == attribute and r["reference"]
                and r.get("class") == (cls or ("(favourable)" if result.task == "multiclass" else None))]
        items = []
        for r in rows:
            for when in ("before", "after"):
                items.append({"label": f"{r['group']}, {when}", "value": r[when], "ci_low": r[f"{when}_low"],
                              "ci_high": r[f"{when}_high"], "marker": "dot" if when == "before" else "diamond",
                              "note": f" ({when} reweighing)"})
        geometry = dot_chart(f"{name.replace('_', ' ')} before and after reweighing, by {attribute}", items,
                             1.0 if name.endswith("_ratio") else 0.0, "parity",
                             f"Each {attribute} group's {name.replace('_', ' ')} before and after reweighing, with "
                             f"{conf} intervals from paired resamples (mitigation needed: run_audit(..., "
                             "train_data=..., mitigate=True)).")
        if geometry is not None:  # the markers mean before/after here, not verdicts
            geometry["desc"] = geometry["desc"].split(" Markers:")[0] + " Markers: circle = before; diamond = after."
    if geometry is None:
        raise ValueError(f"the result has nothing to draw for chart({kind!r}, name={name!r}, attribute={attribute!r}"
                         f"{'' if group is None else f', group={group!r}'}).")
    return Chart(geometry)
