"""HTML report: a view model built from a finished result (formatting and layout only), rendered by
jinja2 templates with autoescaping always on. Charts are SVG drawn by the template from
pre-computed coordinates, so every user-provided string reaches the page as escaped text.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import registry
from ..metrics import DISPARITY_METRICS
from .charts import dot_chart
from .findings import (IMPACT_RATIOS, data_source_sentence, four_fifths_split, metric_name, significant_by_priority,
                       target_sentence, verdict_badge)
from .format import fmt, fmt_p, visible

if TYPE_CHECKING:  # pragma: no cover
    from ..gate import GateResult
    from ..record.result import ResultData as AuditResult

_HERE = Path(__file__).resolve().parent
TEMPLATE_DIRS = [_HERE.parent / "templates", _HERE.parent.parent / "templates"]  # wheel, then source checkout
PRIORITY = DISPARITY_METRICS  # the catalogue's order of disparities is the report's priority
PERF_DECISIONS = ("selection_rate", "base_rate", "accuracy", "balanced_accuracy", "precision", "recall", "fpr", "fnr",
                  "f1")
PERF_SCORES = ("roc_auc", "average_precision", "brier", "ece")
PERF_SHOWN = PERF_DECISIONS + PERF_SCORES

DEFINITIONS = [
    ("selection rate", "Share of the group predicted positive: (TP + FP) / n."),
    ("base rate", "Share of the group whose true label is positive: (TP + FN) / n (a property of the data)."),
    ("accuracy / balanced accuracy", "(TP + TN) / n; the mean of recall and specificity."),
    ("precision, recall, specificity", "TP / (TP + FP); TP / (TP + FN) (true positive rate); TN / (TN + FP)."),
    ("FPR, FNR", "False positive rate FP / (FP + TN); false negative rate FN / (FN + TP)."),
    ("ROC AUC, average precision", "Probability that a random positive scores above a random negative (ties count "
     "half); the area under the precision-recall step curve, as scikit-learn defines it."),
    ("Brier score, log loss, ECE", "Mean squared error of the probabilities; mean negative log-likelihood; expected "
     "calibration error over {bins} equal-width bins: sum over bins of (bin share) x |mean score - positive rate|."),
    ("sign of every disparity", "Group versus reference, signed so that a negative difference, or a ratio below 1, "
     "means the group fares worse (receives the favourable outcome less often, or is served less well). Largest-gap "
     "rows are magnitudes: largest minus smallest group (smallest over largest for ratios)."),
    ("demographic parity difference / ratio", "Group's rate of favourable decisions minus / divided by the "
     "reference group's. The ratio is the disparate impact; below 0.8 fails the four-fifths rule."),
    ("equal opportunity difference", "Among people whose true outcome was favourable, the group's rate of receiving "
     "it minus the reference's (true positive rate of the favourable outcome)."),
    ("equalized odds difference", "The worse (smaller) of two signed differences: equal opportunity, and the rate "
     "of favourable decisions among people whose true outcome was unfavourable. Negative: the group is worse off "
     "on at least one. Its largest-gap row is the larger of the two rate ranges (as fairlearn)."),
    ("average odds difference", "Mean of those two signed differences (as aif360)."),
    ("predictive parity difference", "Reference minus group precision of favourable decisions (of those given the "
     "favourable outcome, the share whose true outcome was favourable). A higher precision means the group had to "
     "be more surely deserving to receive it, so it counts as worse."),
    ("FPR / FNR difference", "Differences of the metrics table's false positive / false negative rates (positive "
     "label), signed by who is hurt: when the positive label is favourable a wrongly granted positive helps the "
     "person (FPR: group minus reference) and a wrongly denied one harms them (FNR: reference minus group); when "
     "it is unfavourable, the other way round."),
    ("ROC AUC difference, calibration gap", "Difference in ranking quality; difference in calibration in the large "
     "of the favourable outcome (mean predicted probability of the favourable outcome minus its observed rate: "
     "negative means the group's chances are under-stated)."),
    ("base rate difference / ratio", "Data-level bias: difference / ratio of the observed favourable-outcome rates, "
     "before any model."),
    ("intervals and p-values", "Percentile bootstrap intervals, not adjusted for multiple comparisons; p-values "
     "adjusted across the whole audit. An interval that the resamples cannot move is not shown."),
]

LIMITATIONS = [
    "Group fairness metrics conflict: when base rates differ, a model cannot satisfy demographic parity, equalized "
    "odds and predictive parity at once. Choose the criteria that fit the decision and its harms.",
    "A fairness audit sees only the protected attributes it is given, as recorded. Unrecorded groups, mislabelled "
    "attributes and proxies of them are outside what these numbers measure.",
    "Labels may themselves be biased (historical decisions, measurement). A model that matches biased labels well "
    "can look fair on error-rate metrics.",
    "Statistical significance is not practical importance, and 'not significant' is not evidence of fairness: "
    "small groups give wide intervals.",
    "The audit describes this model on this data. Performance and disparities can change under data drift.",
]


def _visible(value: Any) -> Any:
    """Every printed value: control, bidi and lone-surrogate characters are shown as escapes such as
    ``\\u202e`` (an unterminated right-to-left override cannot reverse the report's own sentences);
    autoescaping then applies as usual. User strings in running text are also isolated with ``<bdi>``."""
    if isinstance(value, str) and not hasattr(value, "__html__"):  # leave tojson's escaped output alone
        return visible(value, keep_newlines=True)
    return value


def definitions_for(result: "AuditResult") -> list[tuple[str, str]]:
    """The report's definitions, (term, text), for the result's task."""
    definitions = [(term, text.format(bins=result.config.calibration_bins)) for term, text in DEFINITIONS]
    if result.task == "binary":
        return definitions
    keep = {"regression": ("sign of every disparity", "intervals and p-values"),
            "multiclass": ("selection rate", "base rate", "precision, recall, specificity", "FPR, FNR",
                           "sign of every disparity", "demographic parity difference / ratio",
                           "equal opportunity difference", "intervals and p-values")}[result.task]
    return TASK_DEFINITIONS[result.task] + [d for d in definitions if d[0] in keep]


def template_env() -> Any:
    import jinja2

    dirs = [str(d) for d in TEMPLATE_DIRS if (d / "report.html.j2").is_file()]
    if not dirs:
        raise FileNotFoundError("fairness-audit templates are missing (report.html.j2); reinstall the package.")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(dirs), autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, finalize=_visible)
    env.filters["num"] = fmt
    env.filters["pval"] = fmt_p
    return env


def _label(metric: str) -> str:
    return metric.replace("_", " ")


def _plain_finding(r: dict[str, Any], result: "AuditResult", cfg_conf: float) -> list[tuple[str, bool]]:
    """A finding in plain words, as parts ``(text, is_user_string)``: the template isolates user strings
    (``<bdi>``) so a group name cannot reorder the sentence around it."""
    pos = str(result.positive_label)
    fav = [("the favourable outcome (", False), (pos, True), (" predicted)" if result.favorable else " not predicted)",
                                                              False)]
    ci = f"{100 * cfg_conf:g}% CI {fmt(r['ci_low'])} to {fmt(r['ci_high'])}" if r["ci_low"] is not None \
        else "interval not shown"
    g, ref, v = (r["group"], True), (r["reference"], True), r["value"]
    m = r["metric"]
    if result.task != "binary":
        return _task_finding(r, result, ci, g, ref, v)
    if m == "demographic_parity_ratio":
        tail = "; below the four-fifths threshold." if r["flag"] else "."
        return [g, (" receive ", False), *fav, (f" at {fmt(v, 2)} times the rate of ", False), ref,
                (f" ({ci}){tail}", False)]
    if m == "demographic_parity_difference":
        more = "less" if v < 0 else "more"
        return [g, (" receive ", False), *fav, (f" {fmt(abs(v) * 100, 1)} percentage points {more} often than ", False),
                ref, (f" ({ci}).", False)]
    if m == "equal_opportunity_difference":
        more = "less" if v < 0 else "more"
        return [("Among people who deserved ", False), *fav, (", ", False), g,
                (f" received it {fmt(abs(v) * 100, 1)} points {more} often than ", False), ref, (f" ({ci}).", False)]
    if m == "base_rate_difference":
        return [("In the data itself, ", False), g, (f" have the favourable label {fmt(abs(v) * 100, 1)} points "
                                                      f"{'less' if v < 0 else 'more'} often than ", False), ref,
                (f" ({ci}).", False)]
    return [(f"{_label(m)} of ", False), g, (" vs ", False), ref,
            (f": {fmt(v)} ({ci}), significant after correction ({fmt_p(r['p_value'])}).", False)]


#: a non-binary task's performance tables (one per attribute; multiclass: one per class too) and charts
TASK_PERF = {"regression": ("mae", "rmse", "r2", "mean_prediction", "mean_label", "mean_residual", "scoring_rate"),
             "multiclass": ("base_rate", "selection_rate", "recall", "precision", "fpr")}
TASK_CHARTS = {"regression": (("mean_prediction", None), ("mae", None), ("scoring_rate", (0.0, 1.0))),
               "multiclass": (("accuracy", (0.0, 1.0)), ("recall", (0.0, 1.0)))}
TASK_FAIR_CHARTS = {"regression": (("scoring_rate_ratio", "four-fifths"), ("mean_prediction_difference", "parity")),
                    "multiclass": (("worst_class_parity_difference", "parity"),)}
TASK_DEFINITIONS = {
    "regression": [
        ("MAE, RMSE, R squared", "Mean absolute error; root mean squared error (in the prediction's unit); 1 minus "
         "the squared residuals over the label's squared deviations from the group's mean (undefined for a constant "
         "label)."),
        ("mean prediction, mean label, mean residual", "Means over the group's rows; the residual is prediction "
         "minus label (positive: over-predicted)."),
        ("scoring rate", "Share of the group predicted above the scoring cut (the overall median prediction unless "
         "scoring_cut= sets it), as NYC Local Law 144 defines it for tools that score; the scoring-rate ratio is its "
         "impact ratio."),
        ("KS and Wasserstein distances", "How far the group's predictions lie from the reference's, as "
         "distributions: the largest gap between the two cumulative distributions (with the two-sample "
         "Kolmogorov-Smirnov test's p-value), and the mean distance to move one onto the other, in the "
         "prediction's unit."),
    ],
    "multiclass": [
        ("per class, one vs rest", "Each class's rates treat that class as the positive label and every other class "
         "as negative: base rate, selection rate (share predicted the class), recall, precision, false positive "
         "rate. (macro) rows average a metric over the classes defined in the group; accuracy is the share "
         "predicted its true class."),
        ("worst class", "For each group, the class whose selection rate differs most from the reference's, with "
         "that class's difference, interval and p-value."),
    ],
}


def _task_view(result: "AuditResult", metrics: list[dict[str, Any]], groups: list[dict[str, Any]],
               disparities: list[dict[str, Any]], attrs: list[str], single: list[str], inter: list[str],
               protected: set[str], refs: dict[str, str]) -> dict[str, Any]:
    """The parts of the report that differ for a regression or multiclass model (formatting only)."""
    cfg = result.config
    task = result.task
    fav_classes = result.target_info("favorable_classes", ())
    if task == "regression":
        direction = result.target_info("favorable", "higher")
        view = {
            "data_text": f"Each group's mean prediction and label, and its scoring rate (share predicted above "
                         f"{fmt(result.target_info('scoring_cut'))}, the scoring cut).",
            "group_columns": [("Mean prediction", "mean_prediction"), ("Mean label", "mean_label"),
                              ("Scoring rate", "scoring_rate")],
            "fairness_text": "Each group against its reference group (by default the group with the most favourable "
                             "mean prediction), and the largest gap across groups with sufficient data.",
            "sign_text": f" ({direction} predictions help the person: it is predicted less favourably, scored high "
                         "less often, or predicted less accurately; a negative mean residual difference means it is "
                         "under-predicted relative to the reference when higher helps). KS and Wasserstein rows are "
                         "unsigned distances between the two groups' predictions",
            "four_fifths_text": "are scored above the cut",
            "method_text": "Regression sums (prediction, label, residual and their squares, rows above the cut) are "
                           "resampled per combination of protected groups with its size fixed: row by row for up to "
                           "4,000 rows, above that from the normal distribution with the resampled sums' exact mean "
                           "and covariance. Differences of means and errors are tested by a Wald test on their "
                           "bootstrap standard error; the scoring-rate ratio by the two-proportion test of the rows "
                           "above the cut; the distances by the two-sample Kolmogorov-Smirnov test.",
        }
    else:
        view = {
            "data_text": ("Each group's rate of favourable classes (" + ", ".join(map(str, fav_classes)) + ") among "
                          "its predictions." if fav_classes else "Per-class rates are in the performance tables."),
            "group_columns": [("Favourable class rate", "favorable_rate")] if fav_classes else [],
            "fairness_text": "Per class, each group against its reference group (" + (
                "the group with the highest rate of favourable classes" if fav_classes else "by default the largest "
                "group") + "), the largest gap across groups with sufficient data, and each group's worst class.",
            "sign_text": (" (it receives a favourable class less often, or an unfavourable one more often); rows of "
                          "class (favourable) audit receiving any favourable class as a yes/no decision"
                          if fav_classes else "; without favourable_classes the per-class rows have no direction: "
                          "group minus reference"),
            "four_fifths_text": "receive a favourable class (or avoid an unfavourable one)",
            "method_text": "Class-by-class count tables (true x predicted class) are resampled per combination of "
                           "protected groups with its size fixed, a multinomial draw on the table. A class's "
                           "selection rate and recall are compared by two-proportion tests (Newcombe and MOVER-R "
                           "score intervals where a group holds few rows of the class).",
        }
    view["target"] = target_sentence(result)
    shown = TASK_PERF[task]
    perf_tables = []
    by_key = {(m["attribute"], m["group"], m.get("class"), m["metric"]): m for m in metrics}
    classes = [None] if task == "regression" else [*result.target_info("classes", ()), "(macro)"] + (
        ["(favourable)"] if fav_classes else [])
    for attr in ["(overall)", *attrs]:
        gs = [g for g in groups if g["attribute"] == attr]
        for cls in classes:
            headers = {"(macro)": ("recall", "precision", "fpr"), "(favourable)": PERF_DECISIONS}.get(cls, shown)
            rows = []
            for g in gs:
                cells = []
                for m in headers:
                    rec = by_key.get((attr, g["group"], cls, m))
                    no_ci = rec is not None and rec["value"] is not None and rec["ci_low"] is None and cfg.n_bootstrap
                    cells.append({"value": rec["value"] if rec else None, "ci_low": rec["ci_low"] if rec else None,
                                  "ci_high": rec["ci_high"] if rec else None,
                                  "reason": (rec["reason"] if rec and rec["status"] == "undefined" else ""),
                                  "why": (rec["reason"] or "no interval") if no_ci else ""})
                rows.append({"group": g["group"], "n": g["n"], "insufficient": g["status"] != "ok",
                             "reason": g["reason"], "is_reference": g["is_reference"], "cells": cells})
            caption = ("regression metrics (prediction's unit; residual = prediction - label)" if cls is None
                       else "averages over classes (macro)" if cls == "(macro)"
                       else "receives a favourable class (" + ", ".join(map(str, fav_classes)) + ")"
                       if cls == "(favourable)" else f"class {cls} (one vs rest)")
            perf_tables.append({"attribute": attr, "part": "", "caption": caption,
                                "headers": [_label(m) for m in headers], "rows": rows,
                                "intersection": attr not in protected})
    perf_charts = []
    for attr in single + inter[:1]:
        for metric, fixed in TASK_CHARTS[task]:
            cls = None if task == "regression" else ("(all classes)" if metric == "accuracy" else "(macro)")
            rows = []
            for g in groups:
                rec = by_key.get((attr, g["group"], cls, metric)) if g["attribute"] == attr else None
                if rec and rec["value"] is not None:
                    rows.append({"label": g["group"], "value": rec["value"], "ci_low": rec["ci_low"],
                                 "ci_high": rec["ci_high"], "marker": "hollow" if g["status"] != "ok" else "dot",
                                 "note": " (insufficient data)" if g["status"] != "ok" else ""})
            overall = by_key.get(("(overall)", "all", cls, metric))
            name = _label(metric) + ("" if cls is None else f" ({cls.strip('()')})")
            chart = dot_chart(f"{name} by {attr}", rows, overall["value"] if overall else None, "overall",
                              f"Dot-and-whisker chart of {name} for each {attr} group with "
                              f"{100 * cfg.confidence:g}% intervals; the dashed line is the overall value.", fixed,
                              percent=fixed == (0.0, 1.0))
            if chart:
                perf_charts.append(chart)
    fair_charts = []
    for attr in single + inter[:1]:
        for metric, lbl in TASK_FAIR_CHARTS[task]:
            ref_line = cfg.four_fifths if lbl == "four-fifths" else 0.0
            rows = [{"label": d["group"] + (f" ({d['class']})" if d.get("class") else ""), "value": d["value"],
                     "ci_low": d["ci_low"], "ci_high": d["ci_high"],
                     "marker": "diamond" if d["verdict"] == "significant" else
                     ("hollow" if d["verdict"] == "insufficient data" else "dot"), "note": f" ({d['verdict']})"}
                    for d in disparities if d["attribute"] == attr and d["metric"] == metric
                    and d["comparison"] == "vs_reference"]
            chart = dot_chart(f"{_label(metric)} by {attr} (reference: {refs.get(attr, '')})", rows, ref_line, lbl,
                              f"Dot-and-whisker chart of {_label(metric)} for each {attr} group against the reference "
                              f"group, with {100 * cfg.confidence:g}% intervals; the dashed line marks {lbl}.")
            if chart:
                fair_charts.append(chart)
    view.update(perf_tables=perf_tables, perf_charts=perf_charts, fair_charts=fair_charts)
    return view


def _task_finding(r: dict[str, Any], result: "AuditResult", ci: str, g: tuple[str, bool], ref: tuple[str, bool],
                  v: float) -> list[tuple[str, bool]]:
    """A regression or multiclass finding in plain words (parts as :func:`_plain_finding`'s)."""
    m, cls = r["metric"], r.get("class")
    sig = f" ({ci}; {fmt_p(r['p_value'])} after correction)."
    if m == "mean_prediction_difference":
        direction = result.target_info("favorable", "higher")
        lower = (v < 0) == (direction == "higher")
        return [g, (f" receive predictions {fmt(abs(v))} {'lower' if lower else 'higher'} on average than ", False),
                ref, (sig, False)]
    if m == "scoring_rate_ratio":
        tail = "; below the four-fifths threshold" if r["flag"] else ""
        return [g, (f" are scored high at {fmt(v, 2)} times the rate of ", False), ref,
                (f" (the impact ratio of the score{tail}; {ci}; {fmt_p(r['p_value'])}).", False)]
    if m == "mean_residual_difference":
        return [("Relative to ", False), ref, (", ", False), g, (" are ", False),
                (f"{'under' if v < 0 else 'over'}-predicted by {fmt(abs(v))} on average" + sig.rstrip("."), False),
                (" (in the direction that " + ("harms" if v < 0 else "helps") + " them).", False)]
    if cls == "(favourable)" and m in ("demographic_parity_ratio", "demographic_parity_difference"):
        fav = ", ".join(map(str, result.target_info("favorable_classes", ())))
        if m == "demographic_parity_ratio":
            tail = "; below the four-fifths threshold" if r["flag"] else ""
            return [g, (f" receive a favourable class ({fav}) at {fmt(v, 2)} times the rate of ", False), ref,
                    (f" ({ci}{tail}).", False)]
        return [g, (f" receive a favourable class ({fav}) {fmt(abs(v) * 100, 1)} percentage points "
                    f"{'less' if v < 0 else 'more'} often than ", False), ref, (f" ({ci}).", False)]
    if cls is not None and cls != "(favourable)" and m in ("demographic_parity_difference",
                                                           "worst_class_parity_difference"):
        fav = result.target_info("favorable_classes", ())
        raw = v if not fav or cls in fav else -v  # the signed row back to group minus reference
        return [g, (" are predicted class ", False), (str(cls), True),
                (f" {fmt(abs(raw) * 100, 1)} percentage points {'less' if raw < 0 else 'more'} often than ", False),
                ref, (sig, False)]
    name = metric_name(r)
    return [(f"{_label(name)} of ", False), g, (" vs ", False), ref,
            (f": {fmt(v)} ({ci}), significant after correction ({fmt_p(r['p_value'])}).", False)]


def build_view(result: "AuditResult", gate: "GateResult | None" = None) -> dict[str, Any]:
    cfg = result.config
    metrics = result.metrics_table.records()
    disparities = result.disparities_table.records()
    groups = result.groups_table.records()
    refs = dict(result.references)
    attrs = [a for a in dict.fromkeys(g["attribute"] for g in groups) if a != "(overall)"]
    protected = set(result.protected)
    single = [a for a in attrs if a in protected]
    inter = [a for a in attrs if a not in protected]

    vs_ref = [d for d in disparities if d["comparison"] == "vs_reference"]
    sig = significant_by_priority(result)
    findings, seen = [], set()
    for d in sig:
        key = (d["attribute"], d["group"])
        if key in seen:
            continue
        seen.add(key)
        findings.append(_plain_finding(d, result, cfg.confidence))
        if len(findings) == 3:
            break
    modules = registry.modules()
    for module in modules:  # each module's headline, in registry order
        sec = result.section(module.name)
        line = registry.view(module, "headline", sec, result) if sec is not None else None
        if line:
            findings.append([(line, True)])
    insufficient = [g for g in groups if g["status"] != "ok" and g["attribute"] != "(overall)"]
    four_fifths = [{**d, "badge": verdict_badge(d)} for d in vs_ref if d["metric"] in IMPACT_RATIOS and d["flag"]]

    by_metric: dict[tuple[str, str, str], dict[str, Any]] = {(m["attribute"], m["group"], m["metric"]): m
                                                              for m in metrics}
    perf_tables = []
    has_scores = result.model.score_kind is not None
    # decisions and scores in two narrower tables, so each fits a 1,280-pixel window without scrolling
    for attr in ["(overall)", *attrs]:
        gs = [g for g in groups if g["attribute"] == attr]
        for part, shown in (("decisions", PERF_DECISIONS), ("scores", PERF_SCORES)):
            if part == "scores" and not has_scores:
                continue
            rows = []
            for g in gs:
                cells = []
                for m in shown:
                    rec = by_metric.get((attr, g["group"], m))
                    no_ci = (rec is not None and rec["value"] is not None and rec["ci_low"] is None
                             and cfg.n_bootstrap > 0)
                    cells.append({"value": rec["value"] if rec else None, "ci_low": rec["ci_low"] if rec else None,
                                  "ci_high": rec["ci_high"] if rec else None,
                                  "reason": (rec["reason"] if rec and rec["status"] == "undefined" else ""),
                                  "why": (rec["reason"] or "no interval") if no_ci else ""})
                rows.append({"group": g["group"], "n": g["n"], "insufficient": g["status"] != "ok",
                             "reason": g["reason"], "is_reference": g["is_reference"], "cells": cells})
            perf_tables.append({"attribute": attr, "part": part, "headers": [_label(m) for m in shown], "rows": rows,
                                "intersection": attr not in protected})
    headers = [_label(m) for m in PERF_SHOWN]

    perf_charts = []
    for attr in single + inter[:1]:
        for metric in ("accuracy", "recall", "fpr"):
            rows = []
            for g in groups:
                if g["attribute"] != attr:
                    continue
                rec = by_metric.get((attr, g["group"], metric))
                if rec and rec["value"] is not None:
                    rows.append({"label": g["group"], "value": rec["value"], "ci_low": rec["ci_low"],
                                 "ci_high": rec["ci_high"], "marker": "hollow" if g["status"] != "ok" else "dot",
                                 "note": " (insufficient data)" if g["status"] != "ok" else ""})
            overall = by_metric.get(("(overall)", "all", metric))
            chart = dot_chart(f"{_label(metric)} by {attr}", rows, overall["value"] if overall else None, "overall",
                           f"Dot-and-whisker chart of {_label(metric)} for each {attr} group with "
                           f"{100 * cfg.confidence:g}% intervals; the dashed line is the overall value.", (0.0, 1.0),
                           percent=True)
            if chart:
                perf_charts.append(chart)

    def disp_rows(attr: str) -> list[dict[str, Any]]:
        return [d for d in disparities if d["attribute"] == attr]

    fair_charts = []
    for attr in single + inter[:1]:
        for metric, ref_line, lbl in (("demographic_parity_ratio", cfg.four_fifths, "four-fifths"),
                                      ("equal_opportunity_difference", 0.0, "parity")):
            rows = [{"label": d["group"], "value": d["value"], "ci_low": d["ci_low"], "ci_high": d["ci_high"],
                     "marker": "diamond" if d["verdict"] == "significant" else
                     ("hollow" if d["verdict"] == "insufficient data" else "dot"),
                     "note": f" ({d['verdict']})"}
                    for d in disp_rows(attr) if d["metric"] == metric and d["comparison"] == "vs_reference"]
            chart = dot_chart(f"{_label(metric)} by {attr} (reference: {refs.get(attr, '')})", rows, ref_line, lbl,
                           f"Dot-and-whisker chart of {_label(metric)} for each {attr} group against the reference "
                           f"group, with {100 * cfg.confidence:g}% intervals; the dashed line marks {lbl}.")
            if chart:
                fair_charts.append(chart)

    fairness_tables = []
    for attr in attrs:
        rows = [{**d, "badge": verdict_badge(d), "shown": metric_name(d)} for d in disp_rows(attr)]
        rows.sort(key=lambda d: (PRIORITY.index(d["metric"]) if d["metric"] in PRIORITY else 99,
                                 d["comparison"] != "max_gap", d["group"]))
        fairness_tables.append({"attribute": attr, "reference": refs.get(attr, ""), "rows": rows,
                                "intersection": attr not in protected})

    counts = {"significant": len(sig), "tested": sum(d["verdict"] in ("significant", "not significant") for d in vs_ref),
              "insufficient": sum(d["verdict"] == "insufficient data" for d in vs_ref),
              "undefined": sum(d["verdict"] == "undefined" for d in vs_ref), "four_fifths": len(four_fifths),
              "four_fifths_by": four_fifths_split(four_fifths)}
    gate_view = None
    if gate is not None:
        gate_view = {"passed": gate.passed, "counts": gate.counts(), "notes": list(gate.notes), "source": gate.policy_source,
                     "rules": [{"name": r.rule.name, "describe": r.rule.describe(), "verdict": r.verdict,
                                "blocking": r.blocking,
                                "checks": [c for c in r.checks if c.verdict != "pass"][:8]} for r in gate.rules]}
    task_view: dict[str, Any] = {"method_text": ""}
    definitions = definitions_for(result)
    if result.task != "binary":
        task_view = _task_view(result, metrics, groups, disparities, attrs, single, inter, protected, refs)
        perf_tables, perf_charts, fair_charts = (task_view.pop(k) for k in ("perf_tables", "perf_charts",
                                                                             "fair_charts"))
    model_fp = result.model.fingerprint or "not available (the model could not be pickled)"
    # each module with a report section gets one, numbered by its place in the registry (present or not)
    sections, data_views = [], {}
    for module in modules:
        if module.html is None:
            continue
        sec = result.section(module.name)
        view = registry.view(module, "html", sec, result) if sec is not None else None
        if module.html_place == "data":
            data_views[module.name] = view
            continue
        anchor, heading, chart = module.anchor
        sections.append({"anchor": anchor or module.name, "heading": heading or f"h-{module.name}",
                         "number": 5 + len(sections), "title": module.title or module.name.replace("_", " "),
                         "nav": module.nav or module.title or module.name, "chart": chart or module.name[:2],
                         "blocks": view})

    return {
        "title": f"Fairness audit: {result.label}",
        "result": result, "cfg": cfg, "refs": refs, "attrs": attrs, "findings": findings, "counts": counts,
        "insufficient": insufficient, "four_fifths": four_fifths, "perf_tables": perf_tables, "perf_headers": headers,
        "perf_charts": perf_charts, "fair_charts": fair_charts, "fairness_tables": fairness_tables, "gate": gate_view,
        "groups": groups, "definitions": definitions,
        "base_rates": {(a, g): m["value"] for (a, g, name), m in by_metric.items() if name == "base_rate"},
        "limitations": LIMITATIONS, "model_fingerprint": model_fp,
        "timings": list(result.timings), "versions": list(result.versions), "config": sorted(cfg.to_dict().items()),
        "module_sections": sections, "method_number": 5 + len(sections), "task": task_view,
        "training": data_views.get("training_data"),
        "data_source": data_source_sentence(result),
        "payload": result.to_dict(), "ci_pct": f"{100 * cfg.confidence:g}",
    }


def render_html(result: "AuditResult", gate: "GateResult | None" = None) -> str:
    """The complete, self-contained HTML report as text."""
    env = template_env()
    return env.get_template("report.html.j2").render(**build_view(result, gate))


_PAYLOAD = re.compile(r'<script type="application/json" id="audit-result">(.*?)</script>', re.S)


def result_from_html(text: str) -> dict[str, Any]:
    m = _PAYLOAD.search(text)
    if not m:
        from ..exceptions import InputError

        raise InputError("this HTML file has no embedded fairness-audit result (was it written by audit?).",
                         code="not_a_report")
    return json.loads(m.group(1))
