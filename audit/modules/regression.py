"""A regression model's audit: metrics by group and overall, disparities against the reference group and the
largest gap, with bootstrap intervals and p-values corrected across the audit (``bias.decide``).

The statistic is ``stats.moments.RegressionSums`` (sums of the prediction, label and residual moments per finest
group, resampled with each finest group's size fixed). Signs follow the binary audit's convention: negative, or a
ratio below 1, means the group fares worse, given the favourable direction (``favorable="higher"``: a higher
prediction helps the person, such as a credit limit; ``"lower"``: it harms them, such as a price).

Tests: differences of means and errors by a Wald test on their bootstrap standard error; the scoring-rate ratio
(NYC Local Law 144's impact ratio of a score) by the two-proportion test of the rows scored above the cut (Newcombe
/ MOVER-R score intervals when few rows are above or below it); the distribution distance by the two-sample
Kolmogorov-Smirnov test. A ratio shares its difference's p-value; the Wasserstein distance shares KS's.

A group is *insufficient* with fewer than ``min_group_size`` rows: its numbers are shown, flagged, and not tested
(``min_positives`` / ``min_negatives`` are about labels of a binary decision and do not apply).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from .._context import AuditContext, Partition
from ..record.tables import DISPARITY_COLUMNS, METRIC_COLUMNS, REGRESSION_GROUP_COLUMNS
from ..registry import Module
from ..stats import score_intervals as si
from ..stats.bootstrap import IntervalBatch
from ..stats.moments import DISPARITIES, METRICS, disparities, metrics, sorted_distances, value_runs
from ..stats.significance import two_proportion_p, wald_p
from ._groups import shown_interval
from .bias import GAP_NOTE, decide, gap_row, largest_gap

KEY = "regression"
UNDEFINED = {m: "the group has no rows" for m in METRICS}
UNDEFINED["r2"] = "the group's label is constant (R squared needs variation in the label)"
#: disparities that share another row's p-value (they are one comparison, shown two ways)
PAIRS = {"mean_prediction_ratio": "mean_prediction_difference", "wasserstein_distance": "ks_distance"}


class Facts(NamedTuple):
    n: np.ndarray
    sufficient: np.ndarray
    reasons: tuple[str, ...]
    reference: int | None
    point: dict[str, np.ndarray]


def group_facts(ctx: AuditContext, part: Partition) -> Facts:
    """Sizes, sufficiency and the reference group: the user's, else the group with the most favourable mean
    prediction among groups with sufficient data (ties: the larger group)."""
    sums = part.stats[KEY][0]
    n = np.rint(sums[:, 0]).astype(np.int64)
    point = metrics(sums)
    need = ctx.config.min_group_size
    reasons = tuple("no rows in the data" if k == 0 else (f"{k:,} rows < min_group_size {need}" if k < need else "")
                    for k in n.tolist())
    sufficient = np.array([r == "" for r in reasons], dtype=bool)
    reference = None
    if part.members:
        chosen = ctx.inputs.reference.get(part.attribute)
        if chosen is not None:
            reference = part.groups.index(chosen)
        else:
            mean = point["mean_prediction"]
            sign = 1.0 if ctx.inputs.target.direction == "higher" else -1.0
            pool = np.flatnonzero(sufficient & np.isfinite(mean))
            if len(pool) == 0:
                pool = np.flatnonzero(n > 0)
            reference = int(max(pool, key=lambda i: (sign * mean[i], n[i], -i))) if len(pool) else 0
    return Facts(n, sufficient, reasons, reference, point)


def _metric_rows(part: Partition, facts: Facts, metric: str, low: np.ndarray, high: np.ndarray) -> list[dict]:
    out = []
    for i, g in enumerate(part.groups):
        v, n = float(facts.point[metric][i]), int(facts.n[i])
        if n == 0:
            status, reason = "undefined", "the group has no rows in the data"
        elif not math.isfinite(v):
            status, reason = "undefined", UNDEFINED[metric]
        elif not facts.sufficient[i]:
            status, reason = "insufficient data", facts.reasons[i]
        else:
            status, reason = "ok", ""
        ok = status != "undefined"
        lo, hi, why = shown_interval(float(low[i]), float(high[i]), n) if ok else (None, None, "")
        if why:
            reason = f"{reason}; {why}" if reason else why
        out.append({"level": part.level, "attribute": part.attribute, "group": g, "metric": metric,
                    "value": v if ok else None, "ci_low": lo, "ci_high": hi, "n": n, "status": status,
                    "reason": reason})
    return out


class _Job(NamedTuple):
    part: Partition
    facts: Facts
    name: str
    kind: str  # difference, ratio, distance
    component: str | None
    values: np.ndarray
    vs: int | None
    gap: int | None
    p_values: np.ndarray | None = None  # the KS test's (distances)
    bounds: np.ndarray | None = None  # an engine's bucketed distances: the bound on each value's error


def run(ctx: AuditContext, *, decide_now: bool = True) -> dict[str, Any]:
    cfg = ctx.config
    target = ctx.inputs.target
    batch = IntervalBatch(cfg.confidence)
    metric_jobs: list[tuple[Partition, Facts, str, int | None]] = []
    jobs: list[_Job] = []
    groups: list[dict[str, Any]] = []
    references: list[tuple[str, str]] = []
    stat = ctx.statistic(KEY)
    bucketed = getattr(stat, "histograms", None) is not None  # an engine's cells: distances from bucket histograms
    if not bucketed:  # the predictions in ascending order: every partition's distances from the statistic's one sort
        pred_sorted = stat.sorted_predictions()
        finest_sorted = stat.layout(ctx.finest, len(ctx.finest_names))["finest_sorted"]
        runs = value_runs(pred_sorted)
    for part in ctx.partitions:
        sums, reps = part.stats[KEY]
        facts = group_facts(ctx, part)
        boot = metrics(reps) if reps is not None else None
        for metric in METRICS:
            metric_jobs.append((part, facts, metric, batch.add(boot[metric]) if boot is not None else None))
        for i, g in enumerate(part.groups):
            groups.append({"level": part.level, "attribute": part.attribute, "group": g, "n": int(facts.n[i]),
                           "mean_prediction": facts.point["mean_prediction"][i],
                           "mean_label": facts.point["mean_label"][i], "scoring_rate": facts.point["scoring_rate"][i],
                           "is_reference": facts.reference == i,
                           "status": "ok" if facts.sufficient[i] else "insufficient data", "reason": facts.reasons[i]})
        if not part.members or len(part.groups) < 2:
            continue
        r = facts.reference
        references.append((part.attribute, part.groups[r]))
        keep = np.flatnonzero(facts.sufficient)
        point = disparities(sums, r, target.direction)
        dboot = disparities(reps, r, target.direction) if reps is not None else None
        for name, component, kind, _ in DISPARITIES:
            vs = gap = None
            if dboot is not None:
                vs = batch.add(dboot[name], se=kind == "difference")
                if len(keep) >= 2:
                    gap = batch.add(largest_gap(kind, boot[component][:, keep])[:, None])
            jobs.append(_Job(part, facts, name, kind, component, point[name], vs, gap))
        if bucketed:
            from .._scale.regression import bucket_distances

            fin = np.arange(len(ctx.finest_names))  # the finest groups' histograms summed into the partition's groups
            hist = np.zeros((len(part.groups), stat.histograms.shape[1]))
            inside = part.finest_map[fin] >= 0
            np.add.at(hist, part.finest_map[fin][inside], stat.histograms[fin][inside])
            dist = bucket_distances(hist, stat.bucket_lo, stat.bucket_hi, r)
        else:
            fmap = part.finest_map.astype(np.int16 if len(part.groups) < 2**15 else np.int64)  # narrow codes
            dist = sorted_distances(pred_sorted, fmap[finest_sorted], len(part.groups), r, runs)
        for name in ("ks_distance", "wasserstein_distance"):
            jobs.append(_Job(part, facts, name, "distance", None, dist[name], None, None, dist["ks_p_value"],
                             dist.get(name.split("_")[0] + "_bound")))
    batch.compute()

    records: list[dict[str, Any]] = []
    for part, facts, metric, handle in metric_jobs:
        nan = np.full(len(part.groups), np.nan)
        low, high = batch.interval(handle) if handle is not None else (nan, nan)
        records.extend(_metric_rows(part, facts, metric, low, high))
    rows: list[dict[str, Any]] = []
    for job in jobs:
        rows.extend(_vs_reference(ctx, job, batch))
        rows.append(_gap_row(job, batch))
    if decide_now:
        decide(rows, cfg.correction, cfg.alpha)
    return {"metrics": records, "groups": groups, "disparities": rows, "references": references}


def _vs_reference(ctx: AuditContext, job: _Job, batch: IntervalBatch) -> list[dict[str, Any]]:
    part, facts = job.part, job.facts
    r = facts.reference
    nan = np.full(len(part.groups), np.nan)
    lows, highs = batch.interval(job.vs) if job.vs is not None else (nan, nan)
    ses = batch.se(job.vs) if job.vs is not None and job.kind == "difference" else nan
    sums = part.stats[KEY][0]
    out = []
    for g, name in enumerate(part.groups):
        if g == r:
            continue
        value, low, high, se = (float(x[g]) for x in (job.values, lows, highs, ses))
        note = ""
        if facts.n[g] == 0:
            verdict, reason = "undefined", f"group {name!r} has no rows in the data"
        elif facts.n[r] == 0:
            verdict, reason = "undefined", f"reference group {part.groups[r]!r} has no rows in the data"
        elif not math.isfinite(value):
            verdict = "undefined"
            comp = job.component or "mean_prediction"
            bad = next((x for x in (g, r) if not math.isfinite(facts.point[comp][x])), None)
            reason = (f"group {part.groups[bad]!r}: {UNDEFINED[comp]}" if bad is not None else
                      f"reference group {part.groups[r]!r} has a {comp.replace('_', ' ')} of 0 (division by zero)")
        elif not (facts.sufficient[g] and facts.sufficient[r]):
            verdict = "insufficient data"
            reason = "; ".join(f"{part.groups[x]!r}: {facts.reasons[x]}" for x in (g, r) if not facts.sufficient[x])
        else:
            verdict, reason = None, ""
        p_raw = math.nan
        if verdict is None:
            if job.kind == "distance":
                p_raw = float(job.p_values[g])
            elif job.name == "scoring_rate_ratio":
                x1, n1, x2, n2 = (float(v) for v in (sums[g, 7], sums[g, 0], sums[r, 7], sums[r, 0]))
                p_raw = two_proportion_p(x1, n1, x2, n2)
                if job.vs is not None and si.is_small((x1, n1), (x2, n2)):  # the percentile bootstrap under-covers
                    low, high = (si.ratio(x1, n1, x2, n2, ctx.config.confidence)
                                 if ctx.inputs.target.direction == "higher"
                                 else si.ratio(x2, n2, x1, n1, ctx.config.confidence))
                    note = "interval: MOVER-R score interval (few rows above or below the cut for a bootstrap)"
            else:
                p_raw = wald_p(value, se)
            if not math.isfinite(p_raw) and job.name not in PAIRS:
                verdict = "not tested"
                reason = ("no test available (bootstrap disabled: n_bootstrap=0)" if job.vs is None else
                          "no test: the resamples cannot move this difference (its bootstrap standard error is 0)")
        defined = verdict != "undefined"
        if job.kind == "distance":
            shown_low = shown_high = None
            why = ("no interval: a distance between the two groups' predictions; its p-value is the two-sample "
                   "Kolmogorov-Smirnov test's") if defined else ""
            if defined and job.bounds is not None:
                why += (f"; from {len(ctx.statistic(KEY).edges) - 1:,} prediction buckets: within "
                        f"{float(job.bounds[g]):.2g} of the exact value")
        else:
            shown_low, shown_high, why = shown_interval(low, high, int(min(facts.n[g], facts.n[r]))) if defined \
                else (None, None, "")
        reason = "; ".join(x for x in (reason, why, note) if x)
        row = {"level": part.level, "attribute": part.attribute, "group": name, "reference": part.groups[r],
               "metric": job.name, "comparison": "vs_reference", "value": value if defined else None,
               "ci_low": shown_low, "ci_high": shown_high, "p_value_raw": p_raw, "verdict": verdict,
               "flag": _flag(job.name, value, ctx.config.four_fifths), "reason": reason,
               "_test": job.name not in PAIRS}
        if job.name in PAIRS:
            row["_pairs_with"] = PAIRS[job.name]
        out.append(row)
    return out


def _flag(name: str, value: float, threshold: float) -> str:
    if name == "scoring_rate_ratio" and math.isfinite(value) and value < threshold:
        return f"below four-fifths ({threshold:g})"
    return ""


def _gap_row(job: _Job, batch: IntervalBatch) -> dict[str, Any]:
    """The largest gap among groups with sufficient data: of the compared metric (max - min, min / max for a
    ratio), or for a distance the largest distance of a group from the reference."""
    part, facts = job.part, job.facts
    keep = np.flatnonzero(facts.sufficient)
    low = high = math.nan
    if job.kind == "distance":
        others = [g for g in keep.tolist() if g != facts.reference and facts.reference in keep]
        vals = job.values[others] if others else np.empty(0)
        value = float(np.nanmax(vals)) if len(vals) and np.isfinite(vals).any() else math.nan
        enough = len(others) >= 1
        note = ("largest distance of a group with sufficient data from the reference; p-value: the smallest "
                "adjusted p-value of its group-vs-reference comparisons")
    else:
        value = float(largest_gap(job.kind, facts.point[job.component][keep]))
        if job.gap is not None:
            lo_, hi_ = batch.interval(job.gap)
            low, high = float(lo_[0]), float(hi_[0])
        enough = len(keep) >= 2
        note = GAP_NOTE
    return gap_row(part, job.name, value, low, high, enough, note=note)


MODULE = Module(
    name="regression", core=True, tasks=("regression",), run=lambda env: run(env.ctx),
    tables={"metrics": METRIC_COLUMNS, "groups": REGRESSION_GROUP_COLUMNS, "disparities": DISPARITY_COLUMNS},
    kinds={"value": "float", "ci_low": "float", "ci_high": "float", "p_value": "float", "p_value_raw": "float",
           "n": "int", "is_reference": "bool", "mean_prediction": "float", "mean_label": "float",
           "scoring_rate": "float"})
