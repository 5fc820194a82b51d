"""The report's view of the explanation section: formatting and chart geometry only (no computation)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .text import fmt

if TYPE_CHECKING:  # pragma: no cover
    from ..results import AuditResult, Section

TOTAL = "(total gap)"


def is_total(r: dict[str, Any]) -> bool:
    """The whole gap's row of a gap attribution (results before the ``total`` column named it by feature only)."""
    return bool(r["total"]) if "total" in r else r["feature"] == TOTAL


def _ci(r: dict[str, Any]) -> str:
    return "" if r.get("ci_low") is None else f" [{fmt(r['ci_low'])}, {fmt(r['ci_high'])}]"


def output_name(sec: "Section", result: "AuditResult") -> str:
    space = sec.get("output_space", "model output")
    return {"log-odds margin": "log-odds of the favourable outcome",
            "probability": "predicted probability of the favourable outcome",
            "decision score": "decision score of the favourable outcome"}.get(space, f"{space} (favourable outcome)")


def gap_sentence(rows: list[dict[str, Any]], out: str, top: int = 4) -> str:
    """"The gap of -0.18 [..] in mean <output> between A and B: f1 -0.09 [..], ..., other features +0.01."""
    total = next(r for r in rows if is_total(r))
    parts = [r for r in rows if not is_total(r)]
    shown = parts[:top]
    rest = sum(r["contribution"] for r in parts[top:])
    text = (f"The gap of {fmt(total['contribution'])}{_ci(total)} in mean {out} between {total['group']} and "
            f"{total['reference']}: " + ", ".join(f"{r['feature']} {fmt(r['contribution'])}{_ci(r)}" for r in shown))
    if parts[top:]:
        text += f", other features {fmt(rest)}"
    return text + "."


def top_driver(result: "AuditResult") -> str | None:
    """The top driver of the largest significant demographic-parity gap (for the summary), or None."""
    sec = result.section("explanations")
    if sec is None or sec.table("gap_attribution") is None:
        return None
    sig = [d for d in result.significant() if d["metric"] == "demographic_parity_difference"
           and d["attribute"] in result.protected]
    if not sig:
        return None
    d = max(sig, key=lambda r: abs(r["value"]))
    rows = [r for r in sec.table("gap_attribution").records() if r["attribute"] == d["attribute"]
            and r["group"] == d["group"] and r["population"] == "all"]
    drivers = [r for r in rows if not is_total(r)]
    total = next((r for r in rows if is_total(r)), None)
    if not drivers or total is None:
        return None
    r = drivers[0]
    return (f"Top driver of the largest significant gap ({d['group']} vs {d['reference']}): {r['feature']}, "
            f"{fmt(r['contribution'])}{_ci(r)} of a {fmt(total['contribution'])} gap in mean "
            f"{output_name(sec, result)}.")


def blocks(sec: "Section", result: "AuditResult") -> list[dict[str, Any]]:
    from .html import _chart

    out: list[dict[str, Any]] = []
    conf = f"{100 * result.config.confidence:g}%"
    notes = list(sec.get("notes", ()) or ())
    failed = list(sec.get("failed_parts", ()) or ())
    if failed:
        out.append({"title": "Not computed", "text": "These parts of the explanations failed; the others completed. "
                    + " ".join(f"{f['part']}: {f['error']}." for f in failed), "columns": [], "rows": []})
    if sec.get("explainer"):
        text = (f"{sec.get('explainer')}; output explained: {sec.get('output_space')}; {sec.get('rows_explained'):,} "
                f"rows explained ({sec.get('sample')}); background {sec.get('background_size'):,} rows; seed "
                f"{sec.get('seed')}. Values are per original column (one-hot columns summed row by row before any "
                "magnitude is taken)." if sec.get("mapped_to_original_columns") else
                f"{sec.get('explainer')}; output explained: {sec.get('output_space')}; values are per transformed "
                "column (the map to original columns is unknown).")
        out.append({"title": "What was explained", "text": " ".join([text] + notes), "columns": [], "rows": []})
    elif notes:
        out.append({"title": "What was explained", "text": " ".join(notes), "columns": [], "rows": []})
    imp = sec.table("shap_importance").records() if sec.table("shap_importance") else []
    if imp:
        out.append({"title": "Most important features (mean |SHAP|)",
                    "text": f"Mean absolute contribution to the model output per feature, with {conf} intervals "
                            "from a bootstrap of the explained rows stratified by group.",
                    "columns": ["Rank", "Feature", "Mean |SHAP|", f"{conf} interval"],
                    "rows": [[r["rank"], r["feature"], r["mean_abs_shap"], _ci(r).strip()] for r in imp[:15]]})
    gaps = sec.table("gap_attribution").records() if sec.table("gap_attribution") else []
    if gaps:
        out_name = output_name(sec, result)
        protected = set(result.protected)
        keys = list(dict.fromkeys((r["attribute"], r["group"]) for r in gaps
                                  if r["population"] == "all" and r["attribute"] in protected))
        for attr, group in keys:
            rows = [r for r in gaps if r["attribute"] == attr and r["group"] == group and r["population"] == "all"]
            chart_rows = [{"label": r["feature"], "value": r["contribution"], "ci_low": r["ci_low"],
                           "ci_high": r["ci_high"]} for r in rows[:9]]
            chart = _chart(f"Gap in mean {out_name}: {group} vs {rows[0]['reference']}", chart_rows, 0.0, "no gap",
                           f"Dot-and-whisker chart of each feature's contribution to the gap in mean {out_name} "
                           f"between {group} and {rows[0]['reference']}, with {conf} intervals; the first row is the "
                           "whole gap.")
            out.append({"title": f"What drives the gap: {attr} = {group}", "text": gap_sentence(rows, out_name),
                        "chart": chart, "columns": [], "rows": []})
        out.append({"title": "Reading the gap attribution",
                    "text": f"This decomposes the gap in mean model output ({out_name}), not the gap in the "
                            "thresholded rate, and ratios cannot be decomposed. Each feature's contribution is the "
                            "difference of the two groups' mean SHAP values; with the model's base value they add "
                            "up to the gap exactly. result.gap_attribution also holds intersections and the rows "
                            "whose true outcome is favourable (the equal-opportunity view) or unfavourable.",
                    "columns": [], "rows": []})
    cases = sec.table("lime_cases").records() if sec.table("lime_cases") else []
    for k in dict.fromkeys(r["case"] for r in cases):
        rows = [r for r in cases if r["case"] == k]
        r0 = rows[0]
        out.append({"title": f"LIME case {k}: row {r0['row']}",
                    "text": f"{r0['reason']}. Predicted {fmt(r0['prediction'])}; stability across seeds "
                            f"{fmt(r0['stability'], 2)} (1 = the same top features every time).",
                    "columns": ["Condition", "Weight"], "rows": [[r["condition"], r["weight"]] for r in rows]})
    aucs = sec.table("proxy_auc").records() if sec.table("proxy_auc") else []
    if aucs:
        flagged = [r for r in sec.table("proxies").records() if r["flag"]]
        out.append({"title": "Proxy scan",
                    "text": "How well the model's other features predict each protected attribute (cross-validated "
                            "ROC AUC: 0.5 = no trace of it, 1 = fully recoverable even if the model never sees it), "
                            "and features associated with it (Cramér's V or correlation ratio of 0.3 or more).",
                    "columns": ["Attribute", "AUC", f"{conf} interval", "Associated features (importance rank)"],
                    "rows": [[r["attribute"], r["auc"], _ci(r).strip() or r["reason"],
                              ", ".join(f"{p['feature']} ({p['importance_rank'] or '-'})" for p in flagged
                                        if p["attribute"] == r["attribute"]) or "none"] for r in aucs]})
    return out


def mitigation_blocks(sec: "Section", result: "AuditResult") -> list[dict[str, Any]]:
    """The report's Mitigation blocks: the finding, the weights and base rates, the paired before/after table."""
    out: list[dict[str, Any]] = []
    conf = f"{100 * result.config.confidence:g}%"
    text = sec.get("method", "")
    if not sec.get("refit"):
        text += f". No refit: {sec.get('why')}" + ("; the weights and their effect on the training data are below."
                                                   if sec.table("weights") is not None else ".")
    for w in sec.get("warnings", ()) or ():
        text += f" {w}."
    out.append({"title": "Reweighing", "text": sec.get("finding") or text, "columns": [], "rows": []})
    if sec.get("finding"):
        out.append({"title": "Method", "text": text + " The refit is a clone of the model fitted on the training "
                    "data with the weights (sample_weight routed to the final step); the user's model is untouched. "
                    "It is re-audited on the same data, threshold and seed; before, after and the change come from "
                    "the same resamples (a joint table of label x prediction before x prediction after).",
                    "columns": [], "rows": []})
    weights = sec.table("weights")
    if weights is not None:
        out.append({"title": "Weights and label base rates in the training data",
                    "text": "After weighting, every group has the same base rate.",
                    "columns": ["Group", "Label", "Rows", "Weight", "Base rate before", "Base rate after"],
                    "rows": [[r["group"], r["label"], r["n"], r["weight"], r["base_rate_before"], r["base_rate_after"]]
                             for r in weights.records()]})
    changes = sec.table("changes")
    if changes is not None:
        protected = set(result.protected) | {"(overall)"}
        keep = [r for r in changes.records() if r["attribute"] in protected and (r["reference"] or r["group"] == "all")]

        def ci(r: dict[str, Any], k: str) -> str:
            return "" if r.get(f"{k}_low") is None else f" [{fmt(r[f'{k}_low'])}, {fmt(r[f'{k}_high'])}]"

        out.append({"title": "Before and after reweighing (paired)",
                    "text": f"{conf} intervals; the change's interval and p-value come from paired resamples "
                            f"({result.config.correction}-adjusted across these rows).",
                    "columns": ["Attribute", "Group", "Metric", "Before", "After", "Change", "Verdict"],
                    "rows": [[r["attribute"], r["group"] if not r["reference"] else f"{r['group']} vs {r['reference']}",
                              r["metric"].replace("_", " "), f"{fmt(r['before'])}{ci(r, 'before')}",
                              f"{fmt(r['after'])}{ci(r, 'after')}", f"{fmt(r['change'])}{ci(r, 'change')}",
                              r["verdict"]] for r in keep]})
    what_if = sec.table("what_if")
    if what_if is not None:
        out.extend(_what_if_blocks(what_if.records(), result, conf))
    return out


def _scatter(title: str, desc: str, points: list[dict[str, Any]], xlabel: str, ylabel: str) -> dict[str, Any]:
    """Geometry of a scatter with whiskers on both axes (formatting only)."""
    left, right, top, bottom = 70, 560, 30, 300
    xs = [v for p in points for v in (p["x"], p["x_lo"], p["x_hi"]) if v is not None]
    ys = [v for p in points for v in (p["y"], p["y_lo"], p["y_hi"]) if v is not None] + [0.0]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    padx, pady = (x1 - x0) * 0.08 or 0.01, (y1 - y0) * 0.08 or 0.01
    x0, x1, y0, y1 = x0 - padx, x1 + padx, y0 - pady, y1 + pady

    def px(v: float | None) -> float | None:
        return None if v is None else round(left + (right - left) * (v - x0) / (x1 - x0), 1)

    def py(v: float | None) -> float | None:
        return None if v is None else round(bottom - (bottom - top) * (v - y0) / (y1 - y0), 1)

    pts = [{"label": p["label"], "original": p.get("original", False), "x": px(p["x"]), "y": py(p["y"]),
            "x_lo": px(p["x_lo"]), "x_hi": px(p["x_hi"]), "y_lo": py(p["y_lo"]), "y_hi": py(p["y_hi"]),
            "xv": fmt(p["x"]), "xlo_v": fmt(p["x_lo"]), "xhi_v": fmt(p["x_hi"]), "yv": fmt(p["y"]),
            "ylo_v": fmt(p["y_lo"]), "yhi_v": fmt(p["y_hi"])} for p in points]
    return {"title": title, "desc": desc, "points": pts, "width": 760, "height": bottom + 40, "left": left,
            "right": right, "top": top, "bottom": bottom, "xlabel": xlabel, "ylabel": ylabel,
            "xticks": [{"x": px(x0 + (x1 - x0) * k / 4), "label": f"{x0 + (x1 - x0) * k / 4:.3f}"} for k in range(5)],
            "yticks": [{"y": py(y0 + (y1 - y0) * k / 4), "label": f"{y0 + (y1 - y0) * k / 4:.3f}"} for k in range(5)],
            "zero_y": py(0.0) if y0 <= 0 <= y1 else None}


def _what_if_blocks(rows: list[dict[str, Any]], result: "AuditResult", conf: str) -> list[dict[str, Any]]:
    """The remedy table (the worst-off group of the first mitigated attribute) and its scatter chart."""
    dp = [r for r in rows if r["metric"] == "demographic_parity_difference" and r["before"] is not None]
    if not dp:
        return []
    worst = max(dp, key=lambda r: abs(r["before"]))
    attr, group = worst["attribute"], worst["group"]
    remedies = list(dict.fromkeys(r["remedy"] for r in rows))

    def get(remedy: str, metric: str) -> dict[str, Any] | None:
        grp = "all" if metric in ("accuracy", "balanced_accuracy") else group
        a = "(overall)" if metric in ("accuracy", "balanced_accuracy") else attr
        return next((r for r in rows if r["remedy"] == remedy and r["metric"] == metric and r["group"] == grp
                     and r["attribute"] == a), None)

    metrics = ("demographic_parity_difference", "demographic_parity_ratio", "equal_opportunity_difference",
               "average_odds_difference", "accuracy", "balanced_accuracy")

    def cell(r: dict[str, Any] | None, key: str) -> str:
        if r is None:
            return ""
        lo, hi = r.get(f"{key}_low"), r.get(f"{key}_high")
        return fmt(r[key]) + ("" if lo is None else f" [{fmt(lo)}, {fmt(hi)}]")

    def spread(r: dict[str, Any] | None) -> str:
        if r is None or r.get("after_min") is None or r["after_min"] == r["after_max"]:
            return ""
        return f"; over the splits {fmt(r['after_min'])} to {fmt(r['after_max'])}"

    table_rows = [["the audited model"] + [cell(get(remedies[0], m), "before") for m in metrics]]
    for rem in remedies:
        table_rows.append([rem] + [f"{cell(get(rem, m), 'after')}; change {cell(get(rem, m), 'change')}"
                                   f"{spread(get(rem, m))}" for m in metrics])
    notes = "; ".join(dict.fromkeys(f"{r['remedy']}: {r['note']}" for r in rows))
    first = get(remedies[0], "demographic_parity_difference")
    acc0 = get(remedies[0], "accuracy")
    points = [{"label": "the audited model", "original": True, "x": acc0["before"], "x_lo": acc0.get("before_low"),
               "x_hi": acc0.get("before_high"), "y": first["before"], "y_lo": first.get("before_low"),
               "y_hi": first.get("before_high")}]
    for rem in remedies:
        d, a = get(rem, "demographic_parity_difference"), get(rem, "accuracy")
        if d is not None and a is not None:
            points.append({"label": rem, "x": a["after"], "x_lo": a.get("after_low"), "x_hi": a.get("after_high"),
                           "y": d["after"], "y_lo": d.get("after_low"), "y_hi": d.get("after_high")})
    chart = _scatter(f"Remedies: demographic parity difference of {group} vs {worst['reference']} against accuracy",
                     f"Each remedy's demographic parity difference ({group} vs {worst['reference']}) against its "
                     f"overall accuracy, with {conf} intervals on both axes; the dashed line is parity.",
                     points, "overall accuracy", "demographic parity difference")
    return [{"title": f"What if: remedies for {attr} = {group}",
             "text": f"Each remedy graded on the same evaluation rows, with {conf} intervals and its paired change from "
                     f"the audited model. {notes}. Group thresholds are fitted on one half of the rows and graded on "
                     "the other (and the other way round), so no remedy is graded on the rows it was fitted on; "
                     "with several seeded splits into halves, a value is the mean over the splits, its interval "
                     "covers every split's, and the range over the splits is shown.",
             "scatter": chart,
             "columns": ["Remedy"] + [m.replace("_", " ") for m in metrics], "rows": table_rows}]
