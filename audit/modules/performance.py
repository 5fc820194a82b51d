"""Performance by group and overall, with bootstrap intervals."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._context import AuditContext, Partition
from ..stats.bootstrap import IntervalBatch
from ..stats.counts import COUNT_METRICS, UNDEFINED_REASON as COUNT_REASON, count_metrics
from ..stats.scores import PROBABILITY_ONLY, SCORE_METRICS, UNDEFINED_REASON as SCORE_REASON
from ..registry import Module
from ..record.tables import GROUP_COLUMNS, METRIC_COLUMNS
from ._groups import GroupFacts, group_facts, shown_interval

NO_SCORES = "the model gives no scores (predictions only); pass scores= or a model with predict_proba"
NOT_PROBABILITIES = "the scores are decision-function values, not probabilities"


def widened(low: np.ndarray, high: np.ndarray, err: np.ndarray, lo_limit: float = 0.0, hi_limit: float = 1.0
            ) -> tuple[np.ndarray, np.ndarray]:
    """An interval widened on both sides by a bound on the point value's error, kept in the metric's range."""
    e = np.where(np.isfinite(err), err, 0.0)
    return np.clip(low - e, lo_limit, hi_limit), np.clip(high + e, lo_limit, hi_limit)


def _add(records: list[dict[str, Any]], part: Partition, facts: GroupFacts, metric: str, values: np.ndarray,
         low: np.ndarray, high: np.ndarray, why_undefined: str, err: np.ndarray | None = None) -> None:
    """One metric's rows for every group of a partition: value, interval, status and reason."""
    n, sufficient = facts.n.tolist(), facts.sufficient.tolist()
    for i, (g, v, lo, hi) in enumerate(zip(part.groups, values.tolist(), low.tolist(), high.tolist())):
        if n[i] == 0:
            status, reason = "undefined", "the group has no rows in the data"
        elif not math.isfinite(v):
            status, reason = "undefined", why_undefined
        elif not sufficient[i]:
            status, reason = "insufficient data", facts.reasons[i]
        else:
            status, reason = "ok", ""
        ok = status != "undefined"
        lo, hi, why = shown_interval(lo, hi, n[i]) if ok else (None, None, "")
        if ok and err is not None and err[i] > 0:
            why = (f"{why}; " if why else "") + (f"score buckets: the value is within {err[i]:.2g} of the exact one"
                                                 + (", and the interval is widened by that" if lo is not None else ""))
        if why:
            reason = f"{reason}; {why}" if reason else why
        records.append({"level": part.level, "attribute": part.attribute, "group": g, "metric": metric,
                        "value": v if ok else None, "ci_low": lo, "ci_high": hi, "n": n[i], "status": status,
                        "reason": reason})


def run(ctx: AuditContext) -> dict[str, Any]:
    records: list[dict[str, Any]] = []
    group_records: list[dict[str, Any]] = []
    batch = IntervalBatch(ctx.config.confidence)
    # first every metric with its replicates (intervals are computed for all of them at once), then the rows
    pending: list[tuple[Partition, GroupFacts, list]] = []
    for part in ctx.partitions:
        facts = group_facts(ctx, part)
        items = []
        point = count_metrics(part.counts)
        reps = count_metrics(part.boot_counts) if part.boot_counts is not None else {}
        for metric in COUNT_METRICS:
            handle = batch.add(reps[metric]) if reps else None
            items.append((metric, point[metric], handle, COUNT_REASON[metric]))
        for metric in SCORE_METRICS:
            if metric not in part.score_point:
                why = NO_SCORES if ctx.model.scores is None else NOT_PROBABILITIES
                if ctx.model.scores is not None and metric not in PROBABILITY_ONLY:
                    why = SCORE_REASON[metric]
                items.append((metric, np.full(len(part.groups), np.nan), None, why))
                continue
            reps = part.score_boot.get(metric)
            items.append((metric, part.score_point[metric], None if reps is None else batch.add(reps),
                          SCORE_REASON[metric]))
        pending.append((part, facts, items))
    batch.compute()

    for part, facts, items in pending:
        for i, g in enumerate(part.groups):
            group_records.append({
                "level": part.level, "attribute": part.attribute, "group": g, "n": facts.n[i], "positives": facts.positives[i],
                "negatives": facts.negatives[i], "predicted_positives": facts.predicted_positives[i],
                "favorable_rate": facts.favorable_rate[i], "is_reference": facts.reference == i,
                "status": "ok" if facts.sufficient[i] else "insufficient data", "reason": facts.reasons[i]})

        for metric, values in (("positives", facts.positives), ("negatives", facts.negatives),
                               ("predicted_positives", facts.predicted_positives)):
            for i, g in enumerate(part.groups):
                records.append({"level": part.level, "attribute": part.attribute, "group": g, "metric": metric, "value": float(values[i]),
                                "ci_low": None, "ci_high": None, "n": facts.n[i],
                                "status": "ok" if facts.sufficient[i] else "insufficient data",
                                "reason": facts.reasons[i] or "a count (no interval)"})
        nan = np.full(len(part.groups), np.nan)
        for metric, values, handle, why in items:
            low, high = batch.interval(handle) if handle is not None else (nan, nan)
            err = part.score_error.get(metric)
            if err is not None:  # an engine's score buckets: the interval also covers the bound on the value's error
                low, high = widened(low, high, err)
            _add(records, part, facts, metric, values, low, high, why, err)
    return {"metrics": records, "groups": group_records}


MODULE = Module(
    name="performance", core=True, run=lambda env: run(env.ctx),
    tables={"metrics": METRIC_COLUMNS, "groups": GROUP_COLUMNS},
    kinds={"value": "float", "ci_low": "float", "ci_high": "float", "favorable_rate": "float", "n": "int",
           "positives": "int", "negatives": "int", "predicted_positives": "int", "is_reference": "bool"},
    purposes=((1, "multinomial resamples of each finest group's confusion counts"),
              (2, "Poisson row weights of each group's score replicates"),
              *((3 + k, f"replicates of further sufficient statistic {k + 1} (build_context(statistics=))")
                for k in range(8))))
