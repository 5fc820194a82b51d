"""The explanation module: SHAP globally, by group and as gap attribution (which features drive each gap), LIME
cases, and a proxy scan. Reads the audit context (rows, groups, predictions, seed) and returns one frozen section.

Everything about groups is oriented like the disparities: contributions are to the model's output for the
*favourable* outcome (negated when the positive label is unfavourable), so a negative gap means the group gets a
lower favourable output than its reference, and the feature contributions of a gap add up to it exactly.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from .._context import AuditContext
from ..exceptions import ConfigError
from ..explain import ExplainConfig
from ..explain._proxy import PROXY_ASSOCIATION
from ..registry import GateMetric, Module
from ..report import explain_view
from ..record.tables import Section, Table
from ..stats.bootstrap import percentile_interval
from ..stats.score_boot import identity_seed
from ._groups import MIN_INTERVAL_ROWS, group_facts, shown_interval

#: the tables this module writes, and their columns (a stored result is checked against them)
TABLES = {
    "shap_importance": ("feature", "mean_abs_shap", "ci_low", "ci_high", "rank"),
    "shap_by_group": ("attribute", "group", "feature", "mean_shap", "mean_abs_shap", "n"),
    "gap_attribution": ("attribute", "group", "reference", "population", "feature", "contribution", "ci_low",
                        "ci_high", "gap", "n_group", "n_reference", "total"),
    "lime_cases": ("case", "row", "index", "group", "reason", "prediction", "feature", "person_value", "condition", "weight",
                   "stability"),
    "proxies": ("attribute", "feature", "association", "measure", "importance_rank", "flag"),
    "proxy_auc": ("attribute", "auc", "ci_low", "ci_high", "n", "reason"),
    # a multiclass model's: mean |SHAP| of each class's probability (written only for such a model)
    "shap_by_class": ("class", "feature", "mean_abs_shap", "ci_low", "ci_high", "rank"),
}
EXPLANATION_TABLES = TABLES
POPULATIONS = ("all", "favourable outcome", "unfavourable outcome")
TOTAL = "(total gap)"  # the feature shown on the whole gap's row; the row is told apart by ``total``, not by it


def _ci(lo: float, hi: float) -> tuple[float | None, float | None]:
    """An interval, or (None, None) when the resamples cannot move it (it would look certain without being so)."""
    low, high, _ = shown_interval(float(lo), float(hi), MIN_INTERVAL_ROWS)
    return low, high


def allocate(sizes: np.ndarray, budget: int, small: int) -> np.ndarray:
    """Rows to explain from each group of ``sizes`` rows, never more than ``budget`` in all: every group gets up to
    ``small`` rows (whole when it has no more), the rest of the budget is shared in proportion to the rows
    beyond that. When the budget cannot give each group ``small`` rows, each gets the same number (as many as fit);
    when it cannot give each group one row, the largest groups get one."""
    sizes = np.asarray(sizes, dtype=np.int64)
    floor = np.minimum(sizes, small)
    if floor.sum() <= budget:
        extra = sizes - floor
        rest = budget - int(floor.sum())
        if extra.sum() <= rest:
            return sizes.copy()
        k = floor + np.minimum(extra, (rest * extra) // max(int(extra.sum()), 1))
        return _top_up(k, sizes, budget)
    lo, hi = 0, int(sizes.max())  # the largest equal share that fits
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if int(np.minimum(sizes, mid).sum()) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return _top_up(np.minimum(sizes, lo), sizes, budget)


def _top_up(k: np.ndarray, sizes: np.ndarray, budget: int) -> np.ndarray:
    """The budget's rounding remainder: one more row each to the largest groups that have rows left."""
    while True:
        spare = min(budget, int(sizes.sum())) - int(k.sum())
        room = np.flatnonzero(sizes > k)
        if spare <= 0 or not len(room):
            return k
        pick = room[np.argsort(-(sizes[room] - k[room]), kind="stable")[:spare]]
        k[pick] += 1


def _stratified_sample(ctx: AuditContext, budget: int, small: int
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """Sample rows (sorted positions), their weights (group size in the data / rows sampled from it), each finest
    group's rows in the data, and a description of the allocation. At most ``budget`` rows in all (see
    :func:`allocate`); seeded per group name."""
    fin = ctx.finest
    order = np.argsort(fin, kind="stable")
    counts = np.bincount(fin, minlength=len(ctx.finest_names))
    # rows of the data each finest group holds (a sample pulled from an engine stands for more rows)
    population = counts if ctx.row_weights is None else np.bincount(fin, weights=ctx.row_weights,
                                                                    minlength=len(ctx.finest_names))
    starts = np.r_[0, np.cumsum(counts)]
    take = allocate(counts, budget, small)
    rows = []
    for f, names in enumerate(ctx.finest_names):
        size, k = int(counts[f]), int(take[f])
        if size == 0 or k == 0:
            continue
        members = order[starts[f]:starts[f + 1]]
        if k < size:
            rng = np.random.default_rng(identity_seed(ctx.config.seed, 11, names))
            members = np.sort(rng.choice(members, size=k, replace=False))
        rows.append(members)
    rows_a = np.sort(np.concatenate(rows), kind="stable")
    present = counts > 0
    left_out = int((present & (take == 0)).sum())
    alloc = {"budget": int(budget), "groups": int(present.sum()), "rows": int(take.sum()),
             "whole_groups": int((present & (take == counts)).sum()),
             "min_per_group": int(take[present].min()) if present.any() else 0,
             "max_per_group": int(take[present].max()) if present.any() else 0,
             "groups_left_out": left_out}
    return rows_a, _reweight(fin[rows_a], population), population, alloc


def _reweight(strata: np.ndarray, population: np.ndarray) -> np.ndarray:
    """Each row's weight: its finest group's rows in the data over the group's rows taken (sampled, or explained
    when a time budget stopped early)."""
    done = np.bincount(strata, minlength=len(population))
    return population[strata] / done[strata]


def _boot_means(values: np.ndarray, w: np.ndarray, strata: np.ndarray, n_boot: int, rng: np.random.Generator
                ) -> np.ndarray:
    """Weighted means ``(B, k)`` of ``values`` ``(m, k)`` over resamples of its rows within each stratum."""
    counts = np.zeros((n_boot, len(w)))
    for s in np.unique(strata):
        idx = np.flatnonzero(strata == s)
        m = len(idx)
        picks = rng.integers(0, m, size=(n_boot, m)) + (np.arange(n_boot) * m)[:, None]
        counts[:, idx] = np.bincount(picks.ravel(), minlength=n_boot * m).reshape(n_boot, m)
    cw = counts * w
    with np.errstate(invalid="ignore", divide="ignore"):
        return _fixed_order_product(cw, values) / cw.sum(1, keepdims=True)


def _fixed_order_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for ``a`` (B, m) and ``b`` (m, k), summed in a fixed order by numpy (a BLAS product's order
    depends on its thread count, which an audit started from another thread cannot always set)."""
    a = np.ascontiguousarray(a, dtype=float)
    out = np.empty((a.shape[0], b.shape[1]))
    for j in range(b.shape[1]):
        out[:, j] = np.einsum("bm,m->b", a, np.ascontiguousarray(b[:, j], dtype=float))
    return out


def _wmean(values: np.ndarray, w: np.ndarray) -> np.ndarray:
    return _fixed_order_product(w[None, :], values)[0] / w.sum()


def _predictor(model: Any, ctx: AuditContext) -> tuple[Any, str]:
    """The audited output as a function of a feature frame (positive-class probability, decision score or 0/1
    prediction; a regression model's prediction; the probability of a favourable class of a multiclass model),
    and the name of that output."""
    from .._model import predict_fn

    inputs = ctx.inputs
    if inputs.task != "binary":
        from .._tasks import predict_task

        target = inputs.target

        def predict_other(X: pd.DataFrame) -> np.ndarray:
            out = predict_task(model, X, target, seed=0, check_rows=0)
            if target.task == "regression":
                return out.values
            if out.class_scores is None:
                raise ValueError("the model gives no class probabilities (predict_proba): its classes' "
                                 "probabilities cannot be explained")
            return out.class_scores  # (n, C): every class's probability, explained together

        return predict_other, ("prediction" if target.task == "regression"
                               else "probability of a favourable class")
    labels = [inputs.positive_label] + ([inputs.negative_label] if inputs.negative_label is not None else [])
    _, fn, kind = predict_fn(model, inputs.positive_label, labels, ctx.config.threshold)
    kind = ctx.model.score_kind or kind

    def predict(X: pd.DataFrame) -> np.ndarray:
        preds, scores = fn(X)
        return scores if scores is not None else preds.astype(float)

    space = {"probability": "probability", "decision": "decision score"}.get(kind or "", "prediction (0/1)")
    return predict, space


def _worst_group(ctx: AuditContext) -> tuple[Any, int | None, str]:
    """(partition, group index, text) of the group with the lowest favourable-rate ratio to its reference (a
    regression model: the lowest ratio of mean predictions, in the favourable direction)."""
    if ctx.inputs.task == "regression":
        from .regression import group_facts as regression_facts

        best = (np.inf, None, None)
        higher = ctx.inputs.target.direction == "higher"
        for part in ctx.partitions:
            if len(part.members) != 1 or len(part.groups) < 2:
                continue
            facts = regression_facts(ctx, part)
            mean, r = facts.point["mean_prediction"], facts.reference
            for g in range(len(part.groups)):
                if g == r or not facts.sufficient[g] or not (mean[r] > 0 and mean[g] > 0):
                    continue
                ratio = mean[g] / mean[r] if higher else mean[r] / mean[g]
                if ratio < best[0]:
                    best = (ratio, part, g)
        if best[1] is None:
            return None, None, ""
        part, g = best[1], best[2]
        return part, g, (f"{part.attribute} = {part.groups[g]} (mean-prediction ratio {best[0]:.2f} to its "
                         "reference, in the favourable direction)")
    best = (np.inf, None, None)
    for part in ctx.partitions:
        if len(part.members) != 1 or len(part.groups) < 2:
            continue
        facts = group_facts(ctx, part)
        r = facts.reference
        ref_rate = facts.favorable_rate[r]
        for g in range(len(part.groups)):
            if g == r or not facts.sufficient[g] or not ref_rate > 0:
                continue
            ratio = facts.favorable_rate[g] / ref_rate
            if ratio < best[0]:
                best = (ratio, part, g)
    if best[1] is None:
        return None, None, ""
    part, g = best[1], best[2]
    return part, g, f"{part.attribute} = {part.groups[g]} (favourable-rate ratio {best[0]:.2f} to its reference)"


def _choose_cases(ctx: AuditContext, ecfg: ExplainConfig) -> list[tuple[int, str, str]]:
    """(row position, group, reason) of the LIME cases: the user's rows, then borderline, false negative and false
    positive rows of the group with the worst disparity (closest to the threshold where there are scores)."""
    out: list[tuple[int, str, str]] = []
    n = len(ctx.finest)
    for row in ecfg.cases:
        if row >= n:
            from ..exceptions import ConfigError

            raise ConfigError(f"explain option cases names row {row}, but the data has {n:,} rows (positions start "
                              "at 0).", code="invalid_option")
        out.append((row, "", "named by the user"))
    part, g, why = _worst_group(ctx)
    if part is None or ecfg.lime_cases == 0:
        return out
    members = np.flatnonzero(part.finest_map[ctx.finest] == g)
    if ctx.inputs.task == "regression":
        return out + _regression_cases(ctx, ecfg, members, f"{part.attribute} = {part.groups[g]}", why,
                                       [row for row, _, _ in out])
    y = ctx.inputs.y[members]
    p = ctx.model.predictions[members]
    fav = (lambda a: a) if ctx.favorable else (lambda a: 1 - a)
    scores = ctx.model.scores
    dist = np.abs(scores[members] - ctx.config.threshold) if scores is not None and ctx.model.score_kind == \
        "probability" else np.zeros(len(members))
    rng = np.random.default_rng([ctx.config.seed, 0x11AE])
    tie = rng.random(len(members))
    picks = [("borderline: closest to the decision threshold", np.ones(len(members), dtype=bool)),
             ("false negative: deserved the favourable outcome, did not receive it", (fav(y) == 1) & (fav(p) == 0)),
             ("false positive: received the favourable outcome without deserving it", (fav(y) == 0) & (fav(p) == 1))]
    group_name = part.groups[g]
    for reason, mask in picks[:ecfg.lime_cases]:
        cand = np.flatnonzero(mask)
        cand = cand[~np.isin(members[cand], [row for row, _, _ in out])]  # each case a different person
        if len(cand) == 0:
            continue
        best = cand[np.lexsort((tie[cand], dist[cand]))[0]]
        out.append((int(members[best]), f"{part.attribute} = {group_name}", f"{reason}; group: {why}"))
    return out


def _regression_cases(ctx: AuditContext, ecfg: ExplainConfig, members: np.ndarray, group: str, why: str,
                      taken: list[int]) -> list[tuple[int, str, str]]:
    """LIME cases of a regression model's worst group: the row predicted closest to the scoring cut, and the rows
    with the largest error against the person and in their favour."""
    pred = ctx.model.values[members]
    label = ctx.inputs.target.values[members]
    harm = (label - pred) if ctx.inputs.target.direction == "higher" else (pred - label)  # > 0: against them
    cut = ctx.statistic("regression").cut
    rng = np.random.default_rng([ctx.config.seed, 0x11AE])
    tie = rng.random(len(members))
    picks = [("borderline: predicted closest to the scoring cut", np.abs(pred - cut)),
             ("largest error against the person (predicted less favourably than the label)", -harm),
             ("largest error in the person's favour", harm)]
    out: list[tuple[int, str, str]] = []
    for reason, key in picks[:ecfg.lime_cases]:
        cand = np.flatnonzero(~np.isin(members, taken + [row for row, _, _ in out]))
        if len(cand) == 0:
            continue
        best = cand[np.lexsort((tie[cand], key[cand]))[0]]
        out.append((int(members[best]), group, f"{reason}; group: {why}"))
    return out


def _progress_enabled(ecfg: ExplainConfig) -> bool:
    if ecfg.progress is not None:
        return ecfg.progress
    import sys

    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def _bar(items: list, enabled: bool, desc: str) -> Any:
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, file=__import__("sys").stderr, leave=False)


#: the parts of the section, each completing or failing on its own: name -> (timing key, tables it writes)
PARTS = {"SHAP importance": ("shap", ("shap_importance", "shap_by_class")),
         "SHAP by group and gap attribution": ("shap_summaries", ("shap_by_group", "gap_attribution")),
         "LIME cases": ("lime", ("lime_cases",)), "proxy scan": ("proxy", ("proxies", "proxy_auc"))}


def run(ctx: AuditContext, model: Any, ecfg: ExplainConfig, strict: bool = False) -> Section:
    """The explanations section. SHAP importance, SHAP by group with gap attribution, LIME cases and the proxy scan
    each complete or fail on their own: a failure is recorded in ``failed_parts`` (and as a warning) with its
    reason, and the other parts complete (``strict`` re-raises it; a bad option always raises)."""
    progress = _progress_enabled(ecfg)
    timings: dict[str, float] = {}
    info: dict[str, Any] = {"options": ecfg.to_dict(), "seed": ctx.config.seed}
    tables: dict[str, list[dict[str, Any]]] = {k: [] for k in TABLES}
    notes: list[str] = []
    failed: list[dict[str, str]] = []
    data = ctx.inputs.data
    features = [f for f in ctx.inputs.features if f != ctx.inputs.label]
    X_all = data[features]
    task = ctx.inputs.task
    # the explained output is oriented to the favourable outcome: a multiclass model's is the probability of a
    # favourable class already; a regression model's prediction is negated when lower is favourable
    sign = 1.0 if (ctx.favorable or task == "multiclass") else -1.0
    n_boot = min(ctx.config.n_bootstrap, 1000)
    importance_rank: dict[str, int] = {}

    def part(name: str, fn: Any) -> bool:
        """Run one part; on failure its tables are emptied and the reason recorded."""
        t = time.perf_counter()
        try:
            fn()
            return True
        except Exception as exc:  # noqa: BLE001 - one part failing never discards the others
            if strict or isinstance(exc, ConfigError):
                raise
            for k in PARTS[name][1]:
                tables[k] = []
            failed.append({"part": name, "error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"})
            return False
        finally:
            timings[PARTS[name][0]] = time.perf_counter() - t

    shap_state: dict[str, Any] = {}
    no_favourable = task == "multiclass" and not ctx.inputs.target.favorable
    if no_favourable:
        notes.append("without favorable_classes there is no favourable output: SHAP explains each class's "
                     "probability (shap_by_class; the overall importance is the sum over classes), and SHAP by group, "
                     "gap attribution and LIME, which need it, were not computed")
    if model is None:
        notes.append("SHAP and LIME need the model: this audit has precomputed predictions only (model=None)")
    elif not features:
        notes.append("SHAP and LIME need model features: none were given")
    else:
        from ..explain._shap import estimator_kind, split_pipeline, explain_rows

        kind = estimator_kind(split_pipeline(model)[1], task)
        budget = ecfg.rows if kind != "agnostic" else ecfg.agnostic_rows
        rows, w, population, alloc = _stratified_sample(ctx, budget, min(ecfg.small_group, budget))
        info["allocation"] = alloc
        if alloc["groups_left_out"]:
            notes.append(f"the budget of {budget:,} rows is smaller than the {alloc['groups']:,} combinations of "
                         f"protected groups: {alloc['groups_left_out']:,} of them have no explained row")
        rng = np.random.default_rng([ctx.config.seed, 0xB6])
        bg_rows = np.sort(rng.choice(len(data), size=min(ecfg.background, len(data)), replace=False))
        predict, space_hint = _predictor(model, ctx)
        strata = ctx.finest[rows]

        def shap_importance() -> None:
            nonlocal rows, w, strata
            target = ctx.inputs.target
            res = explain_rows(model, X_all.iloc[rows], X_all.iloc[bg_rows], ctx.inputs.positive_label, predict,
                               space_hint, ctx.config.seed, progress=progress, seconds=ecfg.agnostic_seconds,
                               strata=strata, task=task,
                               class_names=target.class_names if task == "multiclass" else (),
                               favourable=target.favorable if task == "multiclass" else ())
            if res.explained is not None and len(res.explained) < len(rows):  # stopped by the time budget
                notes.append(f"the time budget of {ecfg.agnostic_seconds:g} s for the model-agnostic explainer "
                             f"ran out: {len(res.explained):,} of {len(rows):,} sampled rows were explained (taken "
                             "in turn from every combination of groups, weighted back to the data); a rerun may "
                             "explain a different number")
                rows, strata = rows[res.explained], strata[res.explained]
                w = _reweight(strata, population)
            info.update({"explainer": res.explainer, "output_space": res.space, "rows_explained": int(len(rows)),
                         "background_size": int(len(bg_rows)), "mapped_to_original_columns": res.mapped,
                         "base_value": res.base, "sample": "stratified by every combination of protected groups, "
                         f"at most {budget:,} rows in all (groups of up to {min(ecfg.small_group, budget)} rows "
                         "whole when the budget allows), weighted back to the data"})
            if res.note:
                notes.append(res.note)
            feats = list(res.features)
            absv = np.abs(res.values)
            if res.per_class is not None:  # each class's importance; without favourable classes, their sum overall
                per_abs = np.abs(res.per_class)
                if no_favourable:
                    absv = per_abs.sum(-1)
                    info["output_space"] = "each class's probability (importance: the sum over classes)"
                for c, cls in enumerate(res.classes):
                    imp_c = _wmean(per_abs[:, :, c], w)
                    lo_c = hi_c = np.full(len(feats), np.nan)
                    if n_boot:
                        lo_c, hi_c, _ = percentile_interval(_boot_means(per_abs[:, :, c], w, strata, n_boot, rng),
                                                            ctx.config.confidence)
                    for rank, j in enumerate(np.argsort(-imp_c, kind="stable"), 1):
                        lo_j, hi_j = _ci(lo_c[j], hi_c[j])
                        tables["shap_by_class"].append({"class": cls, "feature": feats[j], "mean_abs_shap": imp_c[j],
                                                        "ci_low": lo_j, "ci_high": hi_j, "rank": rank})
            imp = _wmean(absv, w)
            low = high = np.full(len(feats), np.nan)
            if n_boot:
                low, high, _ = percentile_interval(_boot_means(absv, w, strata, n_boot, rng), ctx.config.confidence)
            order = np.argsort(-imp, kind="stable")
            for rank, j in enumerate(order, 1):
                importance_rank[feats[j]] = rank
                lo_j, hi_j = _ci(low[j], high[j])
                tables["shap_importance"].append({"feature": feats[j], "mean_abs_shap": imp[j], "ci_low": lo_j,
                                                  "ci_high": hi_j, "rank": rank})
            shap_state.update(res=res, feats=feats, absv=absv)

        def shap_groups() -> None:
            res, feats, absv = shap_state["res"], shap_state["feats"], shap_state["absv"]
            fav_values = sign * res.values
            fav_output = sign * res.output
            y_fav = ctx.inputs.y[rows] if (ctx.favorable or task == "multiclass") else 1 - ctx.inputs.y[rows]
            pops = {"all": np.ones(len(rows), dtype=bool), "favourable outcome": y_fav == 1,
                    "unfavourable outcome": y_fav == 0}
            if task == "regression":  # no yes/no outcome to split the rows by
                pops = {"all": pops["all"]}
            for part_ in ctx.partitions:
                gcode = part_.finest_map[strata]
                if part_.members:
                    ref = _reference(ctx, part_)
                for gi, gname in enumerate(part_.groups):
                    in_g = gcode == gi
                    if not in_g.any():
                        continue
                    mean_v = _wmean(fav_values[in_g], w[in_g])
                    mean_a = _wmean(absv[in_g], w[in_g])
                    for j, f in enumerate(feats):
                        tables["shap_by_group"].append({"attribute": part_.attribute, "group": gname, "feature": f,
                                                        "mean_shap": mean_v[j], "mean_abs_shap": mean_a[j],
                                                        "n": int(in_g.sum())})
                    if not part_.members or gi == ref or len(part_.groups) < 2:
                        continue
                    for pop, pmask in pops.items():
                        a, b = in_g & pmask, (gcode == ref) & pmask
                        if not a.any() or not b.any():
                            continue
                        contrib = _wmean(fav_values[a], w[a]) - _wmean(fav_values[b], w[b])
                        gap = float(_wmean(fav_output[a][:, None], w[a])[0] - _wmean(fav_output[b][:, None], w[b])[0])
                        if abs(contrib.sum() - gap) > 1e-6 * max(1.0, abs(gap)):
                            raise RuntimeError(f"gap attribution does not add up for {part_.attribute} {gname}: "
                                               f"{contrib.sum()} vs {gap}")
                        lo = hi = np.full(len(feats) + 1, np.nan)
                        if n_boot:
                            va = np.c_[fav_values[a], fav_output[a]]
                            vb = np.c_[fav_values[b], fav_output[b]]
                            reps = (_boot_means(va, w[a], strata[a], n_boot, rng)
                                    - _boot_means(vb, w[b], strata[b], n_boot, rng))
                            lo, hi, _ = percentile_interval(reps, ctx.config.confidence)
                        base = {"attribute": part_.attribute, "group": gname, "reference": part_.groups[ref],
                                "population": pop, "gap": gap, "n_group": int(a.sum()), "n_reference": int(b.sum())}
                        lo_t, hi_t = _ci(lo[-1], hi[-1])
                        tables["gap_attribution"].append({**base, "feature": TOTAL, "contribution": gap,
                                                          "ci_low": lo_t, "ci_high": hi_t, "total": True})
                        for j in np.argsort(-np.abs(contrib), kind="stable"):
                            lo_j, hi_j = _ci(lo[j], hi[j])
                            tables["gap_attribution"].append({**base, "feature": feats[j], "contribution": contrib[j],
                                                              "ci_low": lo_j, "ci_high": hi_j, "total": False})

        def lime_cases() -> None:
            cases = _choose_cases(ctx, ecfg)
            if not cases:
                return
            from ..explain._lime import explain_cases

            X_train = X_all.iloc[rows]
            lime_predict = predict
            if task == "multiclass":  # LIME explains the probability of a favourable class
                fav_cols = list(ctx.inputs.target.favorable)

                def lime_predict(X: pd.DataFrame) -> np.ndarray:
                    return np.asarray(predict(X), dtype=float)[:, fav_cols].sum(1)
            elif space_hint == "decision score":  # LIME needs a probability: the logistic of the decision score

                def lime_predict(X: pd.DataFrame) -> np.ndarray:
                    return 1.0 / (1.0 + np.exp(-np.asarray(predict(X), dtype=float)))

            explained = explain_cases(X_train, X_all.iloc[[c[0] for c in cases]], [c[0] for c in cases], lime_predict,
                                      ctx.config.seed, samples=ecfg.lime_samples, repeats=ecfg.lime_seeds,
                                      top=ecfg.top_features, mode="regression" if task == "regression"
                                      else "classification")
            sampled = ctx.row_weights is not None  # rows pulled from an engine: their index names no one
            for k, ((row, group, reason), case) in enumerate(zip(cases, explained), 1):
                person = X_all.iloc[row]
                for feature, condition, weight in case.conditions:
                    value = person.get(feature) if feature in X_all.columns else None
                    tables["lime_cases"].append({
                        "case": k, "row": row, "index": None if sampled else str(data.index[row]), "group": group,
                        "reason": reason, "prediction": case.prediction, "feature": feature,
                        "person_value": _shown(value), "condition": condition,
                        "weight": weight, "stability": case.stability})
            output = {"probability": f"probability of {ctx.inputs.positive_label!s}",
                      "prediction": "the model's prediction",
                      "decision score": "logistic of the decision score"}.get(space_hint, space_hint)
            info["lime"] = {"output": output, "samples": ecfg.lime_samples, "seeds_per_case": ecfg.lime_seeds,
                            "stability": "mean pairwise Jaccard overlap of the top features across the seeds"}

        if part("SHAP importance", shap_importance) and not no_favourable:
            part("SHAP by group and gap attribution", shap_groups)
        if not no_favourable:
            part("LIME cases", lime_cases)

    if ecfg.proxy:
        part("proxy scan", lambda: _proxy_scan(ctx, ecfg, X_all, importance_rank, tables, progress))
    info["notes"] = notes
    if failed:
        info["failed_parts"] = failed
        info["warnings"] = [f"explanations: the {f['part']} could not be computed ({f['error']}); the other parts "
                            "completed" for f in failed]
    info["timings"] = {k: round(v, 4) for k, v in timings.items()}
    return Section("explanations", tuple((k, Table.from_records(TABLES[k], v)) for k, v in tables.items()
                                         if k != "shap_by_class" or task == "multiclass"), tuple(info.items()))


def _proxy_scan(ctx: AuditContext, ecfg: ExplainConfig, X_all: pd.DataFrame, importance_rank: dict[str, int],
                tables: dict[str, list[dict[str, Any]]], progress: bool = False) -> None:
    from ..explain._proxy import association, proxy_auc

    protected = {a.name for a in ctx.inputs.attributes}
    cols = [c for c in X_all.columns if c not in protected]
    n = len(X_all)
    rng = np.random.default_rng([ctx.config.seed, 0x9F0])
    rows = np.sort(rng.choice(n, size=min(n, ecfg.proxy_rows), replace=False))
    X = X_all.iloc[rows][cols]
    for a in _bar(list(ctx.inputs.attributes), progress, "proxy scan"):
        g = np.asarray(a.groups, dtype=object)[a.codes[rows]]
        res = proxy_auc(X, g, ctx.config.seed, confidence=ctx.config.confidence)
        tables["proxy_auc"].append({"attribute": a.name, "auc": res.auc, "ci_low": res.ci_low, "ci_high": res.ci_high,
                                    "n": res.n, "reason": res.reason})
        for col in cols:
            value, measure = association(X[col], g)
            rank = importance_rank.get(str(col))
            strong = value is not None and value >= PROXY_ASSOCIATION
            important = rank is not None and rank <= ecfg.top_features
            flag = ("proxy: associated with the attribute and among the model's top features" if strong and important
                    else "associated with the attribute" if strong else "")
            tables["proxies"].append({"attribute": a.name, "feature": str(col), "association": value,
                                      "measure": measure, "importance_rank": rank, "flag": flag})


def _reference(ctx: AuditContext, part: Any) -> int:
    """The partition's reference group, as the task's core module chose it."""
    if ctx.inputs.task == "regression":
        from .regression import group_facts as regression_facts

        return regression_facts(ctx, part).reference
    if ctx.inputs.task == "multiclass":
        from .multiclass import group_facts as multiclass_facts

        return multiclass_facts(ctx, part).reference
    return group_facts(ctx, part).reference


def _shown(value: Any) -> str | None:
    """A person's feature value as text (None when missing)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return f"{value:g}" if isinstance(value, float) else str(value)


def _run_engine(env: Any) -> Section:
    from .._scale.sample import scaled_explanations

    return scaled_explanations(env.scaled, env.source, env.model, env.options, env.strict, run)


MODULE = Module(
    name="explanations", option="explain", build=ExplainConfig.build, tasks=("binary", "regression", "multiclass"),
    option_help="true, false or a table of explain options",
    run=lambda env: run(env.ctx, env.model, env.options, env.strict), run_engine=_run_engine,
    tables=TABLES, later=frozenset({"total", "index", "person_value"}),
    kinds={"mean_abs_shap": "float", "mean_shap": "float", "contribution": "float", "gap": "float",
           "weight": "float", "stability": "float", "prediction": "float", "association": "float", "auc": "float",
           "ci_low": "float", "ci_high": "float", "rank": "int", "case": "int", "row": "int", "n_group": "int",
           "n_reference": "int", "n": "int", "importance_rank": "int_or_null", "total": "bool"},
    gate_metrics=(GateMetric("proxy_auc", table="proxy_auc", value="auc", group_label="(from the other features)",
                             undefined="the proxy AUC is undefined",
                             requires="proxy_auc needs the proxy scan: audit with explain=True (audit run --explain)"),),
    title="Explanations and proxies", nav="Explanations", anchor=("explanations", "h-expl", "ec"),
    html=explain_view.blocks, headline=explain_view.explanation_headline, markdown=explain_view.explanation_markdown,
    text=explain_view.explanation_text, lost=explain_view.explanation_lost,
    purposes=((11, "the stratified sample of explained rows"), (0x11AE, "SHAP background rows"),
              (0xB6, "bootstrap of the SHAP matrix"), (0x9F0, "LIME seeds"), (0x9E0, "proxy-scan folds and bootstrap")))
