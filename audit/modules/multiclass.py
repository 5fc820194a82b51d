"""A multiclass model's audit: per class (one vs rest) and group, the base rate, selection rate, recall, precision
and false positive rate, with macro averages and accuracy; per class, each group against the reference
(demographic parity difference and ratio, equal opportunity difference), the largest gap across groups, and each
group's worst class. Every row says its class in the ``class`` column.

With ``favorable_classes`` the outcome "receives a favourable class" is also audited as a binary decision: every
binary metric and disparity (the performance and bias modules on that binary view), in rows whose class is
``(favourable)``; and the per-class rows are signed like the binary ones (negative, or a ratio below 1: the group
fares worse: it receives a favourable class less often, or an unfavourable one more often). Without favourable
classes there is no direction: rows are group minus (or over) reference.

Tests: two-proportion tests of the class's selection rate (rows predicted the class) and recall (rows of the class
predicted it), with Newcombe / MOVER-R score intervals where a group holds few such rows; the ratio shares its
difference's p-value, and a group's worst class the p-value of that class's difference. All are corrected with the
rest of the audit. A group is insufficient with fewer than ``min_group_size`` rows; a class's recall in a group
with fewer than ``min_positives`` rows of that class, and its false positive rate with fewer than
``min_negatives`` rows of other classes.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from .._context import AuditContext, Partition
from ..record.tables import CLASS_DISPARITY_COLUMNS, CLASS_METRIC_COLUMNS, MULTICLASS_GROUP_COLUMNS
from ..registry import Module
from ..stats import score_intervals as si
from ..stats.bootstrap import IntervalBatch
from ..stats.classes import CLASS_METRICS, class_disparities, class_metrics
from ..stats.significance import two_proportion_p
from . import bias, performance
from ._groups import group_facts as binary_facts, shown_interval

KEY = "classes"
FAVORABLE = "(favourable)"
MACRO = "(macro)"
ALL = "(all classes)"
MACRO_METRICS = ("recall", "precision", "fpr")
UNDEFINED = {"base_rate": "the group has no rows", "selection_rate": "the group has no rows",
             "recall": "the group has no rows of this class",
             "precision": "no row of the group is predicted this class",
             "fpr": "every row of the group is of this class", "accuracy": "the group has no rows"}
DISPARITIES = (("demographic_parity_difference", "selection_rate", "difference"),
               ("demographic_parity_ratio", "selection_rate", "ratio"),
               ("equal_opportunity_difference", "recall", "difference"))
WORST = "worst_class_parity_difference"


class Facts(NamedTuple):
    n: np.ndarray
    sufficient: np.ndarray
    reasons: tuple[str, ...]
    reference: int | None
    favorable_rate: np.ndarray | None


def group_facts(ctx: AuditContext, part: Partition) -> Facts:
    """Sizes, sufficiency and the reference group: the user's; with favourable classes, the binary view's (the
    highest rate of favourable classes, as the four-fifths convention); else the largest group."""
    tables = part.stats[KEY][0]
    n = tables.sum((1, 2)).astype(np.int64)
    need = ctx.config.min_group_size
    reasons = tuple("no rows in the data" if k == 0 else (f"{k:,} rows < min_group_size {need}" if k < need else "")
                    for k in n.tolist())
    sufficient = np.array([r == "" for r in reasons], dtype=bool)
    target = ctx.inputs.target
    fav_rate = None
    reference = None
    if target.favorable:
        binary = binary_facts(ctx, part)
        fav_rate, reference = binary.favorable_rate, binary.reference
    if part.members and reference is None:
        chosen = ctx.inputs.reference.get(part.attribute)
        reference = part.groups.index(chosen) if chosen is not None else int(np.argmax(n)) if len(n) else 0
    return Facts(n, sufficient, reasons, reference if part.members else None, fav_rate)


def _macro(m: dict[str, np.ndarray], tables: np.ndarray) -> dict[str, np.ndarray]:
    """Macro averages over the classes where each is defined, and accuracy, from tables ``(..., C, C)``."""
    out = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for name in MACRO_METRICS:
            v = m[name]
            k = np.isfinite(v).sum(-1)
            out[name] = np.where(k > 0, np.nansum(v, -1) / np.maximum(k, 1), np.nan)
        t = np.asarray(tables, dtype=np.float64)
        n = t.sum((-2, -1))
        out["accuracy"] = np.where(n > 0, np.trace(t, axis1=-2, axis2=-1) / np.where(n > 0, n, 1), np.nan)
    return out


def _status(facts: Facts, i: int, value: float, why: str, members: float | None = None, need: int = 0,
            what: str = "", option: str = "") -> tuple[str, str]:
    """A per-class row's status and reason: undefined, insufficient (the group's rows, or ``members`` rows of what
    the metric needs below the ``option``'s ``need``), or ok."""
    if facts.n[i] == 0:
        return "undefined", "the group has no rows in the data"
    if not math.isfinite(value):
        return "undefined", why
    reasons = [facts.reasons[i]] if facts.reasons[i] else []
    if members is not None and members < need:
        reasons.append(f"{int(members):,} {what} < {option} {need}")
    return ("insufficient data", "; ".join(reasons)) if reasons else ("ok", "")


class _Job(NamedTuple):
    part: Partition
    facts: Facts
    c: int
    name: str
    component: str
    kind: str
    values: np.ndarray
    vs: int | None
    gap: int | None


def run(ctx: AuditContext, *, decide_now: bool = True) -> dict[str, Any]:
    cfg = ctx.config
    target = ctx.inputs.target
    names = target.class_names
    fav = target.favorable or None
    batch = IntervalBatch(cfg.confidence)
    metric_jobs: list[tuple[Partition, Facts, str, str, np.ndarray, int | None, np.ndarray, np.ndarray]] = []
    jobs: list[_Job] = []
    groups: list[dict[str, Any]] = []
    references: list[tuple[str, str]] = []
    for part in ctx.partitions:
        tables, reps = part.stats[KEY]
        facts = group_facts(ctx, part)
        point, boot = class_metrics(tables), (class_metrics(reps) if reps is not None else None)
        actual, others = tables.sum(-1), tables.sum((-2, -1))[:, None] - tables.sum(-1)
        for c, cls in enumerate(names):
            for metric in CLASS_METRICS:
                handle = batch.add(boot[metric][..., c]) if boot is not None else None
                metric_jobs.append((part, facts, cls, metric, point[metric][:, c], handle, actual[:, c],
                                    others[:, c]))
        mpoint, mboot = _macro(point, tables), (_macro(boot, reps) if boot is not None else None)
        for metric in (*MACRO_METRICS, "accuracy"):
            handle = batch.add(mboot[metric]) if mboot is not None else None
            metric_jobs.append((part, facts, ALL if metric == "accuracy" else MACRO, metric, mpoint[metric], handle,
                                None, None))
        for i, g in enumerate(part.groups):
            groups.append({"level": part.level, "attribute": part.attribute, "group": g, "n": int(facts.n[i]),
                           "favorable_rate": None if facts.favorable_rate is None else facts.favorable_rate[i],
                           "is_reference": facts.reference == i,
                           "status": "ok" if facts.sufficient[i] else "insufficient data", "reason": facts.reasons[i]})
        if not part.members or len(part.groups) < 2:
            continue
        r = facts.reference
        references.append((part.attribute, part.groups[r]))
        keep = np.flatnonzero(facts.sufficient)
        dpoint = class_disparities(tables, r, fav)
        dboot = class_disparities(reps, r, fav) if reps is not None else None
        for c in range(len(names)):
            for name, component, kind in DISPARITIES:
                vs = gap = None
                if dboot is not None:
                    vs = batch.add(dboot[name][..., c])
                    if len(keep) >= 2:
                        gap = batch.add(bias.largest_gap(kind, boot[component][:, keep, c])[:, None])
                jobs.append(_Job(part, facts, c, name, component, kind, dpoint[name][:, c], vs, gap))
    batch.compute()

    records: list[dict[str, Any]] = []
    for part, facts, cls, metric, values, handle, actual, others in metric_jobs:
        nan = np.full(len(part.groups), np.nan)
        low, high = batch.interval(handle) if handle is not None else (nan, nan)
        for i, g in enumerate(part.groups):
            v = float(values[i])
            members, need, what, option = None, 0, "", ""
            if metric == "recall" and actual is not None:
                members, need, what, option = actual[i], cfg.min_positives, "rows of this class", "min_positives"
            elif metric == "fpr" and others is not None:
                members, need, what, option = others[i], cfg.min_negatives, "rows of other classes", "min_negatives"
            status, reason = _status(facts, i, v, UNDEFINED.get(metric, "undefined"), members, need, what, option)
            ok = status != "undefined"
            lo, hi, why = shown_interval(float(low[i]), float(high[i]), int(facts.n[i])) if ok else (None, None, "")
            records.append({"level": part.level, "attribute": part.attribute, "group": g, "class": cls,
                            "metric": metric, "value": v if ok else None, "ci_low": lo, "ci_high": hi,
                            "n": int(facts.n[i]), "status": status, "reason": "; ".join(x for x in (reason, why) if x)})
    rows: list[dict[str, Any]] = []
    worst_of: dict[tuple[int, int, str], dict[str, Any]] = {}
    for job in jobs:
        for row in _vs_reference(ctx, job, batch):
            rows.append(row)
            if job.name == "demographic_parity_difference":
                worst_of[(id(job.part), job.c, row["group"])] = row
        rows.append(_gap_row(job, batch, names[job.c]))
    rows.extend(_worst_rows(ctx, worst_of))
    if target.favorable:  # "receives a favourable class" as a binary decision: the binary modules on its view
        perf = performance.run(ctx)
        fav_rows = bias.run(ctx, decide_now=False)
        records.extend({**rec, "class": FAVORABLE} for rec in perf["metrics"])
        rows.extend({**row, "class": FAVORABLE} for row in fav_rows["disparities"])
    if decide_now:
        bias.decide(rows, cfg.correction, cfg.alpha)
    return {"metrics": records, "groups": groups, "disparities": rows, "references": references}


def _vs_reference(ctx: AuditContext, job: _Job, batch: IntervalBatch) -> list[dict[str, Any]]:
    part, facts, c = job.part, job.facts, job.c
    r = facts.reference
    tables = part.stats[KEY][0]
    fav = ctx.inputs.target.favorable
    sign = 1.0 if not fav or c in fav else -1.0
    nan = np.full(len(part.groups), np.nan)
    lows, highs = batch.interval(job.vs) if job.vs is not None else (nan, nan)
    cls = ctx.inputs.target.class_names[c]
    out = []
    for g, name in enumerate(part.groups):
        if g == r:
            continue
        value, low, high = float(job.values[g]), float(lows[g]), float(highs[g])
        if job.component == "selection_rate":
            x1, n1, x2, n2 = (float(v) for v in (tables[g, :, c].sum(), tables[g].sum(), tables[r, :, c].sum(),
                                                  tables[r].sum()))
        else:
            x1, n1, x2, n2 = (float(v) for v in (tables[g, c, c], tables[g, c].sum(), tables[r, c, c],
                                                  tables[r, c].sum()))
        note = ""
        if facts.n[g] == 0:
            verdict, reason = "undefined", f"group {name!r} has no rows in the data"
        elif facts.n[r] == 0:
            verdict, reason = "undefined", f"reference group {part.groups[r]!r} has no rows in the data"
        elif not math.isfinite(value):
            verdict = "undefined"
            if n1 == 0 or n2 == 0:
                reason = f"group {part.groups[g if n1 == 0 else r]!r} has no rows of class {cls!r}"
            else:
                reason = f"reference group {part.groups[r]!r} has a rate of 0 (division by zero)"
        elif not (facts.sufficient[g] and facts.sufficient[r]):
            verdict = "insufficient data"
            reason = "; ".join(f"{part.groups[x]!r}: {facts.reasons[x]}" for x in (g, r) if not facts.sufficient[x])
        elif job.component == "recall" and min(n1, n2) < ctx.config.min_positives:
            verdict = "insufficient data"
            reason = f"fewer than min_positives {ctx.config.min_positives} rows of class {cls!r} in a group"
        else:
            verdict, reason = None, ""
        p_raw = math.nan
        if verdict is None:
            p_raw = two_proportion_p(x1, n1, x2, n2)
            if not math.isfinite(p_raw) and job.kind != "ratio":
                verdict, reason = "not tested", "no test available for these counts"
        defined = verdict != "undefined"
        if defined and job.vs is not None and n1 > 0 and n2 > 0 and si.is_small((x1, n1), (x2, n2)):
            if job.kind == "ratio":
                low, high = si.ratio(x1, n1, x2, n2, ctx.config.confidence) if sign > 0 \
                    else si.ratio(x2, n2, x1, n1, ctx.config.confidence)
                note = "interval: MOVER-R score interval (few rows for a bootstrap)"
            else:
                lo_, hi_ = si.difference(x1, n1, x2, n2, ctx.config.confidence)
                low, high = (lo_, hi_) if sign > 0 else (-hi_, -lo_)
                note = "interval: Newcombe's score interval (few rows for a bootstrap)"
        shown_low, shown_high, why = shown_interval(low, high, int(min(facts.n[g], facts.n[r]))) if defined \
            else (None, None, "")
        flag = ""
        if job.kind == "ratio" and fav and math.isfinite(value) and value < ctx.config.four_fifths:
            flag = f"below four-fifths ({ctx.config.four_fifths:g})"
        row = {"level": part.level, "attribute": part.attribute, "group": name, "reference": part.groups[r],
               "class": cls, "metric": job.name, "comparison": "vs_reference", "value": value if defined else None,
               "ci_low": shown_low, "ci_high": shown_high, "p_value_raw": p_raw, "verdict": verdict, "flag": flag,
               "reason": "; ".join(x for x in (reason, why, note if shown_low is not None else "") if x),
               "_test": job.kind != "ratio"}
        if job.kind == "ratio":
            row["_pairs_with"] = "demographic_parity_difference"
        out.append(row)
    return out


def _gap_row(job: _Job, batch: IntervalBatch, cls: str) -> dict[str, Any]:
    part, facts = job.part, job.facts
    keep = np.flatnonzero(facts.sufficient)
    tables = part.stats[KEY][0]
    comp = class_metrics(tables)[job.component][:, job.c]
    value = float(bias.largest_gap(job.kind, comp[keep]))
    low = high = math.nan
    if job.gap is not None:
        lo_, hi_ = batch.interval(job.gap)
        low, high = float(lo_[0]), float(hi_[0])
    return bias.gap_row(part, job.name, value, low, high, len(keep) >= 2, **{"class": cls})


def _worst_rows(ctx: AuditContext, by_class: dict[tuple[int, int, str], dict[str, Any]]) -> list[dict[str, Any]]:
    """Per group against its reference: the class whose selection rate differs most (largest absolute demographic
    parity difference among defined classes), that difference with its interval, and its p-value."""
    grouped: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for (pid, _c, group), row in by_class.items():
        grouped.setdefault((pid, group), []).append(row)
    out = []
    for rows in grouped.values():
        defined = [r for r in rows if r["value"] is not None]
        first = rows[0]
        base = {k: first[k] for k in ("level", "attribute", "group", "reference")}
        if not defined:
            out.append({**base, "class": None, "metric": WORST, "comparison": "vs_reference", "value": None,
                        "verdict": "undefined", "flag": "", "reason": "no class's selection rate is defined for both "
                                                                      "groups"})
            continue
        w = max(defined, key=lambda r: (abs(r["value"]), -rows.index(r)))
        row = {**base, "class": w["class"], "metric": WORST, "comparison": "vs_reference", "value": w["value"],
               "ci_low": w["ci_low"], "ci_high": w["ci_high"], "p_value_raw": w.get("p_value_raw", math.nan),
               "verdict": w["verdict"], "flag": "",
               "reason": "; ".join(x for x in ("the class of the largest difference in selection rate (chosen on "
                                               "the point estimates); interval and p-value: that class's",
                                               w["reason"]) if x),
               "_test": False, "_pairs_with": "demographic_parity_difference"}
        out.append(row)
    return out


MODULE = Module(
    name="multiclass", core=True, tasks=("multiclass",), run=lambda env: run(env.ctx),
    tables={"metrics": CLASS_METRIC_COLUMNS, "groups": MULTICLASS_GROUP_COLUMNS,
            "disparities": CLASS_DISPARITY_COLUMNS},
    kinds={"value": "float", "ci_low": "float", "ci_high": "float", "p_value": "float", "p_value_raw": "float",
           "n": "int", "is_reference": "bool", "favorable_rate": "float"})
