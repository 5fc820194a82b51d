"""Fairness disparities: each group against a reference group, and the largest gap across groups,
with bootstrap intervals, p-values corrected across the audit, and verdicts.

One sign convention for every group-vs-reference row: **a negative difference, or a ratio below 1, means
the group fares worse than its reference**: it receives the favourable outcome less often, or is served
less well. Each disparity compares one per-group quantity, named as in the metrics table where it is one
of its columns (``fpr`` and ``fnr`` are the positive-label rates of the metrics table, whatever the
favourable outcome), and is signed by which direction of that quantity harms the group:

* favourable-outcome quantities (higher is better): selection (favourable-decision) rate, the true
  positive rate of the favourable outcome (equal opportunity), the rate of favourable decisions among
  people whose true outcome was unfavourable, accuracy, ROC AUC, calibration in the large of the
  favourable outcome, base rate of the favourable outcome;
* ``fpr`` / ``fnr`` (positive label): a wrong positive is a benefit when the positive label is
  favourable and a harm when it is not, and conversely for a wrong negative;
* precision of favourable decisions (predictive parity): higher means the group had to be more surely
  deserving to receive the favourable outcome, so it is signed reference minus group;
* equalized odds: the worse (smaller) of the two signed differences of the favourable outcome's true and
  false positive rates.

The largest-gap rows are magnitudes (max - min >= 0; min / max <= 1 for ratios).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from .._context import AuditContext, Partition
from ..stats.bootstrap import IntervalBatch
from ..stats.counts import count_metrics, favorable_frame, proportion_parts
from ..stats.significance import adjust, two_proportion_p, wald_p
from ..registry import Module
from ..record.tables import DISPARITY_COLUMNS
from ._groups import MIN_INTERVAL_ROWS, GroupFacts, group_facts, shown_interval


@dataclass(frozen=True)
class Disparity:
    name: str
    component: str  # per-group quantity compared (see _components)
    kind: str  # "difference", "ratio", "equalized_odds"
    test: str  # "proportion", "bootstrap", "min_tpr_fpr"
    pairs_with: str | None = None  # ratio rows share the p-value of this difference
    better: str = "higher"  # which values of the component are better for the group: higher, lower, frame


DISPARITIES = (
    Disparity("demographic_parity_difference", "selection_rate", "difference", "proportion"),
    Disparity("demographic_parity_ratio", "selection_rate", "ratio", "proportion", "demographic_parity_difference"),
    Disparity("equal_opportunity_difference", "recall", "difference", "proportion"),
    Disparity("equalized_odds_difference", "recall", "equalized_odds", "min_tpr_fpr"),
    Disparity("average_odds_difference", "average_odds", "difference", "bootstrap"),
    Disparity("predictive_parity_difference", "precision", "difference", "proportion", better="lower"),
    Disparity("fpr_difference", "pos_fpr", "difference", "proportion", better="frame"),
    Disparity("fnr_difference", "pos_fnr", "difference", "proportion", better="frame"),
    Disparity("accuracy_difference", "accuracy", "difference", "proportion"),
    Disparity("roc_auc_difference", "roc_auc", "difference", "bootstrap"),
    Disparity("calibration_gap", "calibration_in_the_large", "difference", "bootstrap"),
    Disparity("base_rate_difference", "base_rate", "difference", "proportion"),
    Disparity("base_rate_ratio", "base_rate", "ratio", "proportion", "base_rate_difference"),
)

COMPONENT_REASON = {
    "selection_rate": "has no rows",
    "recall": "has no actual favourable outcomes",
    "fav_fpr": "has no actual unfavourable outcomes",
    "pos_fpr": "has no actual negatives (rows without the positive label)",
    "pos_fnr": "has no actual positives (rows with the positive label)",
    "precision": "has no predicted favourable outcomes",
    "accuracy": "has no rows",
    "base_rate": "has no rows",
    "average_odds": "needs both actual outcomes",
    "roc_auc": "needs both actual outcomes",
    "calibration_in_the_large": "has no rows",
}


def orientation(d: Disparity, favorable: bool) -> float:
    """+1 when higher values of the disparity's component are better for the group, else -1."""
    if d.better == "frame":
        # a wrong positive (fpr) benefits the person when the positive label is favourable; a wrong negative
        # (fnr) benefits them when it is not
        return 1.0 if (d.component == "pos_fpr") == favorable else -1.0
    return 1.0 if d.better == "higher" else -1.0


def components(ctx: AuditContext, part: Partition, counts: np.ndarray | None, score: dict[str, np.ndarray]
               ) -> dict[str, np.ndarray]:
    """The per-group quantities the disparities compare (any leading axes: points or replicates)."""
    out: dict[str, np.ndarray] = {}
    if counts is None:
        return out
    fav = count_metrics(favorable_frame(counts, ctx.favorable),
                        ("selection_rate", "recall", "fpr", "precision", "accuracy", "base_rate"))
    fav["fav_fpr"] = fav.pop("fpr")
    out.update(fav)
    pos = count_metrics(counts, ("fpr", "fnr"))
    out["pos_fpr"], out["pos_fnr"] = pos["fpr"], pos["fnr"]
    out["average_odds"] = (out["recall"] + out["fav_fpr"]) / 2.0
    if "roc_auc" in score:
        out["roc_auc"] = score["roc_auc"]
    if "calibration_in_the_large" in score:
        citl = score["calibration_in_the_large"]
        out["calibration_in_the_large"] = citl if ctx.favorable else -citl
    return out


def compare(kind: str, a: np.ndarray, b: np.ndarray, a2: np.ndarray | None = None, b2: np.ndarray | None = None,
            sign: float = 1.0) -> np.ndarray:
    """Group ``a`` vs reference ``b``, signed so that negative (or a ratio below 1) is worse for the group."""
    with np.errstate(invalid="ignore", divide="ignore"):
        if kind == "difference":
            return (a - b) * sign
        if kind == "ratio":
            return np.where(b != 0, a / np.where(b != 0, b, 1.0), np.nan)
        return np.minimum(a - b, a2 - b2)  # equalized odds: the worse of the two (NaN if either is)


def disparity(d: Disparity, comp: dict[str, np.ndarray], r: int, favorable: bool) -> np.ndarray:
    """Disparity ``d`` of every group against group ``r`` (last axis), from :func:`components` of any shape."""
    a = comp[d.component]
    a2 = comp["fav_fpr"] if d.kind == "equalized_odds" else None
    return compare(d.kind, a, a[..., r:r + 1], a2, None if a2 is None else a2[..., r:r + 1], orientation(d, favorable))


def largest_gap(kind: str, v: np.ndarray, v2: np.ndarray | None = None) -> np.ndarray:
    """Largest gap across groups (last axis); NaN when fewer than two groups are defined.
    (Components are rates or NaN, never infinite; ``fmax``/``fmin`` skip NaN.)"""
    if v.shape[-1] == 0:
        return np.full(v.shape[:-1], np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        defined = (~np.isnan(v)).sum(-1) >= 2
        hi = np.fmax.reduce(v, axis=-1)
        lo = np.fmin.reduce(v, axis=-1)
        if kind == "difference":
            out = hi - lo
        elif kind == "ratio":
            out = np.where(hi != 0, lo / np.where(hi != 0, hi, 1.0), np.nan)
        else:
            out = np.maximum(hi - lo, np.fmax.reduce(v2, axis=-1) - np.fmin.reduce(v2, axis=-1))
            defined = defined & ((~np.isnan(v2)).sum(-1) >= 2)
    return np.where(defined, out, np.nan)


class _Job(NamedTuple):
    """One disparity of one partition, between queuing its replicates and writing its rows."""

    part: Partition
    facts: GroupFacts
    parts: dict[str, tuple[list[float], list[float]]]
    d: Disparity
    a: np.ndarray | None = None  # per-group component (None: not available, e.g. no scores)
    a2: np.ndarray | None = None  # second component of equalized odds (FPR)
    values: np.ndarray | None = None  # group-vs-reference values
    vs: int | None = None  # interval handle of the group-vs-reference replicates
    gap: int | None = None  # interval handle of the largest-gap replicates
    keep: np.ndarray | None = None  # groups with sufficient data


def _proportions(counts: np.ndarray, favorable: bool) -> dict[str, tuple[list[float], list[float]]]:
    """Successes and trials of each proportion, per group (plain floats, for the two-proportion tests), keyed
    like the components: favourable frame, and ``pos_fpr`` / ``pos_fnr`` in the positive-label frame."""
    out = {}
    fav = favorable_frame(counts, favorable)
    for key, name, c in (("selection_rate", "selection_rate", fav), ("recall", "recall", fav), ("fav_fpr", "fpr", fav),
                         ("precision", "precision", fav), ("accuracy", "accuracy", fav),
                         ("base_rate", "base_rate", fav), ("pos_fpr", "fpr", counts), ("pos_fnr", "fnr", counts)):
        x, t = proportion_parts(name, c)
        out[key] = (np.asarray(x, dtype=float).tolist(), np.asarray(t, dtype=float).tolist())
    return out


def _p_value(d: Disparity, parts: dict[str, tuple[list[float], list[float]]], g: int, r: int, value: float,
             se: float) -> float:
    if d.test == "proportion":
        x, t = parts[d.component]
        return two_proportion_p(x[g], t[g], x[r], t[r])
    if d.test == "min_tpr_fpr":
        ps = []
        for comp in ("recall", "fav_fpr"):
            x, t = parts[comp]
            ps.append(two_proportion_p(x[g], t[g], x[r], t[r]))
        ps = [p for p in ps if math.isfinite(p)]
        return min(1.0, 2 * min(ps)) if ps else math.nan
    return wald_p(value, se)


def run(ctx: AuditContext, *, decide_now: bool = True) -> dict[str, Any]:
    """Every disparity of every partition; ``decide_now=False`` leaves the p-value correction and the verdicts to
    :func:`decide` (a caller merging the rows of two contexts decides them as one audit)."""
    cfg = ctx.config
    rows: list[dict[str, Any]] = []
    references: list[tuple[str, str]] = []
    batch = IntervalBatch(cfg.confidence)
    # first every disparity with its replicates (all intervals are computed at once), then the rows
    jobs: list[_Job] = []
    for part in ctx.partitions:
        if not part.members or len(part.groups) < 2:
            continue
        facts: GroupFacts = group_facts(ctx, part)
        r = facts.reference
        references.append((part.attribute, part.groups[r]))
        point = components(ctx, part, part.counts, part.score_point)
        boot = components(ctx, part, part.boot_counts, part.score_boot) if part.boot_counts is not None else {}
        keep = np.flatnonzero(facts.sufficient)  # the largest gap is taken among groups with sufficient data
        parts = _proportions(part.counts, ctx.favorable)
        for d in DISPARITIES:
            if d.component not in point:
                jobs.append(_Job(part, facts, parts, d))
                continue
            a = point[d.component]
            a2 = point["fav_fpr"] if d.kind == "equalized_odds" else None
            ab = boot.get(d.component)
            ab2 = boot.get("fav_fpr") if d.kind == "equalized_odds" else None
            values = disparity(d, point, r, ctx.favorable)
            vs = gap = None
            if ab is not None:
                vs = batch.add(disparity(d, boot, r, ctx.favorable), se=d.test == "bootstrap")
                if len(keep) >= 2:
                    gap = batch.add(largest_gap(d.kind, ab[:, keep], None if ab2 is None else ab2[:, keep])[:, None])
            jobs.append(_Job(part, facts, parts, d, a, a2, values, vs, gap, keep))
    batch.compute()

    for part, facts, parts, d, a, a2, values, vs, gap, keep in jobs:
        if a is None:
            reason = "the model gives no scores" if ctx.model.scores is None else "the scores are not probabilities"
            rows.append({"level": part.level, "attribute": part.attribute, "group": "(all groups)", "reference": "(max gap)",
                         "metric": d.name, "comparison": "max_gap", "verdict": "undefined", "reason": reason})
            continue
        rows.extend(_vs_reference_rows(ctx, part, facts, parts, d, a, a2, values, batch, vs))
        rows.append(_gap_row(part, d, a, a2, keep, batch, gap, cfg.four_fifths))
    if decide_now:
        decide(rows, cfg.correction, cfg.alpha)
    return {"disparities": rows, "references": references}


SCORE_INTERVAL_NOTE = {
    "difference": "interval: Newcombe's score interval (few trials, successes or failures for a bootstrap)",
    "ratio": "interval: MOVER-R score interval (few trials, successes or failures for a bootstrap)",
    "average_odds": "interval: MOVER of the two rates' score intervals (few trials, successes or failures for a "
                    "bootstrap)",
    "equalized_odds": "interval: the smaller of the two rates' score intervals at half the error rate each (few "
                      "trials, successes or failures for a bootstrap)",
}


def _score_interval(d: Disparity, parts: dict[str, tuple[list[float], list[float]]], g: int, r: int,
                    confidence: float, sign: float) -> tuple[float, float] | None:
    """The score interval of a comparison of proportions when a group holds few trials, successes or failures
    (``stats.score_intervals``), else None (the bootstrap's percentile interval stands)."""
    from ..stats import score_intervals as si

    def pair(component: str) -> tuple[float, float, float, float]:
        x, t = parts[component]
        return x[g], t[g], x[r], t[r]

    if d.component == "average_odds" or d.kind == "equalized_odds":
        tpr, fpr = pair("recall"), pair("fav_fpr")
        if not si.is_small((tpr[0], tpr[1]), (tpr[2], tpr[3]), (fpr[0], fpr[1]), (fpr[2], fpr[3])):
            return None
        if min(tpr[1], tpr[3], fpr[1], fpr[3]) <= 0:
            return None
        if d.kind == "equalized_odds":
            half = 1 - (1 - confidence) / 2
            a, b = si.difference(*tpr, half), si.difference(*fpr, half)
            return min(a[0], b[0]), min(a[1], b[1])
        a = (tpr[0] / tpr[1] - tpr[2] / tpr[3], *si.difference(*tpr, confidence))
        b = (fpr[0] / fpr[1] - fpr[2] / fpr[3], *si.difference(*fpr, confidence))
        return si.mean_of_differences(a, b)
    if d.test != "proportion" or d.component not in parts:
        return None
    x1, n1, x2, n2 = pair(d.component)
    if n1 <= 0 or n2 <= 0 or not si.is_small((x1, n1), (x2, n2)):
        return None
    if d.kind == "ratio":
        return si.ratio(x1, n1, x2, n2, confidence)
    low, high = si.difference(x1, n1, x2, n2, confidence)
    return (low, high) if sign > 0 else (-high, -low)


def _four_fifths_flag(name: str, value: float, threshold: float) -> str:
    if name == "demographic_parity_ratio" and math.isfinite(value) and value < threshold:
        return f"below four-fifths ({threshold:g})"
    return ""


def _vs_reference_rows(ctx: AuditContext, part: Partition, facts: GroupFacts,
                       parts: dict[str, tuple[list[float], list[float]]], d: Disparity, a: np.ndarray,
                       a2: np.ndarray | None, values: np.ndarray, batch: IntervalBatch, handle: int | None
                       ) -> list[dict[str, Any]]:
    r = facts.reference
    usable = facts.sufficient
    nan = np.full(len(part.groups), np.nan)
    lows, highs = batch.interval(handle) if handle is not None else (nan, nan)
    ses = batch.se(handle) if handle is not None and d.test == "bootstrap" else nan
    err = part.score_error.get(d.component) if d.kind == "difference" else None
    out = []
    for g, name in enumerate(part.groups):
        if g == r:
            continue
        value, low, high, se = (float(x[g]) for x in (values, lows, highs, ses))
        small = _score_interval(d, parts, g, r, ctx.config.confidence, orientation(d, ctx.favorable)) \
            if handle is not None else None
        if small is not None:  # few trials, successes or failures: the percentile bootstrap under-covers there
            low, high = small
        reason = ""
        slack = 0.0
        if err is not None:  # an engine's score buckets: each value is within its bound of the exact one
            slack = float(np.nan_to_num(err[g]) + np.nan_to_num(err[r]))
            low, high = max(low - slack, -1.0), min(high + slack, 1.0)
        if facts.n[g] == 0:
            verdict, reason = "undefined", f"group {name!r} has no rows in the data"
        elif not math.isfinite(value):
            verdict = "undefined"
            reason = f"reference group {part.groups[r]!r} has a rate of 0 (division by zero)"
            for x in (g, r):  # name the group and the rate that is undefined
                if not np.isfinite(a[x]):
                    reason = f"group {part.groups[x]!r} {COMPONENT_REASON[d.component]}"
                    break
                if a2 is not None and not np.isfinite(a2[x]):
                    reason = f"group {part.groups[x]!r} {COMPONENT_REASON['fav_fpr']}"
                    break
        elif not (usable[g] and usable[r]):
            verdict = "insufficient data"
            reason = "; ".join(f"{part.groups[x]!r}: {facts.reasons[x]}" for x in (g, r) if not usable[x])
        else:
            verdict = None  # decided after the correction across the audit
        # with a bound, the test is of the difference moved towards 0 by it: never significant by approximation
        tested = math.copysign(max(abs(value) - slack, 0.0), value) if slack else value
        p_raw = _p_value(d, parts, g, r, tested, se) if verdict is None else math.nan
        if verdict is None and not math.isfinite(p_raw):
            verdict = "not tested"
            reason = ("no test available (bootstrap disabled: n_bootstrap=0)" if handle is None else
                      "no test: the resamples cannot move this difference (its bootstrap standard error is 0)")
        defined = verdict != "undefined"
        shown_low, shown_high, why = shown_interval(low, high, int(min(facts.n[g], facts.n[r]))) if defined \
            else (None, None, "")
        if defined and slack > 0:
            why = (f"{why}; " if why else "") + (f"score buckets: within {slack:.2g} of the exact difference; the "
                                                 "interval is widened and the test made by that")
        if why:
            reason = f"{reason}; {why}" if reason else why
        if small is not None and shown_low is not None:
            note = SCORE_INTERVAL_NOTE["average_odds" if d.component == "average_odds" else d.kind]
            reason = f"{reason}; {note}" if reason else note
        out.append({"level": part.level, "attribute": part.attribute, "group": name, "reference": part.groups[r],
                    "metric": d.name, "comparison": "vs_reference", "value": value if defined else None,
                    "ci_low": shown_low, "ci_high": shown_high,
                    "p_value_raw": p_raw, "verdict": verdict,
                    "flag": _four_fifths_flag(d.name, value, ctx.config.four_fifths), "reason": reason,
                    "_test": d.pairs_with is None})
    return out


def _gap_row(part: Partition, d: Disparity, a: np.ndarray, a2: np.ndarray | None, keep: np.ndarray,
             batch: IntervalBatch, handle: int | None, four_fifths: float) -> dict[str, Any]:
    """The largest gap among groups with sufficient data."""
    value = float(largest_gap(d.kind, a[keep], None if a2 is None else a2[keep]))
    low = high = math.nan
    if handle is not None:
        lo_, hi_ = batch.interval(handle)
        low, high = float(lo_[0]), float(hi_[0])
    err = part.score_error.get(d.component) if d.kind == "difference" else None
    if err is not None and len(keep):  # max - min of bucketed values: each end within its group's bound
        slack = 2.0 * float(np.nanmax(np.nan_to_num(err[keep])))
        low, high = max(low - slack, 0.0), min(high + slack, 1.0)
    return gap_row(part, d.name, value, low, high, len(keep) >= 2, _four_fifths_flag(d.name, value, four_fifths))


GAP_NOTE = ("largest gap among groups with sufficient data; p-value: the smallest adjusted p-value of its "
            "group-vs-reference comparisons")


def gap_row(part: Partition, metric: str, value: float, low: float, high: float, enough: bool, flag: str = "",
            note: str = GAP_NOTE, **extra: Any) -> dict[str, Any]:
    """A largest-gap row (every task's): insufficient without two groups with enough data, undefined without a
    value, else decided with the audit; its interval shown when the resamples can move it. ``extra``: more columns
    (a multiclass row's class)."""
    if not enough:
        verdict, reason = "insufficient data", "fewer than two groups have sufficient data"
    elif not math.isfinite(value):
        verdict, reason = "undefined", "the metric is undefined for all but one group with sufficient data"
    else:
        verdict, reason = None, ""
    defined = verdict != "undefined"
    shown_low, shown_high, why = shown_interval(low, high, MIN_INTERVAL_ROWS) if defined else (None, None, "")
    return {"level": part.level, "attribute": part.attribute, "group": "(all groups)", "reference": "(max gap)",
            **extra, "metric": metric, "comparison": "max_gap", "value": value if defined else None,
            "ci_low": shown_low, "ci_high": shown_high, "verdict": verdict, "flag": flag,
            "reason": "; ".join(x for x in (reason or note, why) if x)}


def decide(rows: list[dict[str, Any]], method: str, alpha: float, *, by_level: bool = False) -> None:
    """Correct p-values across the audit, then set verdicts (in place, before the result is frozen). With
    ``by_level``, each level of a control axis is its own family (a monitor's window is an audit of its rows)."""
    if by_level:
        for level in dict.fromkeys(r.get("level") for r in rows):
            decide([r for r in rows if r.get("level") == level], method, alpha)
        return
    family = [i for i, row in enumerate(rows) if row.get("_test") and row["verdict"] is None]
    adjusted = adjust(np.array([rows[i]["p_value_raw"] for i in family]), method)
    # keyed by level and class too: a control axis repeats every group, a multiclass audit every class
    p_of: dict[tuple[Any, ...], float] = {}
    for i, p in zip(family, adjusted):
        rows[i]["p_value"] = float(p)
        p_of[(rows[i].get("level"), rows[i]["attribute"], rows[i]["group"], rows[i].get("class"),
              rows[i]["metric"])] = float(p)
    pairs = {d.name: d.pairs_with for d in DISPARITIES if d.pairs_with}
    for row in rows:
        pair = row.get("_pairs_with") or pairs.get(row["metric"])
        if row["comparison"] == "vs_reference" and pair and row["verdict"] is None:
            row["p_value"] = p_of.get((row.get("level"), row["attribute"], row["group"], row.get("class"), pair),
                                      math.nan)
    tested: dict[tuple[Any, ...], list[float]] = {}
    for r in rows:
        if r["comparison"] == "vs_reference" and r.get("p_value") is not None and math.isfinite(r["p_value"]):
            tested.setdefault((r.get("level"), r["attribute"], r.get("class"), r["metric"]), []).append(r["p_value"])
    for row in rows:
        if row["comparison"] == "max_gap" and row["verdict"] is None:
            ps = tested.get((row.get("level"), row["attribute"], row.get("class"), row["metric"]), [])
            row["p_value"] = min(ps) if ps else math.nan
            if not ps:
                row["verdict"] = "not tested"
                row["reason"] = "no group-vs-reference comparison of this metric could be tested"
    for row in rows:
        row.pop("_test", None)
        row.pop("_pairs_with", None)
        if row["verdict"] is None:
            row["verdict"] = "significant" if row["p_value"] < alpha else "not significant"


MODULE = Module(
    name="bias", core=True, run=lambda env: run(env.ctx), tables={"disparities": DISPARITY_COLUMNS},
    kinds={"value": "float", "ci_low": "float", "ci_high": "float", "p_value": "float", "p_value_raw": "float"})
