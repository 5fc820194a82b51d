"""Reweighing (Kamiran & Calders, as aif360's ``Reweighing``) and the paired before/after re-audit.

``w(g, y) = P(g) P(y) / P(g, y)``: after weighting, every group has the same label base rate. Beyond aif360,
groups may be multi-valued and are the combinations of all the chosen attributes (aif360 compares one
privileged and one unprivileged group and leaves rows in neither at weight 1). A (group, label) cell with no
rows cannot be reweighed into balance: it is named in a warning (aif360 would give it an infinite weight), and no
row ever gets an infinite or NaN weight.

The paired re-audit resamples, per combination of protected groups, the joint table label x prediction before x
prediction after: the same resampled rows count for both models, so the change of every metric has its own
interval from one set of resamples (narrower than two independent intervals would suggest).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ._parallel import fit_threads
from .exceptions import ConfigError
from .params import Integer, check

#: the mitigation section's tables (``after_min``/``after_max`` were added later: a stored table may lack them)
WEIGHT_COLUMNS = ("group", "label", "n", "weight", "base_rate_before", "base_rate_after")
CHANGE_COLUMNS = ("attribute", "group", "reference", "metric", "before", "before_low", "before_high", "after",
                  "after_low", "after_high", "change", "change_low", "change_high", "p_value", "verdict")
WHAT_IF_COLUMNS = ("remedy", "note") + CHANGE_COLUMNS + ("after_min", "after_max")


@dataclass(frozen=True)
class Weights:
    weights: np.ndarray  # one per row
    cells: pd.DataFrame  # group, label, n, weight, base_rate_before, base_rate_after
    warnings: tuple[str, ...]


def _groups(data: pd.DataFrame, protected: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    from ._keys import join_key
    from ._validation import factorize, group_name

    codes = np.zeros(len(data), dtype=np.int64)
    names: list[list[str]] = [[]]
    for col in protected:
        c, uniques, _ = factorize(data[col])
        labels = [group_name(u) for u in uniques]
        codes = codes * len(labels) + c
        names = [n + [lab] for n in names for lab in labels]
    present, inv = np.unique(codes, return_inverse=True)
    return inv, [join_key(names[p]) for p in present]


def audited_groups(data: pd.DataFrame, protected: Sequence[str]) -> list[str]:
    """The combinations of ``protected`` present in ``data``, named as the weights table names them."""
    return _groups(data, protected)[1]


def weights_for(data: pd.DataFrame, y: np.ndarray, protected: Sequence[str], label_names: tuple[str, str],
                counts: np.ndarray | None = None) -> Weights:
    """Reweighing weights of rows with 0/1 labels ``y`` (1 = positive label), groups = combinations of ``protected``;
    with ``counts``, each row of ``data`` stands for that many rows (an engine's group x label counts)."""
    g, names = _groups(data, protected)
    mult = np.ones(len(y)) if counts is None else np.asarray(counts, dtype=float)
    n = float(mult.sum())
    G = len(names)
    n_gy = np.bincount(g * 2 + y, weights=mult, minlength=2 * G).reshape(G, 2)
    n_g = n_gy.sum(1)
    n_y = n_gy.sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        w_cell = (n_g[:, None] * n_y[None, :]) / (n * n_gy)
    warnings = []
    rows = []
    for i, name in enumerate(names):
        for lab in (1, 0):
            if n_gy[i, lab] == 0 and n_y[lab] > 0:
                warnings.append(f"reweighing: group {name!r} has no rows with label {label_names[1 - lab]!r}, so its "
                                "base rate cannot be balanced (aif360 would give that empty cell an infinite weight)")
            rows.append({"group": name, "label": label_names[1 - lab], "n": int(n_gy[i, lab]),
                         "weight": float(w_cell[i, lab]) if n_gy[i, lab] else None})
    w = w_cell[g, y]
    assert np.isfinite(w).all()  # every row's own cell has rows: its weight is finite and positive
    before = n_gy[:, 1] / n_g
    wy = np.bincount(g, weights=w * y * mult, minlength=G)
    wn = np.bincount(g, weights=w * mult, minlength=G)
    after = wy / wn
    cells = pd.DataFrame(rows)
    cells["base_rate_before"] = np.repeat(before, 2)
    cells["base_rate_after"] = np.repeat(after, 2)
    return Weights(w, cells, tuple(warnings))


def class_weights(data: pd.DataFrame, codes: np.ndarray, label_names: Sequence[str], protected: Sequence[str]
                  ) -> Weights:
    """Reweighing weights of rows whose label is one of several values (``codes`` into ``label_names``: a
    multiclass label's classes, a regression label's bins): ``P(group) P(label) / P(group, label)``, so that once
    weighted every combination of the ``protected`` columns has the data's overall label distribution. The weights
    table holds one row per group and label value; ``base_rate_before`` / ``_after`` are that value's share of the
    group's rows before and after weighting."""
    g, names = _groups(data, protected)
    K, G = len(label_names), len(names)
    codes = np.asarray(codes, dtype=np.int64)
    n = float(len(codes))
    n_gy = np.bincount(g * K + codes, minlength=G * K).reshape(G, K).astype(float)
    n_g, n_y = n_gy.sum(1), n_gy.sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        w_cell = (n_g[:, None] * n_y[None, :]) / (n * n_gy)
    w = w_cell[g, codes]
    assert np.isfinite(w).all()  # every row's own cell has rows
    after = np.zeros((G, K))
    np.add.at(after, (g, codes), w)
    after /= after.sum(1, keepdims=True)
    warnings, rows = [], []
    for i, name in enumerate(names):
        missing = [label_names[k] for k in range(K) if n_gy[i, k] == 0 and n_y[k] > 0]
        if missing:
            warnings.append(f"reweighing: group {name!r} has no rows with label value(s) {', '.join(missing[:5])}, so "
                            "its label distribution cannot be balanced (aif360 would give an empty cell an infinite "
                            "weight)")
        for k in range(K):
            rows.append({"group": name, "label": label_names[k], "n": int(n_gy[i, k]),
                         "weight": float(w_cell[i, k]) if n_gy[i, k] else None,
                         "base_rate_before": float(n_gy[i, k] / n_g[i]), "base_rate_after": float(after[i, k])})
    return Weights(w, pd.DataFrame(rows, columns=list(WEIGHT_COLUMNS)), tuple(warnings))


def reweighing_weights(data: pd.DataFrame, *, label: str, protected: Sequence[str] | str, positive_label: Any = None,
                       favorable: bool = True) -> pd.Series:
    """One reweighing weight per row of ``data``, for users who train themselves.

    Kamiran and Calders' reweighing (aif360's ``Reweighing``, extended to several attributes): each
    (group, label) cell gets the weight ``P(group) P(label) / P(group, label)``, so that every combination of
    the ``protected`` columns has the data's overall base rate once weighted.

    Parameters
    ----------
    data : DataFrame
        Training rows with the label and the protected columns.
    label : str
        The label column.
    protected : str or list of str
        Protected columns; groups are their combinations.
    positive_label : optional
        The positive class; inferred for 0/1 or boolean labels.
    favorable : bool, default True
        Accepted for symmetry with :func:`audit.run_audit`; both labels are balanced, so it does not change
        the weights.

    Returns
    -------
    Series
        The weights, indexed like ``data`` (name ``reweighing_weight``).

    Examples
    --------
    >>> import audit
    >>> from audit.datasets import load_adult
    >>> train = load_adult("train")
    >>> w = audit.reweighing_weights(train, label="income", positive_label=">50K", protected=["sex"])
    >>> positive = train["income"] == ">50K"
    >>> rates = (w * positive).groupby(train["sex"]).sum() / w.groupby(train["sex"]).sum()
    >>> [round(float(r), 4) for r in rates]           # equal once weighted
    [0.2408, 0.2408]

    Pass them to your own fit: ``model.fit(X, y, sample_weight=w)`` (a pipeline:
    ``fit(X, y, logisticregression__sample_weight=w)``).
    """
    from ._validation import validate_inputs
    from .config import AuditConfig

    inputs = validate_inputs(data, label=label, positive_label=positive_label, favorable=favorable,
                             protected=protected, reference=None, features=[], model_features=None,
                             predictions=label, scores=None, config=AuditConfig(n_bootstrap=0))
    names = (str(inputs.positive_label), str(inputs.negative_label))
    res = weights_for(data, inputs.y.astype(np.int64), [a.name for a in inputs.attributes], names)
    return pd.Series(res.weights, index=data.index, name="reweighing_weight")


@dataclass(frozen=True)
class MitigateConfig:
    """``run_audit(mitigate=...)``: True, or a dict. ``attributes``: the protected columns whose combinations are
    reweighed (default: all audited ones); ``splits``: seeded splits into halves over which the group-threshold
    remedies are cross-fitted (their after-values are the mean over the splits, with the range)."""

    attributes: tuple[str, ...] | None = None
    splits: int = 3
    label_bins: int = 5  # a regression label's quantile bins for the weights

    def __post_init__(self) -> None:
        check("splits", self.splits, Integer(1, 50), prefix="mitigate ")
        check("label_bins", self.label_bins, Integer(2, 100), prefix="mitigate ")

    @classmethod
    def build(cls, value: Any) -> "MitigateConfig | None":
        """``mitigate=`` as given to run_audit: False/None (off), True (all attributes), or a dict."""
        from .config import module_switch

        def from_dict(d: dict[str, Any]) -> "MitigateConfig":
            unknown = sorted(set(d) - {"attributes", "splits", "label_bins"})
            if unknown:
                raise ConfigError(f"unknown mitigate option(s) {', '.join(unknown)}; known: attributes, splits, "
                                  "label_bins.", code="unknown_option")
            attrs = d.get("attributes")
            if attrs is not None:
                if isinstance(attrs, str):
                    attrs = [attrs]
                if not (isinstance(attrs, (list, tuple)) and attrs and all(isinstance(a, str) for a in attrs)):
                    raise ConfigError(f"mitigate attributes={attrs!r} is invalid: give a list of protected columns.",
                                      code="invalid_option")
                repeated = sorted({a for a in attrs if list(attrs).count(a) > 1})
                if repeated:
                    raise ConfigError(f"mitigate attributes={list(attrs)!r} names {', '.join(repeated)} more than "
                                      "once: give each protected column once.", code="invalid_option")
                attrs = tuple(attrs)
            return cls(attrs, d.get("splits", 3), d.get("label_bins", 5))

        return module_switch(value, cls, "mitigate", from_dict)


def refit_on_training(model: Any, train_data: pd.DataFrame, features: list[str], label: str, w: np.ndarray
                      ) -> tuple[Any | None, str]:
    """:func:`refit_with_weights` on the training rows' ``features`` and ``label``; (None, why) when the training
    data lacks some of the model's features."""
    missing = [f for f in features if f not in train_data.columns]
    if missing:
        return None, f"the training data lacks the model's feature(s) {missing[:5]}"
    return refit_with_weights(model, train_data[features], train_data[label], w)


def refit_with_weights(model: Any, X: pd.DataFrame, y: pd.Series, w: np.ndarray) -> tuple[Any | None, str]:
    """A clone of ``model`` fitted with ``sample_weight`` routed to its final step; (None, why) when impossible.
    The user's fitted model is never touched."""
    if model is None:
        return None, "no model to refit (precomputed predictions)"
    try:
        from sklearn.base import clone
        from sklearn.utils.validation import has_fit_parameter
    except ImportError:  # pragma: no cover
        return None, "scikit-learn is needed to refit"
    if not hasattr(model, "fit") or not hasattr(model, "get_params"):
        return None, f"{type(model).__name__} is not a scikit-learn estimator (it cannot be cloned and refitted)"
    try:
        fresh = clone(model)
    except Exception as exc:  # noqa: BLE001
        return None, f"the model cannot be cloned: {type(exc).__name__}: {exc}"
    steps = getattr(fresh, "steps", None)
    final = steps[-1][1] if isinstance(steps, list) and steps else fresh
    if not has_fit_parameter(final, "sample_weight"):
        return None, f"{type(final).__name__}.fit does not accept sample_weight"
    kwargs = {f"{steps[-1][0]}__sample_weight": w} if isinstance(steps, list) and steps else {"sample_weight": w}
    with fit_threads(len(X)) as n:  # the library's fit of a clone: its threads sized to the CPUs it may use
        _cap_jobs(fresh, n)
        fresh.fit(X, y, **kwargs)
    return fresh, ""


#: parameters through which estimators choose their own thread count (scikit-learn, LightGBM, XGBoost)
JOB_PARAMS = ("n_jobs", "n_threads", "nthread", "thread_count")


def _cap_jobs(estimator: Any, n: int) -> None:
    """Thread-count parameters of a clone (every step of a pipeline) left to "all CPUs" (0, -1, more than ``n``, or
    None outside scikit-learn) set to ``n``: LightGBM and XGBoost read their own parameter, not OpenMP's limit."""
    try:
        params = estimator.get_params(deep=True)
    except Exception:  # noqa: BLE001 - an estimator without parameters keeps its own
        return
    capped = {}
    for key, value in params.items():
        if key.rsplit("__", 1)[-1] not in JOB_PARAMS:
            continue
        owner = params.get(key.rsplit("__", 1)[0], estimator) if "__" in key else estimator
        # scikit-learn's None means one job (joblib's default); LightGBM's and XGBoost's None means every CPU
        unset_is_all = not type(owner).__module__.startswith("sklearn.")
        if value is None and unset_is_all or (isinstance(value, int) and not isinstance(value, bool)
                                              and (value <= 0 or value > n)):
            capped[key] = n
    if capped:
        try:
            estimator.set_params(**capped)
        except Exception:  # noqa: BLE001 - a parameter it lists but refuses: keep its own
            pass


def paired_p(change: float, reps: np.ndarray) -> float:
    """Two-sided Wald p-value of a paired change from its bootstrap replicates (NaN if they cannot move)."""
    from .stats.significance import wald_p

    reps = reps[np.isfinite(reps)]
    if len(reps) < 2:
        return math.nan
    return wald_p(change, float(np.std(reps, ddof=1)))
