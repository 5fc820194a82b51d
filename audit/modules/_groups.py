"""Group-level facts shared by the modules: data sufficiency and reference groups."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._context import AuditContext, Partition
from ..stats.counts import count_metric, favorable_frame
from ..stats.significance import DEGENERATE


#: groups with fewer rows get no intervals: a bootstrap of one or two rows only repeats them
MIN_INTERVAL_ROWS = 3
NOT_MEANINGFUL = ("interval not shown: the resamples cannot move this value (every resample gives {value}), so "
                  "[{value}, {value}] would look certain without being so")
TOO_FEW_FOR_INTERVAL = "interval not shown: a bootstrap of {n} row(s) only repeats them"


def shown_interval(low: float, high: float, min_rows: int) -> tuple[float | None, float | None, str]:
    """The interval to report, or ``(None, None, why)`` when it is not meaningful: a group involved has fewer
    than :data:`MIN_INTERVAL_ROWS` rows (``min_rows``), or the interval has zero width."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return None, None, ""
    if min_rows < MIN_INTERVAL_ROWS:
        return None, None, TOO_FEW_FOR_INTERVAL.format(n=min_rows)
    if high - low <= DEGENERATE * max(1.0, abs(low), abs(high)):  # equal up to rounding noise
        return None, None, NOT_MEANINGFUL.format(value=f"{low:.4g}")
    return low, high, ""


@dataclass(frozen=True)
class GroupFacts:
    n: np.ndarray
    positives: np.ndarray
    negatives: np.ndarray
    predicted_positives: np.ndarray
    favorable_rate: np.ndarray  # predicted favourable-outcome rate
    sufficient: np.ndarray  # bool
    reasons: tuple[str, ...]  # why a group is insufficient ("" when sufficient)
    reference: int | None  # index of the reference group (None for the overall partition)


def group_facts(ctx: AuditContext, part: Partition) -> GroupFacts:
    cfg = ctx.config
    c = part.counts
    n = c.sum(-1)
    pos = c[:, 2] + c[:, 3]
    neg = c[:, 0] + c[:, 1]
    pp = c[:, 1] + c[:, 3]
    fav_rate = count_metric("selection_rate", favorable_frame(c, ctx.favorable))
    reasons = []
    for i in range(len(n)):
        why = []
        if n[i] == 0:
            why.append("no rows in the data")
        elif n[i] < cfg.min_group_size:
            why.append(f"{n[i]:,} rows < min_group_size {cfg.min_group_size}")
        if n[i] and pos[i] < cfg.min_positives:
            why.append(f"{pos[i]:,} actual positives < min_positives {cfg.min_positives}")
        if n[i] and neg[i] < cfg.min_negatives:
            why.append(f"{neg[i]:,} actual negatives < min_negatives {cfg.min_negatives}")
        reasons.append("; ".join(why))
    sufficient = np.array([r == "" for r in reasons])
    reference = None
    if len(part.members):
        chosen = ctx.inputs.reference.get(part.attribute)
        if chosen is not None:
            reference = part.groups.index(chosen)
        else:
            pool = np.flatnonzero(sufficient & np.isfinite(fav_rate))
            if len(pool) == 0:
                pool = np.flatnonzero(n > 0)
            # highest favourable-outcome rate (EEOC four-fifths convention); ties: the larger group. A partition
            # without rows (an empty level of a control axis) keeps its first group: every comparison is undefined
            reference = int(max(pool, key=lambda i: (fav_rate[i], n[i], -i))) if len(pool) else 0
    return GroupFacts(n, pos, neg, pp, fav_rate, sufficient, tuple(reasons), reference)
