"""The mitigation module: reweighing weights on the training data, a reweighed refit of a clone of the model, and
a paired before/after re-audit on the same evaluation data, threshold and seed (see ``audit.mitigation``)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .._context import AuditContext, Partition
from ..mitigation import (CHANGE_COLUMNS, WEIGHT_COLUMNS, WHAT_IF_COLUMNS, MitigateConfig, paired_p,
                          refit_on_training, weights_for)
from ..registry import Module
from ..report import explain_view
from ..record.tables import Section, Table
from ..stats.bootstrap import multinomial_tables, percentile_interval
from ..stats.counts import count_metrics
from ..stats.score_boot import identity_seed
from ..stats.significance import adjust
from ._groups import MIN_INTERVAL_ROWS, group_facts, shown_interval
from .bias import DISPARITIES as _ALL_DISPARITIES, components, disparity

DISPARITIES = tuple(d for d in _ALL_DISPARITIES if d.name in (
    "demographic_parity_difference", "demographic_parity_ratio", "equal_opportunity_difference",
    "average_odds_difference", "accuracy_difference"))
PERFORMANCE = ("accuracy", "balanced_accuracy", "selection_rate")


def _rates(ctx: AuditContext, part: Partition, counts: np.ndarray) -> tuple[dict[str, np.ndarray],
                                                                             dict[str, np.ndarray]]:
    """The disparities' per-group quantities (the bias module's own, favourable frame) and the performance metrics
    shown here (positive-label frame, like the metrics table). Kept apart: both have a ``selection_rate``."""
    return components(ctx, part, counts, {}), count_metrics(counts, PERFORMANCE)


def _joint(part: Partition, joint_f: np.ndarray) -> np.ndarray:
    """Sum finest-group joint tables ``(..., F, 8)`` into the partition's groups ``(..., G, 8)``."""
    members = np.zeros((len(part.finest_map), len(part.groups)))
    members[np.arange(len(part.finest_map)), part.finest_map] = 1.0
    return np.moveaxis(np.moveaxis(joint_f, -2, -1) @ members, -1, -2)


def _split(joint: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Confusion counts [TN, FP, FN, TP] before and after from the joint cells y*4 + before*2 + after."""
    j = joint.reshape(joint.shape[:-1] + (2, 2, 2))  # y, before, after
    before = j.sum(-1).reshape(joint.shape[:-1] + (4,))
    after = j.sum(-2).reshape(joint.shape[:-1] + (4,))
    return before, after


def paired_rows(ctx: AuditContext, after: np.ndarray, purpose: int) -> list[dict[str, Any]]:
    """Every metric before (the audited model's predictions) and ``after`` (another set of predictions for the same
    rows), with intervals and the change's interval from the same resamples of the joint table per finest group."""
    inputs, cfg = ctx.inputs, ctx.config
    before = ctx.model.predictions
    F = len(ctx.finest_names)
    cell = ctx.finest.astype(np.int64) * 8 + inputs.y.astype(np.int64) * 4 + before * 2 + after
    joint_f = np.bincount(cell, minlength=F * 8).reshape(F, 8)
    B = cfg.n_bootstrap
    boot_f = None
    if B:
        seeds = [identity_seed(cfg.seed, purpose, n) for n in ctx.finest_names]
        boot_f = multinomial_tables(joint_f, B, seeds).astype(float)
    rows: list[dict[str, Any]] = []
    for part in ctx.partitions:
        jb = _joint(part, joint_f.astype(float))
        cb, ca = _split(jb)
        (mb, pb), (ma, pa) = _rates(ctx, part, cb), _rates(ctx, part, ca)
        rb = ra = prb = pra = None
        if boot_f is not None:
            cbr, car = _split(_joint(part, boot_f))
            (rb, prb), (ra, pra) = _rates(ctx, part, cbr), _rates(ctx, part, car)
        items = []
        for metric in PERFORMANCE:  # per group (and overall)
            for gi, g in enumerate(part.groups):
                items.append((g, "", metric, pb[metric][gi], pa[metric][gi],
                              None if prb is None else prb[metric][:, gi], None if pra is None else pra[metric][:, gi]))
        if part.members and len(part.groups) >= 2:
            r = group_facts(ctx, part).reference
            fav = inputs.favorable
            for d in DISPARITIES:  # the bias module's definitions and signs
                vb, va = disparity(d, mb, r, fav), disparity(d, ma, r, fav)
                repb = None if rb is None else disparity(d, rb, r, fav)
                repa = None if ra is None else disparity(d, ra, r, fav)
                for gi, g in enumerate(part.groups):
                    if gi != r:
                        items.append((g, part.groups[r], d.name, vb[gi], va[gi], None if repb is None else repb[:, gi],
                                      None if repa is None else repa[:, gi]))
        for g, ref, metric, vb, va, repb, repa in items:
            row = {"attribute": part.attribute, "group": g, "reference": ref, "metric": metric,
                   "before": float(vb), "after": float(va), "change": float(va - vb)}
            if repb is not None:
                lo, hi, _ = percentile_interval(np.c_[repb, repa, repa - repb], cfg.confidence)
                for k, key in enumerate(("before", "after", "change")):  # withheld when the resamples cannot move it
                    row[f"{key}_low"], row[f"{key}_high"], _ = shown_interval(float(lo[k]), float(hi[k]),
                                                                              MIN_INTERVAL_ROWS)
                row["_p"] = paired_p(float(va - vb), repa - repb)
            rows.append(row)
    return rows


def _decide(rows: list[dict[str, Any]], cfg: Any) -> None:
    """p-values adjusted across ``rows`` (in place), and verdicts."""
    ps = np.array([r.get("_p", np.nan) for r in rows], dtype=float)
    for r, p in zip(rows, adjust(ps, cfg.correction)):
        r.pop("_p", None)
        if not (np.isfinite(r["before"]) and np.isfinite(r["after"])):
            r["verdict"] = "undefined"
        elif np.isfinite(p):
            r["p_value"] = float(p)
            r["verdict"] = "significant" if p < cfg.alpha else "not significant"
        else:
            r["verdict"] = "not tested"


def run(ctx: AuditContext, model: Any, mcfg: MitigateConfig, train_data: Any, train: Any = None) -> Section:
    """Reweighing of ``train_data`` (``train``: those rows validated already, else validated here), the refit and
    its paired re-audit, and the what-if remedies."""
    t0 = time.perf_counter()
    inputs, cfg = ctx.inputs, ctx.config
    info: dict[str, Any] = {"method": "Reweighing (Kamiran and Calders; aif360's Reweighing, extended to several "
                                      "groups and their combinations)"}
    if train_data is None:  # no weights and no refit; the remedies that need no retraining still run
        info.update({"refit": False, "why": "no training data (train_data=): no weights and no refit",
                     "warnings": [NO_TRAINING_DATA],
                     "attributes": list(mcfg.attributes or [a.name for a in inputs.attributes])})
        tables = _what_if(ctx, list(info["attributes"]), [], info, mcfg.splits)
        info["time"] = round(time.perf_counter() - t0, 4)
        return Section("mitigation", tuple(tables.items()), tuple(info.items()))
    from .._validation import validate_inputs
    from ..config import AuditConfig

    attrs = list(mcfg.attributes or [a.name for a in inputs.attributes])
    unknown = [a for a in attrs if a not in {x.name for x in inputs.attributes}]
    if unknown:
        from ..exceptions import ConfigError

        raise ConfigError(f"mitigate attributes {unknown!r} are not audited protected attributes "
                          f"({[a.name for a in inputs.attributes]}).", code="invalid_option")
    if train is None:
        train = validate_inputs(train_data, label=inputs.label, positive_label=inputs.positive_label,
                                favorable=inputs.favorable, protected=attrs, reference=None, features=[],
                                model_features=None, predictions=inputs.label, scores=None,
                                config=AuditConfig(n_bootstrap=0))
    names = (str(inputs.positive_label), str(inputs.negative_label))
    w = weights_for(train_data, train.y.astype(np.int64), attrs, names)
    info.update({"attributes": attrs, "n_train": int(train.n), "warnings": list(w.warnings)})
    from ..mitigation import audited_groups

    weighed = set(w.cells["group"])
    absent = [g for g in audited_groups(inputs.data, attrs) if g not in weighed]
    if absent:
        info["absent_from_training"] = absent
        info["warnings"].append(f"reweighing: {len(absent)} audited group(s) have no rows in the training data "
                                f"({', '.join(absent[:10])}{', ...' if len(absent) > 10 else ''}), so they get no "
                                "weight and the refit learns nothing about them")
    tables: dict[str, Table] = {"weights": Table.from_records(WEIGHT_COLUMNS, w.cells.to_dict("records"))}
    features = [f for f in inputs.features if f != inputs.label]
    refit, why = refit_on_training(model, train_data, features, inputs.label, w.weights)
    info.update({"refit": refit is not None, "why": why})
    remedies: list[tuple[str, list[np.ndarray], str]] = []
    if refit is not None:
        info["refit_seconds"] = round(time.perf_counter() - t0, 4)
        from .._model import run_model

        labels = [inputs.positive_label] + ([inputs.negative_label] if inputs.negative_label is not None else [])
        after = run_model(refit, inputs.data.loc[:, features], positive=inputs.positive_label, label_values=labels,
                          threshold=cfg.threshold, seed=cfg.seed, check_rows=0).predictions
        rows = paired_rows(ctx, after, 21)
        _decide(rows, cfg)
        tables["changes"] = Table.from_records(CHANGE_COLUMNS, rows)
        remedies.append(("reweighing (refit)", [after], "retrains the model"))
    tables.update(_what_if(ctx, attrs, remedies, info, mcfg.splits))
    info["time"] = round(time.perf_counter() - t0, 4)
    return Section("mitigation", tuple(tables.items()), tuple(info.items()))


def _what_if(ctx: AuditContext, attrs: list[str], remedies: list[tuple[str, list[np.ndarray], str]],
             info: dict[str, Any], splits: int = 1) -> dict[str, Table]:
    """The what-if table: ``remedies`` so far plus the group-threshold remedies, each against the audited model.
    A remedy with several prediction sets (one per cross-fit split) is reported over all of them: the mean of
    its after-values, the range of the split values (``after_min``, ``after_max``), intervals covering every
    split's, and the largest of the splits' adjusted p-values."""
    t1 = time.perf_counter()
    remedies = list(remedies)
    try:
        found, notes = _threshold_remedies(ctx, attrs, splits)
        remedies.extend(found)
        info["remedy_notes"] = notes
    except Exception as exc:  # noqa: BLE001 - a remedy that fails is recorded; the rest completes
        info["remedy_notes"] = [f"group thresholds failed: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"]
    what_if: list[dict[str, Any]] = []
    for k, (name, pred_sets, note) in enumerate(remedies):
        per_split = []
        for preds in pred_sets:
            rows = [r for r in paired_rows(ctx, preds, 30 + k) if r["metric"] in WHAT_IF_METRICS
                    and (r["attribute"] in attrs or r["attribute"] == "(overall)")]
            _decide(rows, ctx.config)
            per_split.append(rows)
        what_if.extend({**r, "remedy": name, "note": note} for r in _over_splits(per_split, ctx.config.alpha))
    info["remedies_seconds"] = round(time.perf_counter() - t1, 4)
    return {"what_if": Table.from_records(WHAT_IF_COLUMNS, what_if)} if what_if else {}


def _over_splits(per_split: list[list[dict[str, Any]]], alpha: float) -> list[dict[str, Any]]:
    """One row per metric over the cross-fit splits' rows (aligned: the same partitions and groups)."""
    out = []
    for rows in zip(*per_split):
        first = rows[0]
        afters = [r["after"] for r in rows]
        row = dict(first)
        row["after_min"], row["after_max"] = min(afters), max(afters)
        if len(rows) == 1:
            out.append(row)
            continue
        row["after"] = float(np.mean(afters))
        row["change"] = row["after"] - row["before"]
        for key in ("after", "change"):
            lows = [r.get(f"{key}_low") for r in rows]
            highs = [r.get(f"{key}_high") for r in rows]
            shown = all(v is not None for v in lows + highs)
            row[f"{key}_low"] = min(lows) if shown else None
            row[f"{key}_high"] = max(highs) if shown else None
        verdicts = [r["verdict"] for r in rows]
        ps = [r.get("p_value") for r in rows]
        row.pop("p_value", None)
        if "undefined" in verdicts or not np.isfinite(row["after"]):
            row["verdict"] = "undefined"
        elif all(p is not None for p in ps):
            row["p_value"] = max(ps)
            row["verdict"] = "significant" if row["p_value"] < alpha else "not significant"
        else:
            row["verdict"] = "not tested"
        out.append(row)
    return out


WHAT_IF_METRICS = ("demographic_parity_difference", "demographic_parity_ratio", "equal_opportunity_difference",
                   "average_odds_difference", "accuracy", "balanced_accuracy")
#: groups with fewer rows are pooled for the threshold optimiser (it needs each group in both halves)
_MIN_THRESHOLD_GROUP = 20


def _given_scores(probability: bool) -> Any:
    """A fitted scikit-learn 'estimator' whose outputs are the audited model's scores (column 0 of X): lets
    fairlearn's ThresholdOptimizer work from the scores alone, for any model or precomputed scores."""
    from sklearn.base import BaseEstimator, ClassifierMixin

    class GivenScores(ClassifierMixin, BaseEstimator):
        def __init__(self, probability: bool = True) -> None:
            self.probability = probability

        def fit(self, X: Any, y: Any = None) -> "GivenScores":
            self.classes_ = np.array([0, 1])
            return self

        def predict_proba(self, X: Any) -> np.ndarray:
            s = np.asarray(X, dtype=float)[:, 0]
            return np.c_[1.0 - s, s]

        def decision_function(self, X: Any) -> np.ndarray:
            return np.asarray(X, dtype=float)[:, 0]

        def predict(self, X: Any) -> np.ndarray:
            return (np.asarray(X, dtype=float)[:, 0] >= (0.5 if self.probability else 0.0)).astype(int)

    return GivenScores(probability).fit(None)


def _threshold_remedies(ctx: AuditContext, attrs: list[str], splits: int = 1
                        ) -> tuple[list[tuple[str, list[np.ndarray], str]], list[str]]:
    """Group-specific thresholds (fairlearn's ThresholdOptimizer) for demographic parity and for equalized odds,
    cross-fitted: fitted on one half of the rows and applied to the other, and the other way round, so no remedy
    is graded on the rows it was fitted on; repeated over ``splits`` seeded splits into halves. Their decisions are
    randomised (seeded) between two thresholds. Groups that cannot be fitted (fewer than two rows of either label)
    keep the audited model's decisions and are named in the notes."""
    scores = ctx.model.scores
    if scores is None:
        return [], ["group thresholds need scores (a model with predict_proba or decision_function, or scores=)"]
    from fairlearn.postprocessing import ThresholdOptimizer

    from .._keys import join_key

    inputs, cfg = ctx.inputs, ctx.config
    names = {a.name: a for a in inputs.attributes}
    key = np.zeros(len(scores), dtype=np.int64)
    for a in attrs:
        key = key * len(names[a].groups) + names[a].codes
    uniq, key = np.unique(key, return_inverse=True)
    first = np.unique(key, return_index=True)[1]
    label_of = [join_key([str(names[a].groups[names[a].codes[i]]) for a in attrs]) for i in first]
    counts = np.bincount(key)
    notes = []
    small = counts < _MIN_THRESHOLD_GROUP
    if small.any():
        notes.append(f"{int(small.sum())} group(s) with fewer than {_MIN_THRESHOLD_GROUP} rows share one threshold")
        key = np.where(small[key], -1, key)
    y = inputs.y.astype(int)
    # a group needs both labels in each fitting half: with halves stratified by label, two rows of each suffice
    fit_keys, inv = np.unique(key, return_inverse=True)
    pos = np.bincount(inv, weights=y, minlength=len(fit_keys))
    neg = np.bincount(inv, minlength=len(fit_keys)) - pos
    fittable = (pos >= 2) & (neg >= 2)
    if not fittable.any():
        return [], notes + ["group thresholds: no group has two or more rows of each label to fit a threshold on"]
    if not fittable.all():
        pooled = ", ".join(label_of[k] for k in np.flatnonzero(small))
        left = [(f"the pooled small groups ({pooled})" if k == -1 else label_of[k]) for k in fit_keys[~fittable]]
        notes.append(f"group thresholds leave out {', '.join(left)} (fewer than two rows of each label, so no "
                     "threshold can be fitted): those rows keep the audited model's decisions")
    use = fittable[inv]
    X = scores.reshape(-1, 1)
    probability = ctx.model.score_kind == "probability"
    if splits > 1:
        notes.append(f"group thresholds: cross-fitted over {splits} seeded splits into halves; after-values are the "
                     "mean over the splits, after_min and after_max their range, and intervals cover every split's")
    folds = []  # one seeded split into halves per split, stratified by group and label; shared by the constraints
    for split in range(splits):
        rng = np.random.default_rng([cfg.seed, 0x7E5] if split == 0 else [cfg.seed, 0x7E5, split])
        fold = np.empty(len(y), dtype=np.int8)
        for stratum in np.unique(key * 2 + y):
            idx = np.flatnonzero(key * 2 + y == stratum)
            fold[rng.permutation(idx)] = np.arange(len(idx)) % 2
        folds.append(fold)
    out = []
    for constraint, label in (("demographic_parity", "group thresholds: demographic parity"),
                              ("equalized_odds", "group thresholds: equalized odds")):
        sets = []
        for split, fold in enumerate(folds):
            preds = ctx.model.predictions.astype(np.int8, copy=True)
            for k in (0, 1):
                fit_rows, apply_rows = (fold != k) & use, (fold == k) & use
                opt = ThresholdOptimizer(estimator=_given_scores(probability), constraints=constraint, prefit=True,
                                         predict_method="predict_proba" if probability else "decision_function")
                opt.fit(X[fit_rows], y[fit_rows], sensitive_features=key[fit_rows])
                state = (int(cfg.seed) * 2 + k + 7919 * split) % (2**32)
                preds[apply_rows] = np.asarray(opt.predict(X[apply_rows], sensitive_features=key[apply_rows],
                                                           random_state=state), dtype=np.int8)
            sets.append(preds)
        out.append((label, sets, "no retraining; cross-fitted on two halves; randomised decisions (seeded)"))
    return out, notes


NO_TRAINING_DATA = ("mitigate: no training data was given (train_data=, --train-data), so reweighing did not run: no "
                    "weights, no reweighed refit and no before/after comparison; only the what-if remedies that need "
                    "no retraining ran")


def _refuse_without_training(env: Any) -> None:
    """Under ``strict``, reweighing that cannot run is an error, not a warning."""
    if env.train_data is None and env.strict:
        from ..exceptions import ConfigError

        raise ConfigError(NO_TRAINING_DATA.replace("mitigate: ", "mitigate needs training data: ", 1) + " (strict).",
                          code="no_training_data")


def _run(env: Any) -> Section:
    _refuse_without_training(env)
    if env.ctx.inputs.task != "binary":
        from .mitigate_tasks import run as run_task

        return run_task(env.ctx, env.model, env.options, env.train_data, decide=_decide, paired_rows=paired_rows,
                        no_training=NO_TRAINING_DATA)
    return run(env.ctx, env.model, env.options, env.train_data, env.training() if env.training is not None else None)


def _run_engine(env: Any) -> Section:
    from .._scale.sample import scaled_mitigation

    _refuse_without_training(env)
    return scaled_mitigation(env.scaled, env.source, env.model, env.options, env.train_data, run)


MODULE = Module(
    name="mitigation", option="mitigate", build=MitigateConfig.build,
    option_help="true, false or a table of mitigate options",
    run=_run, run_engine=_run_engine,
    tables={"weights": WEIGHT_COLUMNS, "changes": CHANGE_COLUMNS[:3] + ("class",) + CHANGE_COLUMNS[3:],
            "what_if": WHAT_IF_COLUMNS},
    later=frozenset({"after_min", "after_max", "class"}), tasks=("binary", "regression", "multiclass"),
    kinds={"n": "int", "weight": "float", "base_rate_before": "float", "base_rate_after": "float",
           **{c: "float" for c in CHANGE_COLUMNS if c.startswith(("before", "after", "change"))},
           "p_value": "float", "after_min": "float", "after_max": "float"},
    title="Mitigation", anchor=("mitigation", "h-mit", "ms"), html=explain_view.mitigation_blocks,
    headline=explain_view.mitigation_headline, markdown=explain_view.mitigation_markdown,
    text=explain_view.mitigation_text,
    purposes=((21, "paired before/after resamples"), (121, "paired resamples of a multiclass model's favourable view"),
              *((30 + k, f"paired resamples of what-if remedy {k + 1}") for k in range(10)),
              (0x7E5, "cross-fit halves of the group-threshold remedies")))
