"""The views of the explanation and mitigation sections in every output (report blocks, Markdown and text lines,
the report's headline): formatting and chart geometry only (no computation)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .charts import dot_chart, scatter
from .findings import (change_badge, ci_text, gap_sentence, mitigation_finding, output_name, points_per_unit,
                       top_driver)
from .format import fmt, interval, md

if TYPE_CHECKING:  # pragma: no cover
    from ..record.result import ResultData as AuditResult
    from ..record.tables import Section

def blocks(sec: "Section", result: "AuditResult") -> list[dict[str, Any]]:
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
                    "rows": [[r["rank"], r["feature"], r["mean_abs_shap"], ci_text(r).strip()] for r in imp[:15]]})
    by_class = sec.table("shap_by_class").records() if sec.table("shap_by_class") else []
    if by_class:
        out.append({"title": "Most important features for each class's probability (mean |SHAP|)",
                    "text": f"A multiclass model: each class's probability explained; the top features of each class "
                            f"with {conf} intervals.",
                    "columns": ["Class", "Rank", "Feature", "Mean |SHAP|", f"{conf} interval"],
                    "rows": [[r["class"], r["rank"], r["feature"], r["mean_abs_shap"], ci_text(r).strip()]
                             for r in by_class if r["rank"] <= 5]})
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
            chart = dot_chart(f"Gap in mean {out_name}: {group} vs {rows[0]['reference']}", chart_rows, 0.0, "no gap",
                           f"Dot-and-whisker chart of each feature's contribution to the gap in mean {out_name} "
                           f"between {group} and {rows[0]['reference']}, with {conf} intervals; the first row is the "
                           "whole gap.")
            per_unit = points_per_unit(sec, result, attr, group, rows[0]["reference"])
            out.append({"title": f"What drives the gap: {attr} = {group}",
                        "text": gap_sentence(rows, out_name, per_unit=per_unit),
                        "chart": chart, "columns": [], "rows": []})
        out.append({"title": "Reading the gap attribution",
                    "text": f"This decomposes the gap in mean model output ({out_name}), not the gap in the "
                            "thresholded rate, and ratios cannot be decomposed. Each feature's contribution is the "
                            "difference of the two groups' mean SHAP values; with the model's base value they add "
                            "up to the gap exactly. The JSON result also holds the intersections, and the same "
                            "decomposition among people whose true outcome was favourable (the equal-opportunity "
                            "view) or unfavourable.",
                    "columns": [], "rows": []})
    cases = sec.table("lime_cases").records() if sec.table("lime_cases") else []
    for k in dict.fromkeys(r["case"] for r in cases):
        rows = [r for r in cases if r["case"] == k]
        r0 = rows[0]
        who = (f"the person at index {r0['index']} of the data" if r0.get("index") is not None
               else f"row {r0['row']:,} of the explained sample")
        lime = sec.get("lime") or {}
        output = lime.get("output", "predicted probability")
        columns, table = ["Condition", "Weight"], [[r["condition"], r["weight"]] for r in rows]
        if any(r.get("person_value") is not None for r in rows):
            columns = ["Feature", "This person's value", "Condition", "Weight"]
            table = [[r["feature"], r.get("person_value") or "", r["condition"], r["weight"]]
                     for r in rows]
        out.append({"title": f"LIME case {k}: {who}",
                    "text": f"{r0['reason'][:1].upper()}{r0['reason'][1:]}. Predicted {fmt(r0['prediction'])} "
                            f"({output}); stability across seeds {fmt(r0['stability'], 2)} (1 = the same top features "
                            "every time). A positive weight means the condition pushed this prediction up, a negative "
                            "one down; a weight of 0.10 moves it by about 0.10 when the condition holds. Weights "
                            "compare features within this case only.",
                    "columns": columns, "rows": table})
    aucs = sec.table("proxy_auc").records() if sec.table("proxy_auc") else []
    if aucs:
        flagged = [r for r in sec.table("proxies").records() if r["flag"]]
        out.append({"title": "Proxy scan",
                    "text": "How well the model's other features predict each protected attribute (cross-validated "
                            "ROC AUC: 0.5 = no trace of it, 1 = fully recoverable even if the model never sees it), "
                            "and features associated with it (Cramér's V or correlation ratio of 0.3 or more).",
                    "columns": ["Attribute", "AUC", f"{conf} interval", "Associated features (importance rank)"],
                    "rows": [[r["attribute"], r["auc"], ci_text(r).strip() or r["reason"],
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
    finding = mitigation_finding(sec, result)
    out.append({"title": "Reweighing", "text": finding or text, "columns": [], "rows": []})
    if finding:
        out.append({"title": "Method", "text": text + ". The refit is a copy of the model trained again on the "
                    "training data with the weights; the model under audit is untouched. The copy is re-audited on "
                    "the same data, threshold and seed; before, after and the change come from the same resamples, "
                    "so the change's interval accounts for the two being measured on the same people.",
                    "columns": [], "rows": []})
    weights = sec.table("weights")
    if weights is not None:
        several = len({r["label"] for r in weights.records()}) > 2
        out.append({"title": "Weights and label base rates in the training data",
                    "text": "After weighting, every group has the same base rate." if not several else
                            "After weighting, every group has the same distribution over the label's values (base "
                            "rate: the share of the group's rows with that value).",
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
                            f"({result.config.correction}-adjusted across these rows). The before-values are the "
                            "Fairness section's numbers; their intervals here come from those paired resamples "
                            "(drawn jointly with the after-values), so they can differ slightly from the Fairness "
                            "section's, which resample the audited model alone.",
                    "columns": ["Attribute", "Group", "Metric", "Before", "After", "Change", "Verdict"],
                    "rows": [[r["attribute"], (r["group"] if not r["reference"] else f"{r['group']} vs {r['reference']}")
                              + (f" [class {r['class']}]" if r.get("class") else ""),
                              r["metric"].replace("_", " "), f"{fmt(r['before'])}{ci(r, 'before')}",
                              f"{fmt(r['after'])}{ci(r, 'after')}", f"{fmt(r['change'])}{ci(r, 'change')}",
                              dict(zip(("badge", "text"), change_badge(r)))] for r in keep]})
    what_if = sec.table("what_if")
    if what_if is not None:
        out.extend(_what_if_blocks(what_if.records(), result, conf))
    return out


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
    chart = scatter(f"Remedies: demographic parity difference of {group} vs {worst['reference']} against accuracy",
                     f"Each remedy's demographic parity difference ({group} vs {worst['reference']}) against its "
                     f"overall accuracy, with {conf} intervals on both axes; the dashed line is parity.",
                     points, "overall accuracy", "demographic parity difference", x_percent=True)
    return [{"title": f"What if: remedies for {attr} = {group}",
             "text": f"Each remedy graded on the same evaluation rows, with {conf} intervals and its paired change from "
                     f"the audited model (whose row repeats the Fairness section's values, with intervals from these "
                     f"paired resamples). {notes}. Group thresholds are fitted on one half of the rows and graded on "
                     "the other (and the other way round), so no remedy is graded on the rows it was fitted on; "
                     "with several seeded splits into halves, a value is the mean over the splits, its interval "
                     "covers every split's, and the range over the splits is shown.",
             "scatter": chart,
             "columns": ["Remedy"] + [m.replace("_", " ") for m in metrics], "rows": table_rows}]


def explanation_headline(sec: "Section", result: "AuditResult") -> str | None:
    return top_driver(result)


def explanation_markdown(sec: "Section", result: "AuditResult") -> list[str]:
    out = ["\n### Explanations"]
    imp = sec.table("shap_importance").records() if sec.table("shap_importance") else []
    if imp:
        out.append("Most important features (mean \\|SHAP\\|): "
                   + ", ".join(f"{md(r['feature'])} {fmt(r['mean_abs_shap'])}" for r in imp[:5]) + ".")
    driver = top_driver(result)
    if driver:
        out.append(f"\n{md(driver)}")
    for r in (sec.table("proxy_auc").records() if sec.table("proxy_auc") else []):
        if r["auc"] is not None:
            out.append(f"\nProxy scan: the other features predict {md(r['attribute'])} with AUC {fmt(r['auc'])}"
                       + (f" [{fmt(r['ci_low'])}, {fmt(r['ci_high'])}]." if r["ci_low"] is not None else "."))
    return out


def explanation_text(sec: "Section", result: "AuditResult") -> list[str]:
    lines: list[str] = []
    if sec.table("shap_importance") is not None and len(sec.table("shap_importance")):
        top = sec.table("shap_importance").records()[:5]
        lines.append("")
        lines.append("Explanations: most important features (mean |SHAP|, " + str(sec.get("output_space")) + "): "
                     + ", ".join(f"{r['feature']} {fmt(r['mean_abs_shap'])}" for r in top))
        driver = top_driver(result)
        if driver:
            lines.append(f"  {driver}")
    if sec.table("proxy_auc") is not None:
        for r in sec.table("proxy_auc").records():
            if r["auc"] is not None:
                lines.append(f"  proxy scan: the other features predict {r['attribute']} with AUC {fmt(r['auc'])}"
                             f"{interval(r)}")
    return lines


def explanation_lost(sec: "Section") -> list[str]:
    return [f"warning: explanations: the {f['part']} could not be computed ({f['error']})"
            for f in (sec.get("failed_parts", ()) or ())]


def mitigation_headline(sec: "Section", result: "AuditResult") -> str | None:
    return mitigation_finding(sec, result, shown=2)


def _no_refit(sec: "Section") -> str:
    return f"Reweighing: no refit ({sec.get('why')})."


def mitigation_markdown(sec: "Section", result: "AuditResult") -> list[str]:
    return ["\n### Mitigation", md(mitigation_finding(sec, result) or _no_refit(sec))]


def mitigation_text(sec: "Section", result: "AuditResult") -> list[str]:
    return ["", "Mitigation: " + (mitigation_finding(sec, result) or _no_refit(sec))]


def training_view(sec: "Section", result: "AuditResult") -> dict[str, Any]:
    """The training data's base rates, shown in the report's Data section."""
    groups = sec.table("groups").records()
    rates = sec.table("base_rates").records()
    return {"n_rows": sec.get("n_rows"), "groups": [g for g in groups if g["attribute"] != "(overall)"],
            "base_rates": [r for r in rates if r["comparison"] == "vs_reference"],
            "base_rates_by_group": {(r["attribute"], r["group"]): r["base_rate"]
                                    for r in sec.table("group_base_rates").records()}}
