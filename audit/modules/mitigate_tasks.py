"""Reweighing of a multiclass or regression model (issue 20): Kamiran and Calders' weights generalised to several
label values (``P(group) P(label) / P(group, label)``: a multiclass label's classes; a regression label's quantile
bins), a reweighed refit of a clone, and the paired before/after re-audit on the same rows, seed and groups.

Paired resamples: each finest group's rows are resampled jointly for the two models' outputs, with its size fixed:
a multiclass model's joint table of true x before x after class (a multinomial draw, as the confusion counts), a
regression model's before and after sums side by side (row by row up to ``exact_rows``, normal sums with the
joint covariance above, as ``stats.moments``). The change's interval and p-value therefore account for the two
being measured on the same people; p-values are adjusted across the rows of the table.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._context import AuditContext, Partition
from ..mitigation import CHANGE_COLUMNS, WEIGHT_COLUMNS, class_weights, paired_p, refit_on_training
from ..record.tables import Section, Table
from ..stats.bootstrap import multinomial_tables, percentile_interval
from ..stats.classes import class_disparities, class_metrics
from ..stats.moments import COLUMNS, disparities, group_replicates, metrics, normal_sums
from ..stats.score_boot import identity_seed
from ._groups import MIN_INTERVAL_ROWS, shown_interval

#: the changes table of a multiclass model names each row's class
CLASS_CHANGE_COLUMNS = CHANGE_COLUMNS[:3] + ("class",) + CHANGE_COLUMNS[3:]
REGRESSION_METRICS = ("mae", "rmse", "mean_prediction", "scoring_rate")
REGRESSION_DISPARITIES = ("mean_prediction_difference", "mean_prediction_ratio", "scoring_rate_ratio",
                          "mae_difference", "mean_residual_difference")
CLASS_PAIRED_METRICS = ("selection_rate", "recall")
CLASS_PAIRED_DISPARITIES = ("demographic_parity_difference", "equal_opportunity_difference")
#: classes beyond which the joint true x before x after table (C^3 cells per group) is not resampled
MAX_PAIRED_CLASSES = 16
PURPOSE = 21  # the paired resamples' random streams (the binary re-audit's purpose: one per audit)


def _members(part: Partition, n_finest: int) -> np.ndarray:
    m = np.zeros((n_finest, len(part.groups)))
    inside = np.flatnonzero(part.finest_map >= 0)
    m[inside, part.finest_map[inside]] = 1.0
    return m


def _row(part: Partition, group: str, reference: str, metric: str, before: float, after: float,
         reps_b: np.ndarray | None, reps_a: np.ndarray | None, confidence: float, cls: str | None = None
         ) -> dict[str, Any]:
    row = {"attribute": part.attribute, "group": group, "reference": reference, "metric": metric,
           "before": float(before), "after": float(after), "change": float(after - before)}
    if cls is not None:
        row["class"] = cls
    if reps_b is not None:
        lo, hi, _ = percentile_interval(np.c_[reps_b, reps_a, reps_a - reps_b], confidence)
        for k, key in enumerate(("before", "after", "change")):
            row[f"{key}_low"], row[f"{key}_high"], _ = shown_interval(float(lo[k]), float(hi[k]), MIN_INTERVAL_ROWS)
        row["_p"] = paired_p(float(after - before), reps_a - reps_b)
    return row


def paired_regression(ctx: AuditContext, after: np.ndarray) -> list[dict[str, Any]]:
    """Regression metrics and disparities before (the audited predictions) and ``after``, with paired intervals."""
    from .regression import group_facts

    cfg = ctx.config
    stat = ctx.statistic("regression")
    before, label = stat.prediction, stat.label
    F = len(ctx.finest_names)
    # rows of each finest group in a canonical order (by both predictions and the label): row-order invariant
    order = np.lexsort((np.asarray(after, dtype=float), label, before, ctx.finest))
    bounds = np.r_[0, np.cumsum(np.bincount(ctx.finest, minlength=F))]
    k = len(COLUMNS)
    joint = np.zeros((F, 2 * k))
    B = cfg.n_bootstrap
    boot = np.zeros((B, F, 2 * k)) if B else None
    for f, names in enumerate(ctx.finest_names):
        rows = order[bounds[f]:bounds[f + 1]]
        if not len(rows):
            continue
        v = np.c_[stat.values_of(before[rows], label[rows]), stat.values_of(after[rows], label[rows])]
        joint[f] = v.sum(0)
        if B:
            rng = np.random.default_rng(identity_seed(cfg.seed, PURPOSE, names))
            if len(rows) <= stat.exact_rows:
                boot[:, f] = group_replicates(v, B, rng, stat.exact_rows)
            else:
                total = v.sum(0)
                c = v - total / len(rows)
                boot[:, f] = normal_sums(total, np.einsum("nk,nj->kj", c, c), len(rows), B, rng,
                                         count_columns=(0, k), nonnegative=(4, 5, 6, 12, 13, 14),
                                         bounded=((7, 0), (15, 0)))
    direction = ctx.inputs.target.direction
    out: list[dict[str, Any]] = []
    for part in ctx.partitions:
        m = _members(part, F)
        sums = np.einsum("fk,fg->gk", joint, m)
        reps = np.einsum("bfk,fg->bgk", boot, m) if boot is not None else None
        mb, ma = metrics(sums[:, :k]), metrics(sums[:, k:])
        rb = ra = None
        if reps is not None:
            rb, ra = metrics(reps[..., :k]), metrics(reps[..., k:])
        for metric in REGRESSION_METRICS:
            for g, name in enumerate(part.groups):
                out.append(_row(part, name, "", metric, mb[metric][g], ma[metric][g],
                                None if rb is None else rb[metric][:, g], None if ra is None else ra[metric][:, g],
                                cfg.confidence))
        if not part.members or len(part.groups) < 2:
            continue
        r = group_facts(ctx, part).reference
        db, da = disparities(sums[:, :k], r, direction), disparities(sums[:, k:], r, direction)
        drb = dra = None
        if reps is not None:
            drb, dra = disparities(reps[..., :k], r, direction), disparities(reps[..., k:], r, direction)
        for metric in REGRESSION_DISPARITIES:
            for g, name in enumerate(part.groups):
                if g != r:
                    out.append(_row(part, name, part.groups[r], metric, db[metric][g], da[metric][g],
                                    None if drb is None else drb[metric][:, g],
                                    None if dra is None else dra[metric][:, g], cfg.confidence))
    return out


def paired_classes(ctx: AuditContext, after: np.ndarray) -> list[dict[str, Any]]:
    """Per class: selection rate and recall by group, demographic parity and equal opportunity differences, before
    (the audited predictions) and ``after``, from paired resamples of the true x before x after table."""
    from .multiclass import group_facts

    cfg = ctx.config
    target = ctx.inputs.target
    C = len(target.classes)
    F = len(ctx.finest_names)
    cell = ((ctx.finest.astype(np.int64) * C + target.values) * C + ctx.model.values) * C + after
    joint = np.bincount(cell, minlength=F * C ** 3).reshape(F, C ** 3)
    B = cfg.n_bootstrap
    boot = None
    if B:
        seeds = [identity_seed(cfg.seed, PURPOSE, n) for n in ctx.finest_names]
        boot = multinomial_tables(joint, B, seeds)
    fav = target.favorable or None
    out: list[dict[str, Any]] = []
    for part in ctx.partitions:
        m = _members(part, F)

        def tables(j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            t = (np.moveaxis(np.moveaxis(j.astype(float), -2, -1) @ m, -1, -2)).reshape(j.shape[:-2] + (
                len(part.groups), C, C, C))
            return t.sum(-1), t.sum(-2)  # true x before, true x after

        tb, ta = tables(joint)
        rtb = rta = None
        if boot is not None:
            rtb, rta = tables(boot)
        mb, ma = class_metrics(tb), class_metrics(ta)
        rb = ra = None
        if rtb is not None:
            rb, ra = class_metrics(rtb), class_metrics(rta)
        for c, cls in enumerate(target.class_names):
            for metric in CLASS_PAIRED_METRICS:
                for g, name in enumerate(part.groups):
                    out.append(_row(part, name, "", metric, mb[metric][g, c], ma[metric][g, c],
                                    None if rb is None else rb[metric][:, g, c],
                                    None if ra is None else ra[metric][:, g, c], cfg.confidence, cls))
        if not part.members or len(part.groups) < 2:
            continue
        r = group_facts(ctx, part).reference
        db, da = class_disparities(tb, r, fav), class_disparities(ta, r, fav)
        drb = dra = None
        if rtb is not None:
            drb, dra = class_disparities(rtb, r, fav), class_disparities(rta, r, fav)
        for c, cls in enumerate(target.class_names):
            for metric in CLASS_PAIRED_DISPARITIES:
                for g, name in enumerate(part.groups):
                    if g != r:
                        out.append(_row(part, name, part.groups[r], metric, db[metric][g, c], da[metric][g, c],
                                        None if drb is None else drb[metric][:, g, c],
                                        None if dra is None else dra[metric][:, g, c], cfg.confidence, cls))
    return out


def label_codes(ctx: AuditContext, train_label: Any, bins: int) -> tuple[np.ndarray, list[str], str]:
    """The training label as codes for the weights: a multiclass label's classes (the audit's), a regression
    label's quantile bins of the training rows (ties kept together), and what was done."""
    import pandas as pd

    target = ctx.inputs.target
    if target.task == "multiclass":
        from .._tasks import class_codes

        codes = class_codes(pd.Series(train_label), target.classes, "train_data label")
        return codes, list(target.class_names), "the label's classes"
    from .._tasks import numeric_values

    y = numeric_values(pd.Series(train_label), "train_data label")
    edges = np.unique(np.quantile(y, np.linspace(0, 1, bins + 1)))
    codes = np.clip(np.searchsorted(edges, y, side="right") - 1, 0, max(len(edges) - 2, 0))
    names = [f"[{edges[i]:.4g}, {edges[i + 1]:.4g}{']' if i == len(edges) - 2 else ')'}"
             for i in range(max(len(edges) - 1, 1))]
    return codes, names, f"{len(names)} quantile bins of the training label (label_bins={bins})"


def run(ctx: AuditContext, model: Any, mcfg: Any, train_data: Any, *, decide: Any, paired_rows: Any,
        no_training: str) -> Section:
    """The mitigation section of a multiclass or regression audit, given the mitigation module's own parts (it
    calls this one): ``decide`` (p-value adjustment and verdicts), ``paired_rows`` (the binary re-audit, for a
    multiclass model's favourable view) and ``no_training`` (what is said without training data)."""
    import time

    from .._tasks import predict_task
    from ..exceptions import ConfigError

    t0 = time.perf_counter()
    inputs, cfg = ctx.inputs, ctx.config
    target = inputs.target
    info: dict[str, Any] = {"method": "Reweighing (Kamiran and Calders; aif360's Reweighing), generalised to "
                                      "several label values: P(group) P(label) / P(group, label)",
                            "remedy_notes": ["group thresholds (the what-if remedies) apply to a yes/no decision; "
                                             f"this audit is {target.task}"]}
    attrs = list(mcfg.attributes or [a.name for a in inputs.attributes])
    unknown = [a for a in attrs if a not in {x.name for x in inputs.attributes}]
    if unknown:
        raise ConfigError(f"mitigate attributes {unknown!r} are not audited protected attributes "
                          f"({[a.name for a in inputs.attributes]}).", code="invalid_option")
    info["attributes"] = attrs
    if train_data is None:
        info.update({"refit": False, "why": "no training data (train_data=): no weights and no refit",
                     "warnings": [no_training.replace("; only the what-if remedies that need no retraining ran", "")]})
        return Section("mitigation", (), tuple(info.items()))
    for col in [inputs.label, *attrs]:
        if col not in train_data.columns:
            raise ConfigError(f"train_data has no column {col!r} (the audit's label and protected attributes are "
                              "needed to weigh its rows).", code="invalid_option")
    codes, names, how = label_codes(ctx, train_data[inputs.label], mcfg.label_bins)
    w = class_weights(train_data, codes, names, attrs)
    info.update({"n_train": int(len(train_data)), "label_values": how, "warnings": list(w.warnings)})
    tables: dict[str, Table] = {"weights": Table.from_records(WEIGHT_COLUMNS, w.cells.to_dict("records"))}
    features = [f for f in inputs.features if f != inputs.label]
    refit, why = refit_on_training(model, train_data, features, inputs.label, w.weights)
    info.update({"refit": refit is not None, "why": why})
    if refit is not None:
        info["refit_seconds"] = round(time.perf_counter() - t0, 4)
        after = predict_task(refit, inputs.data.loc[:, features], target, seed=cfg.seed, check_rows=0)
        if target.task == "regression":
            rows = paired_regression(ctx, after.values)
            columns = CHANGE_COLUMNS
        elif len(target.classes) > MAX_PAIRED_CLASSES:
            rows, columns = [], CLASS_CHANGE_COLUMNS
            info["why"] = (f"{len(target.classes)} classes: the paired re-audit resamples a true x before x after "
                           f"table of C^3 cells per group, and is limited to {MAX_PAIRED_CLASSES} classes")
        else:
            rows = paired_classes(ctx, after.values)
            columns = CLASS_CHANGE_COLUMNS
            if target.favorable:  # "receives a favourable class": the binary re-audit of that view
                fav_after = np.isin(after.values, target.favorable).astype(np.int8)
                rows = [{**r, "class": "(favourable)"} for r in paired_rows(ctx, fav_after, PURPOSE + 100)] + rows
        decide(rows, cfg)
        if rows:
            tables["changes"] = Table.from_records(columns, rows)
    info["time"] = round(time.perf_counter() - t0, 4)
    return Section("mitigation", tuple(tables.items()), tuple(info.items()))
