"""What the outputs say about a result, decided once for every renderer (sentences and counts read from the frozen
result; no statistics): the four-fifths split, where the rows were scanned, the gap attribution's sentence and the
top driver of the largest significant gap."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..metrics import DISPARITY_METRICS
from .format import fmt

if TYPE_CHECKING:  # pragma: no cover
    from ..record.result import ResultData as AuditResult
    from ..record.tables import Section


def significant_by_p(result: "AuditResult") -> list[dict[str, Any]]:
    """The significant group-vs-reference disparities, smallest adjusted p-value first (then the larger value):
    the order of the text and Markdown lists."""
    return sorted(result.significant(), key=lambda r: (r["p_value"], -abs(r["value"] or 0)))


def significant_by_priority(result: "AuditResult") -> list[dict[str, Any]]:
    """The same disparities in the report's order: by the catalogue's priority of metrics, single attributes
    before intersections, then by p-value (the HTML's top findings take the first row of each group)."""
    protected = set(result.protected)
    return sorted(result.significant(), key=lambda d: (
        DISPARITY_METRICS.index(d["metric"]) if d["metric"] in DISPARITY_METRICS else 99,
        d["attribute"] not in protected, d["p_value"]))


def four_fifths_below(result: "AuditResult") -> list[dict[str, Any]]:
    """Groups whose impact ratio is below the four-fifths threshold (flagged by the modules): the demographic-parity
    ratio of a decision (of each class, for a multiclass model), the scoring-rate ratio of a regression model."""
    return [r for r in result.disparities_table.records()
            if r["comparison"] == "vs_reference" and r["metric"] in IMPACT_RATIOS and r["flag"]]


IMPACT_RATIOS = ("demographic_parity_ratio", "scoring_rate_ratio")
#: the overall metrics each task's summaries lead with: (metric, class column value or None)
OVERALL_METRICS = {
    "binary": (("accuracy", None), ("balanced_accuracy", None), ("roc_auc", None), ("selection_rate", None),
               ("base_rate", None)),
    "regression": (("mae", None), ("rmse", None), ("r2", None), ("mean_prediction", None), ("mean_label", None),
                   ("mean_residual", None), ("scoring_rate", None)),
    "multiclass": (("accuracy", "(all classes)"), ("recall", "(macro)"), ("precision", "(macro)"),
                   ("selection_rate", "(favourable)"), ("roc_auc", "(favourable)")),
}


def overall_metrics(result: "AuditResult") -> list[tuple[str, dict[str, Any]]]:
    """The overall rows the summaries lead with, for the result's task: ``(label, row)`` with a value."""
    rows = {(r["metric"], r.get("class")): r for r in result.metrics_table.records() if r["attribute"] == "(overall)"}
    out = []
    for metric, cls in OVERALL_METRICS.get(result.task, ()):
        r = rows.get((metric, cls))
        if r is not None and r["value"] is not None:
            label = metric if cls in (None, "(all classes)") else f"{metric} {cls.strip('()')}"
            out.append((label, r))
    return out


def target_sentence(result: "AuditResult") -> str:
    """What was audited, in plain text: the label and its positive (binary), direction (regression) or classes."""
    if result.task == "regression":
        direction = result.target_info("favorable", "higher")
        cut = result.target_info("scoring_cut")
        return (f"label {result.label!r}, a number ({direction} predictions favourable"
                + (f"; scoring rate above {fmt(cut)}" if cut is not None else "") + ")")
    if result.task == "multiclass":
        classes = result.target_info("classes", ())
        fav = result.target_info("favorable_classes", ())
        return (f"label {result.label!r}, {len(classes)} classes ({', '.join(map(str, classes[:12]))}"
                + (", ..." if len(classes) > 12 else "") + ")"
                + (f"; favourable: {', '.join(map(str, fav))}" if fav else "; no favourable class named"))
    fav = "favourable" if result.favorable else "unfavourable"
    return f"label {result.label!r}, positive {result.positive_label!r} ({fav})"


def metric_name(r: dict[str, Any]) -> str:
    """A disparity's or metric's name with its class, when it has one (multiclass rows)."""
    cls = r.get("class")
    return r["metric"] if cls is None else f"{r['metric']} [{cls}]"


def four_fifths_split(rows: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """Groups below the four-fifths rule, counted by verdict: only the significant ones are established."""
    order = ("significant", "not significant", "insufficient data", "not tested")
    found = [r["verdict"] for r in rows]
    return [(v, found.count(v)) for v in order + tuple(sorted(set(found) - set(order))) if found.count(v)]


def data_source_sentence(result: "AuditResult") -> str | None:
    """Where the rows were scanned and how exact the rank metrics are (engine audits only), in plain text."""
    sec = result.section("data_source")
    if sec is None:
        return None
    text = (f"Scanned by {sec.get('engine')} from {sec.get('source')}: {sec.get('rows', 0):,} rows reduced to "
            f"{sec.get('cells', 0):,} cells in {sec.get('scan_seconds', 0):g} s"
            + (", the model applied batch by batch" if sec.get("model_applied_in_batches") else "") + ".")
    if sec.get("score_buckets"):
        if sec.get("exact_rank_metrics"):
            text += (f" ROC AUC and average precision are exact (each of the {sec.get('score_buckets'):,} score "
                     "buckets holds one score value per group).")
        else:
            text += (f" ROC AUC and average precision treat scores within one of {sec.get('score_buckets'):,} buckets "
                     f"as tied: they are within {sec.get('roc_auc_max_error'):.2g} and "
                     f"{sec.get('average_precision_max_error'):.2g} of the exact values (largest bound over "
                     "groups; each group's bound is in the JSON). Counts and every other metric are exact.")
    return text


TOTAL = "(total gap)"


def is_total(r: dict[str, Any]) -> bool:
    """The whole gap's row of a gap attribution (results before the ``total`` column named it by feature only)."""
    return bool(r["total"]) if "total" in r else r["feature"] == TOTAL


def ci_text(r: dict[str, Any]) -> str:
    return "" if r.get("ci_low") is None else f" [{fmt(r['ci_low'])}, {fmt(r['ci_high'])}]"


def output_name(sec: "Section", result: "AuditResult") -> str:
    space = sec.get("output_space", "model output")
    if result.task == "regression":
        lower = result.target_info("favorable") == "lower"
        return "prediction (negated: lower is favourable)" if lower else "prediction"
    return {"log-odds margin": "log-odds of the favourable outcome",
            "probability": "predicted probability of the favourable outcome",
            "decision score": "decision score of the favourable outcome",
            "probability of a favourable class": "probability of a favourable class"}.get(
                space, f"{space} (favourable outcome)")


def points_per_unit(sec: "Section", result: "AuditResult", attribute: str, group: str, reference: str
                    ) -> float | None:
    """Percentage points of the favourable outcome's probability per unit of a gap in mean log-odds, at the two
    groups' mean predicted probability (the logistic curve's slope there: p (1 - p)); None when the explained output
    is not log-odds or the groups' mean probabilities are not known."""
    if sec.get("output_space") != "log-odds margin":
        return None
    means = {r["group"]: r["value"] for r in result.metrics_table.records()
             if r["attribute"] == attribute and r["metric"] == "mean_score" and r["value"] is not None}
    if group not in means or reference not in means:
        return None
    p = (means[group] + means[reference]) / 2
    p = p if result.favorable else 1 - p
    return 100 * p * (1 - p)


def _pp(v: float, per_unit: float | None) -> str:
    return "" if per_unit is None else f" (about {v * per_unit:+.1f} points)"


def gap_sentence(rows: list[dict[str, Any]], out: str, top: int = 4, per_unit: float | None = None) -> str:
    """"The gap of -0.18 [..] in mean <output> between A and B: f1 -0.09 [..], ..., other features +0.01." With
    ``per_unit``, each number also in percentage points of the favourable outcome's probability."""
    total = next(r for r in rows if is_total(r))
    parts = [r for r in rows if not is_total(r)]
    shown = parts[:top]
    rest = sum(r["contribution"] for r in parts[top:])
    text = (f"The gap of {fmt(total['contribution'])}{ci_text(total)}{_pp(total['contribution'], per_unit)} in mean "
            f"{out} between {total['group']} and {total['reference']}: "
            + ", ".join(f"{r['feature']} {fmt(r['contribution'])}{ci_text(r)}{_pp(r['contribution'], per_unit)}"
                        for r in shown))
    if parts[top:]:
        text += f", other features {fmt(rest)}{_pp(rest, per_unit)}"
    text += "."
    if per_unit is not None:
        text += (" Points are percentage points of the probability of the favourable outcome, at the two groups' "
                 "mean probability (an approximation: log-odds and points are not proportional far from it).")
    return text


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
    per_unit = points_per_unit(sec, result, d["attribute"], d["group"], d["reference"])
    return (f"Top driver of the largest significant gap ({d['attribute']}: {d['group']} vs {d['reference']}): "
            f"{r['feature']}, {fmt(r['contribution'])}{ci_text(r)}{_pp(r['contribution'], per_unit)} of a "
            f"{fmt(total['contribution'])}{_pp(total['contribution'], per_unit)} gap in mean "
            f"{output_name(sec, result)}" + (" (percentage points of the favourable outcome's probability at the "
                                             "two groups' mean)." if per_unit is not None else "."))


#: group performance metrics whose fall is a harm (the changes table's per-group rows)
_HIGHER_BETTER_ROWS = ("accuracy", "balanced_accuracy")


def _ideal(metric: str) -> float:
    return 1.0 if metric.endswith("_ratio") else 0.0


def _sig_ci(r: dict[str, Any], key: str, signed: bool = False) -> str:
    lo, hi = r.get(f"{key}_low"), r.get(f"{key}_high")
    if lo is None or hi is None:
        return ""
    return f" [{lo:+.3f}, {hi:+.3f}]" if signed else f" [{fmt(lo)}, {fmt(hi)}]"


def mitigation_side_effects(sec: "Section", result: "AuditResult", headline: dict[str, Any] | None = None
                            ) -> list[dict[str, Any]]:
    """The changes of the reweighed refit a reviewer must see besides the headline: every disparity between groups
    with sufficient data that changed significantly and either moved away from parity or changed sign, and every
    group's accuracy that fell significantly; largest change first."""
    changes = sec.table("changes")
    if changes is None:
        return []
    ok = {(g["attribute"], g["group"]) for g in result.groups_table.records() if g["status"] == "ok"}
    out = []
    for r in changes.records():
        if r["verdict"] != "significant" or r["before"] is None or r["after"] is None:
            continue
        if r.get("class") not in (None, "(favourable)"):  # one class's rows: in the table, not the summary
            continue
        if headline is not None and all(r[k] == headline[k] for k in ("attribute", "group", "reference", "metric")):
            continue
        if r["reference"]:  # a disparity against the reference group
            if r["metric"] not in DISPARITY_METRICS or (r["attribute"], r["group"]) not in ok \
                    or (r["attribute"], r["reference"]) not in ok:
                continue
            ideal = _ideal(r["metric"])
            b, a = r["before"] - ideal, r["after"] - ideal
            flips = b * a < 0 and min(abs(a), abs(b)) >= 0.005
            if flips or abs(a) > abs(b):
                out.append({**r, "effect": "changes sign" if flips else "further from parity"})
        elif r["metric"] in _HIGHER_BETTER_ROWS and r["after"] < r["before"] and (
                r["attribute"] == "(overall)" or (r["attribute"], r["group"]) in ok):
            out.append({**r, "effect": "lower"})
    return sorted(out, key=lambda r: -abs(r["change"]))


def _who(r: dict[str, Any]) -> str:
    if r["attribute"] == "(overall)":
        return "overall"
    return f"{r['attribute']}: {r['group']}" + (f" vs {r['reference']}" if r["reference"] else "")


def mitigation_finding(sec: "Section", result: "AuditResult", shown: int = 5) -> str | None:
    """What reweighing did, in one paragraph: the largest significant demographic-parity gap between groups with
    sufficient data (its attribute named) before and after, the accuracy cost, and every side effect (a disparity
    that got significantly worse or changed sign, a group's accuracy that fell). None without a refit."""
    changes = sec.table("changes")
    if changes is None or not sec.get("refit"):
        return None
    attrs = list(sec.get("attributes") or ())
    ok = {(g["attribute"], g["group"]) for g in result.groups_table.records() if g["status"] == "ok"}
    rows = [r for r in changes.records() if r.get("class") in (None, "(favourable)")]  # not a single class's rows
    metric = "mean_prediction_difference" if result.task == "regression" else "demographic_parity_difference"
    dp = [r for r in rows if r["attribute"] in attrs and r["metric"] == metric
          and r["before"] is not None and r["after"] is not None
          and (r["attribute"], r["group"]) in ok and (r["attribute"], r["reference"]) in ok]
    significant = {(d["attribute"], d["group"], d["metric"]) for d in result.significant()}
    pool = [r for r in dp if (r["attribute"], r["group"], r["metric"]) in significant] or dp
    conf = f"{100 * result.config.confidence:g}%"
    parts = []
    head = max(pool, key=lambda r: abs(r["before"])) if pool else None
    if head is not None:
        parts.append(f"Reweighing by {' & '.join(attrs)} moves the {metric.replace('_', ' ')} of "
                     f"{_who(head)} from {fmt(head['before'])}{_sig_ci(head, 'before')} to {fmt(head['after'])}"
                     f"{_sig_ci(head, 'after')} (change {head['change']:+.3f}{_sig_ci(head, 'change', True)}, "
                     f"{head['verdict']}).")
    else:
        gap = {"demographic_parity_difference": "demographic-parity"}.get(metric, "mean-prediction")
        parts.append(f"Reweighing by {' & '.join(attrs)}: no {gap} gap between groups with sufficient "
                     "data to report.")
    acc = next((r for r in rows if r["attribute"] == "(overall)" and r["metric"] == "accuracy"), None)
    if acc is not None and acc["change"] is not None:
        lo, hi = acc.get("change_low"), acc.get("change_high")
        cost = -100 * acc["change"]
        ci = "" if lo is None or hi is None else f" [{-100 * hi:.1f}, {-100 * lo:.1f}]"
        word = "an accuracy cost" if cost >= 0 else "an accuracy gain"
        parts.append(f"Overall it comes at {word} of {abs(cost):.1f} percentage points{ci}.")
    effects = mitigation_side_effects(sec, result, head)
    if effects:
        listed = "; ".join(f"{r['metric'].replace('_', ' ')}, {_who(r)}: {fmt(r['before'])} to {fmt(r['after'])} "
                           f"({r['effect']})" for r in effects[:shown])
        more = f"; and {len(effects) - shown} more in the table below" if len(effects) > shown else ""
        parts.append(f"Side effects (significant changes): {listed}{more}.")
    else:
        parts.append("No other disparity between groups with sufficient data got significantly worse or changed "
                     "sign.")
    parts.append(f"({conf} intervals from paired resamples.)")
    return " ".join(parts)


def verdict_badge(r: dict[str, Any]) -> tuple[str, str]:
    """The badge of a disparity row's verdict, ``(css class, text)``: a significant disparity is a warning only
    when the group fares worse; a group below the four-fifths threshold never gets the all-clear tick, even when
    the difference is not significant."""
    verdict = r.get("verdict") or ""
    value = r.get("value")
    if r.get("comparison") == "vs_reference" and value is not None:
        worse = value < _ideal(r["metric"])
        if verdict == "significant" and not worse:
            return "v-better", "significant (the group fares better)"
        if verdict == "not significant" and r.get("flag"):
            return "v-inconclusive", "not significant (below four-fifths)"
    return "v-" + verdict.replace(" ", "-"), verdict


def change_badge(r: dict[str, Any]) -> tuple[str, str]:
    """The badge of a before/after change: a significant change is a warning when it moved away from parity (a
    disparity) or lowered accuracy, and good news otherwise."""
    verdict = r.get("verdict") or ""
    if verdict != "significant" or r.get("before") is None or r.get("after") is None:
        return "v-" + verdict.replace(" ", "-"), verdict
    if r.get("reference"):
        ideal = _ideal(r["metric"])
        worse = abs(r["after"] - ideal) > abs(r["before"] - ideal)
    elif r["metric"] in _HIGHER_BETTER_ROWS:
        worse = r["after"] < r["before"]
    else:  # a rate without a better direction (selection rate)
        return "v-neutral", "significant change"
    return ("v-significant", "significant (worse)") if worse else ("v-better", "significant (better)")
