"""SHAP values in the user's own columns.

* Tree models (scikit-learn trees, forests, gradient boosting, HistGradientBoosting; lightgbm, xgboost): exact
  TreeSHAP (shap's C++ code, or the library's own ``pred_contrib``) on the final estimator of a pipeline,
  applied to the transformed rows.
* Linear models (``coef_`` and ``intercept_``): the exact linear explanation, ``coef * (x - mean(background))``.
* Anything else, plain functions included: shap's permutation explainer on the raw columns, strings coded as
  integers for shap's masker (which cannot hold text, shap#3656) and decoded inside the function it calls.

Values of columns that one original column expanded into (one-hot dummies) are summed row by row (exact, by
additivity) before any magnitude is taken. The map from transformed to original columns is measured, not
guessed: each original column is changed in turn and the transformed columns that move are its own.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

_TREE_SKLEARN = {"DecisionTreeClassifier", "ExtraTreeClassifier", "RandomForestClassifier", "ExtraTreesClassifier",
                 "GradientBoostingClassifier", "HistGradientBoostingClassifier", "DecisionTreeRegressor",
                 "ExtraTreeRegressor", "RandomForestRegressor", "ExtraTreesRegressor", "GradientBoostingRegressor",
                 "HistGradientBoostingRegressor"}
#: tree classifiers whose TreeSHAP values are in probability space, class by class (averaged leaf probabilities):
#: a multiclass model's favourable-class probability is their sum over the favourable classes, exactly
_PROBABILITY_TREES = {"DecisionTreeClassifier", "ExtraTreeClassifier", "RandomForestClassifier",
                      "ExtraTreesClassifier"}


@dataclass(frozen=True)
class ShapResult:
    values: np.ndarray  # (n, F) signed contributions per original column (or transformed column when unmapped)
    base: float  # expected output over the background
    output: np.ndarray  # (n,) the explained output: base + values.sum(1)
    features: tuple[str, ...]
    mapped: bool  # values are per original column
    explainer: str
    space: str  # "log-odds margin", "probability", "decision score" or "prediction (0/1)"
    note: str = ""
    explained: np.ndarray | None = None  # positions of the rows explained when a time budget stopped early
    #: a multiclass model: (n, F, C) contributions to each class's probability, and the classes' names
    per_class: np.ndarray | None = None
    classes: tuple[str, ...] = ()


def _dense(a: Any) -> np.ndarray:
    if hasattr(a, "toarray"):
        a = a.toarray()
    return np.asarray(a, dtype=float)


def split_pipeline(model: Any) -> tuple[Any, Any]:
    """(preprocessing, final estimator) of a scikit-learn Pipeline, or (None, model)."""
    steps = getattr(model, "steps", None)
    if isinstance(steps, list) and len(steps) >= 2 and hasattr(model, "__getitem__"):
        return model[:-1], model[-1]
    return None, model


def tree_refusal(est: Any) -> str:
    """Why shap's TreeExplainer cannot explain this tree model exactly ("" when it can): scikit-learn's
    HistGradientBoosting with native categorical splits (bitsets that shap's parser reads as numeric thresholds,
    shap#3436, and that fail on text categories)."""
    cats = getattr(est, "is_categorical_", None)
    if type(est).__name__.startswith("HistGradientBoosting") and cats is not None and np.any(cats):
        return ("HistGradientBoosting with native categorical features: shap's TreeExplainer does not read its "
                "categorical splits (shap#3436), so the model-agnostic explainer is used")
    return ""


def estimator_kind(est: Any, task: str = "binary") -> str:
    """"tree", "linear" or "agnostic": the exact explainer that fits the model's last step for the task (a
    multiclass model's favourable-class probability is a sum over classes of a softmax: model-agnostic)."""
    mod, name = type(est).__module__, type(est).__name__
    if task == "multiclass":
        return "tree" if mod.startswith("sklearn.") and name in _PROBABILITY_TREES else "agnostic"
    if (mod.startswith("sklearn.") and name in _TREE_SKLEARN) or mod.split(".")[0] in ("lightgbm", "xgboost"):
        return "agnostic" if tree_refusal(est) else "tree"
    coef = getattr(est, "coef_", None)
    if coef is not None and hasattr(est, "intercept_") and np.ndim(coef) == 2 and np.shape(coef)[0] == 1:
        return "linear"
    if task == "regression" and coef is not None and hasattr(est, "intercept_") and np.ndim(coef) == 1:
        return "linear"  # LinearRegression, Ridge, Lasso, ...: one coefficient per column
    return "agnostic"


def _positive_index(est: Any, positive: Any) -> int | None:
    classes = getattr(est, "classes_", None)
    if classes is None:
        return None
    from .._validation import py_value

    hits = [i for i, c in enumerate(np.asarray(classes).tolist()) if py_value(c) == positive]
    return hits[0] if hits else None


def _shift(s: pd.Series) -> pd.Series:
    """Every value replaced by a different one (next distinct value for text, +1 sd for numbers)."""
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        x = s.astype(float)
        sd = float(np.nanstd(x.to_numpy())) or 1.0
        return x + sd
    values = s.astype(object)
    uniques = list(dict.fromkeys(v for v in values.tolist() if v is not None and v == v))
    if len(uniques) < 2:
        return values.map(lambda v: "__changed__")
    nxt = {u: uniques[(i + 1) % len(uniques)] for i, u in enumerate(uniques)}
    out = values.map(lambda v: nxt.get(v, uniques[0]) if (v is not None and v == v) else uniques[0])
    if isinstance(s.dtype, pd.CategoricalDtype):
        out = pd.Categorical(out, categories=s.cat.categories)
    return pd.Series(out, index=s.index)


def column_map(pre: Any, X: pd.DataFrame) -> tuple[np.ndarray | None, list[str], str]:
    """(F_t x F) 0/1 matrix of which original column each transformed column comes from, the transformed names,
    and a note; None when some transformed column depends on several original columns."""
    t0 = _dense(pre.transform(X))
    try:
        names = [str(n) for n in pre.get_feature_names_out()]
    except Exception:  # noqa: BLE001 - not every transformer names its outputs
        names = [f"x{j}" for j in range(t0.shape[1])]
    dep = np.zeros((t0.shape[1], X.shape[1]), dtype=bool)
    for c, col in enumerate(X.columns):
        xp = X.copy()
        xp[col] = _shift(X[col]).to_numpy() if not isinstance(X[col].dtype, pd.CategoricalDtype) else _shift(X[col])
        tp = _dense(pre.transform(xp))
        dep[:, c] = ~((tp == t0) | (np.isnan(tp) & np.isnan(t0))).all(axis=0)
    none = np.flatnonzero(dep.sum(1) == 0)
    for j in none:  # never moved in these rows (a category absent from them): fall back on the output's name
        tail = names[j].split("__", 1)[-1]
        cands = [c for c, col in enumerate(X.columns) if tail == str(col) or tail.startswith(f"{col}_")]
        if len(cands) == 1:
            dep[j, cands[0]] = True
    if (dep.sum(1) > 1).any():
        mixed = [names[j] for j in np.flatnonzero(dep.sum(1) > 1)][:3]
        return None, names, (f"transformed columns such as {', '.join(mixed)} combine several original columns, so "
                             "their values cannot be given per original column; transformed names are reported")
    unmapped = [names[j] for j in np.flatnonzero(dep.sum(1) == 0)]
    note = ""
    if unmapped:
        note = (f"{len(unmapped)} transformed column(s) never varied in the explained rows and could not be traced to "
                f"an original column ({', '.join(unmapped[:3])}); their (constant) contributions are left out")
    return dep.astype(float), names, note


def _link_check(total: np.ndarray, candidates: dict[str, np.ndarray], tolerance: dict[str, np.ndarray] | None = None
                ) -> str | None:
    """The output space whose values ``total`` (base + contributions) reproduces, each within its tolerance."""
    for space, ref in candidates.items():
        tol = 1e-6 if tolerance is None or space not in tolerance else tolerance[space]
        if ref is not None and np.all(np.abs(total - ref) <= tol + 1e-6 * np.abs(ref)):
            return space
    return None


def _eps(a: Any) -> float:
    """Machine epsilon of a model's output (float32 for xgboost; float64 when it is not a float array)."""
    dt = getattr(a, "dtype", None)
    return float(np.finfo(dt).eps) if dt is not None and np.issubdtype(dt, np.floating) else \
        float(np.finfo(np.float64).eps)


def _native_contributions(est: Any, Xt: Any) -> np.ndarray | None:
    """``(n, F + 1)`` exact TreeSHAP contributions (bias last) from lightgbm's or xgboost's own code, for binary
    models; None for other models (shap's TreeExplainer is used)."""
    root = type(est).__module__.split(".")[0]
    try:
        if root == "lightgbm":
            out = np.asarray(est.predict(Xt, pred_contrib=True), dtype=float)
        elif root == "xgboost":
            import xgboost

            out = np.asarray(est.get_booster().predict(xgboost.DMatrix(Xt, enable_categorical=True),
                                                       pred_contribs=True), dtype=float)
        else:
            return None
    except Exception:  # noqa: BLE001 - an unusual configuration: let shap try
        return None
    return out if out.ndim == 2 and out.shape[0] == len(Xt) else None


def _tree_or_linear(kind: str, est: Any, Xt: Any, Xt_bg: np.ndarray | None, pos: int | None, task: str = "binary"
                    ) -> tuple[np.ndarray, float, str]:
    """(values (n, Ft), base, space) for the positive class (a regressor: for its prediction)."""
    if task == "regression":
        return _regressor(kind, est, Xt, Xt_bg)
    n_classes = len(getattr(est, "classes_", [0, 1]))
    if kind == "linear":
        coef = np.asarray(est.coef_, dtype=float)[0]
        mean = Xt_bg.mean(axis=0)
        X = _dense(Xt)
        values = (X - mean) * coef
        base = float(np.asarray(est.intercept_, dtype=float).ravel()[0] + mean @ coef)
        space = "log-odds margin" if hasattr(est, "predict_proba") else "decision score"
        if pos == 0:  # the margin is that of classes_[1]
            values, base = -values, -base
        return values, base, space
    native = _native_contributions(est, Xt)
    if native is not None:  # lightgbm / xgboost: their own C++ TreeSHAP (what shap delegates to), margin of class 1
        raw, expected = native[:, :-1], np.array([float(native[0, -1])])
    else:
        import shap

        explainer = shap.TreeExplainer(est)
        raw = explainer.shap_values(Xt, check_additivity=False)
        expected = np.atleast_1d(np.asarray(explainer.expected_value, dtype=float))
        if isinstance(raw, list):
            raw = np.stack(raw, axis=-1)
    raw = np.asarray(raw, dtype=float)
    if raw.ndim == 3:  # one slice per class
        k = pos if pos is not None else raw.shape[2] - 1
        values, base, flipped = raw[:, :, k], float(expected[min(k, len(expected) - 1)]), False
    else:
        values, base, flipped = raw, float(expected[0]), pos == 0 and n_classes == 2
    total = base + values.sum(1)
    k = pos if pos is not None else 1
    proba = None
    margin = None
    raw_proba = None
    try:
        raw_proba = np.asarray(est.predict_proba(Xt))
        proba = raw_proba.astype(float)
    except Exception:  # noqa: BLE001
        pass
    if proba is not None and proba.ndim == 2 and proba.shape[1] == 2:
        with np.errstate(divide="ignore"):
            margin = np.log(proba[:, 1]) - np.log(proba[:, 0])
    if margin is None and hasattr(est, "decision_function"):
        margin = np.asarray(est.decision_function(Xt), dtype=float).ravel()
    cls1 = {"log-odds margin": margin, "probability": None if proba is None else proba[:, 1 if raw.ndim == 2 else k]}
    # rounding of the model's own dtype: its contributions sum with error ~ eps x their magnitude, and a float32
    # probability p has error ~ eps, which the log-odds amplify by 1 / (p (1 - p)) (p = 0.997: 2.6e-5)
    eps = _eps(raw_proba)
    size = np.abs(values).sum(1) + abs(base)
    tolerance = {"probability": 8 * eps * (1 + size)}
    if proba is not None and proba.ndim == 2 and proba.shape[1] == 2:
        p = np.clip(proba[:, 1], eps, 1 - eps)
        tolerance["log-odds margin"] = 8 * eps * (1 + size + 1 / (p * (1 - p)))
    space = _link_check(total, cls1, tolerance) or "model output"
    if flipped:  # 2-D output explains classes_[1]; the positive class is classes_[0]
        if space == "probability":
            values, base = -values, 1.0 - base
        else:
            values, base = -values, -base
    return values, base, space


def class_tree_shap(est: Any, Xt: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(raw (n, F, C), expected (C,), in probability space)``: TreeSHAP values of each class's probability of a
    tree classifier whose leaves hold probabilities (checked: base + contributions reproduce predict_proba)."""
    import shap

    explainer = shap.TreeExplainer(est)
    raw = explainer.shap_values(Xt, check_additivity=False)
    raw = np.stack(raw, axis=-1) if isinstance(raw, list) else np.asarray(raw, dtype=float)
    expected = np.atleast_1d(np.asarray(explainer.expected_value, dtype=float))
    proba = np.asarray(est.predict_proba(Xt), dtype=float)
    ok = np.all(np.abs(expected[None, :] + raw.sum(1) - proba) <= 1e-9 * (1 + np.abs(raw).sum(1)))
    return raw, expected, bool(ok)


def _regressor(kind: str, est: Any, Xt: Any, Xt_bg: np.ndarray | None) -> tuple[np.ndarray, float, str]:
    """(values, base, space) of a regression model's prediction: exact linear SHAP against the background's mean,
    or TreeSHAP; the space is "prediction" when base + values reproduces ``predict`` row by row."""
    if kind == "linear":
        coef = np.asarray(est.coef_, dtype=float).ravel()
        mean = Xt_bg.mean(axis=0)
        values = (_dense(Xt) - mean) * coef
        base = float(np.asarray(est.intercept_, dtype=float).ravel()[0] + mean @ coef)
    else:
        native = _native_contributions(est, Xt)
        if native is not None:
            values, base = native[:, :-1], float(native[0, -1])
        else:
            import shap

            explainer = shap.TreeExplainer(est)
            values = np.asarray(explainer.shap_values(Xt, check_additivity=False), dtype=float)
            base = float(np.atleast_1d(np.asarray(explainer.expected_value, dtype=float))[0])
    pred = np.asarray(est.predict(Xt), dtype=float).ravel()
    size = np.abs(values).sum(1) + abs(base) + np.abs(pred)
    space = _link_check(base + values.sum(1), {"prediction": pred}, {"prediction": 1e-9 * (1 + size)})
    return values, base, space or "model output"


def category_codes(X: pd.DataFrame, others: list[pd.DataFrame]) -> tuple[Callable[[pd.DataFrame], np.ndarray],
                                                                  Callable[[np.ndarray], pd.DataFrame]]:
    """Encode a frame as floats for shap's masker (text as integer codes) and decode it back."""
    cats: dict[str, list[Any]] = {}
    for col in X.columns:
        s = X[col]
        if not (pd.api.types.is_numeric_dtype(s.dtype) and not isinstance(s.dtype, pd.CategoricalDtype)):
            seen = pd.concat([s.astype(object)] + [o[col].astype(object) for o in others], ignore_index=True)
            cats[col] = list(dict.fromkeys(seen.tolist()))
    dtypes = X.dtypes

    def encode(frame: pd.DataFrame) -> np.ndarray:
        out = np.empty(frame.shape, dtype=float)
        for j, col in enumerate(frame.columns):
            if col in cats:
                lookup = {v: i for i, v in enumerate(cats[col]) if v == v}
                nan_code = next((i for i, v in enumerate(cats[col]) if v != v), -1)
                out[:, j] = [lookup.get(v, nan_code) if v == v else nan_code for v in frame[col].astype(object)]
            else:
                out[:, j] = frame[col].to_numpy(dtype=float, na_value=np.nan)
        return out

    def decode(a: np.ndarray) -> pd.DataFrame:
        data = {}
        for j, col in enumerate(X.columns):
            if col in cats:
                values = [cats[col][int(round(v))] for v in a[:, j]]
                data[col] = pd.Series(values, dtype=dtypes[col] if isinstance(dtypes[col], pd.CategoricalDtype)
                                      else object)
            else:
                data[col] = pd.Series(a[:, j]).astype(dtypes[col], errors="ignore")
        return pd.DataFrame(data)

    return encode, decode


#: shap's permutation explainer seeds numpy's global random state: one explanation at a time in the process
_GLOBAL_RANDOM = threading.Lock()
#: rows per call of the model-agnostic explainer (the time budget is checked between calls)
AGNOSTIC_CHUNK = 8


def _round_robin(strata: np.ndarray) -> np.ndarray:
    """Row positions taken in turn from every stratum (first rows of each, then second rows, ...)."""
    order = np.argsort(strata, kind="stable")
    sorted_s = strata[order]
    first = np.searchsorted(sorted_s, sorted_s, side="left")
    rank = np.arange(len(strata)) - first
    return order[np.lexsort((sorted_s, rank))]


def explain_rows(model: Any, X: pd.DataFrame, X_bg: pd.DataFrame, positive: Any,
                 predict: Callable[[pd.DataFrame], np.ndarray], space_hint: str, seed: int,
                 progress: bool = False, seconds: float | None = None, strata: np.ndarray | None = None,
                 task: str = "binary", class_names: Sequence[str] = (), favourable: Sequence[int] = ()
                 ) -> ShapResult:
    """SHAP values of ``X`` (the explained rows) against ``X_bg`` (background), per original column where possible.
    ``predict`` maps a feature frame to the audited output (used by the model-agnostic path only). The
    model-agnostic path explains rows a few at a time, in turn from every ``strata`` value, each call seeded by
    (seed, call); with ``seconds`` it stops once that time is spent and says which rows it explained. The model
    is used under its shared guard (``audit._model.ModelGuard``): no thread pickles it meanwhile."""
    from .._model import model_guard

    with model_guard(model).shared():
        return _explain_rows(model, X, X_bg, positive, predict, space_hint, seed, progress, seconds, strata, task,
                             class_names, favourable)


def _explain_rows(model: Any, X: pd.DataFrame, X_bg: pd.DataFrame, positive: Any,
                  predict: Callable[[pd.DataFrame], np.ndarray], space_hint: str, seed: int,
                  progress: bool, seconds: float | None, strata: np.ndarray | None,
                  task: str, class_names: Sequence[str], favourable: Sequence[int]) -> ShapResult:
    pre, est = split_pipeline(model)
    kind = estimator_kind(est, task)
    features = tuple(str(c) for c in X.columns)
    if kind in ("tree", "linear"):
        if pre is not None:
            probe = pd.concat([X, X_bg], ignore_index=True)
            if len(probe) > 600:  # the map needs variety, not volume: a seeded subset keeps it cheap
                probe = probe.sample(600, random_state=seed % (2**32))
            M, names, note = column_map(pre, probe)
            Xt = pre.transform(X)
            Xt = _dense(Xt) if hasattr(Xt, "toarray") else Xt
            Xt_bg = _dense(pre.transform(X_bg))
        else:
            M, names, note = np.eye(X.shape[1]), list(features), ""
            Xt, Xt_bg = X, (_dense(X_bg) if kind == "linear" else None)  # trees take the frame (categoricals) as is
        if task == "multiclass":  # each class's probability (the model's classes come first in the audit's order)
            raw, expected, exact = class_tree_shap(est, Xt)
            fav = [c for c in favourable if c < raw.shape[2]]
            values, base = raw[:, :, fav].sum(-1), float(expected[fav].sum())
            space = "probability of a favourable class" if exact else "model output"
            per = np.einsum("nfc,fo->noc", raw, M) if M is not None else raw
            if M is not None:
                lost_c = raw.sum(1) - per.sum(1)
                if np.abs(lost_c).max(initial=0) > 1e-12:
                    per = np.concatenate([per, lost_c[:, None, :]], axis=1)
            label = "exact SHAP values of the tree model (TreeSHAP), on the columns the model's last step sees"
            if M is None:
                return ShapResult(values, base, base + values.sum(1), tuple(names), False, label, space, note,
                                  per_class=per, classes=tuple(class_names[:raw.shape[2]]))
            mapped = values @ M
            lost = values.sum(1) - mapped.sum(1)
            feats = features
            if np.abs(lost).max(initial=0) > 1e-12 or per.shape[1] > mapped.shape[1]:
                mapped = np.c_[mapped, lost]
                feats = features + ("(untraced transformed columns)",)
            return ShapResult(mapped, base, base + values.sum(1), feats, True, label, space, note, per_class=per,
                              classes=tuple(class_names[:raw.shape[2]]))
        pos = _positive_index(est, positive)
        values, base, space = _tree_or_linear(kind, est, Xt, Xt_bg, pos, task)
        label = ("exact SHAP values of the tree model (TreeSHAP), on the columns the model's last step sees"
                 if kind == "tree" else "exact SHAP values of the linear model, against the background rows' mean")
        if M is None:
            return ShapResult(values, base, base + values.sum(1), tuple(names), False, label, space, note)
        mapped = values @ M
        # transformed columns traced to no original column keep their share in a column of their own, so that
        # base + sum(values) stays the model's output row by row
        lost = values.sum(1) - mapped.sum(1)
        if np.abs(lost).max(initial=0) > 1e-12:
            mapped = np.c_[mapped, lost]
            features = features + ("(untraced transformed columns)",)
        return ShapResult(mapped, base, base + values.sum(1), features, True, label, space, note)
    import shap

    encode, decode = category_codes(X, [X_bg])
    bg = encode(X_bg)

    def f(a: np.ndarray) -> np.ndarray:
        return np.asarray(predict(decode(a)), dtype=float)  # (m,), or (m, C) class probabilities (multiclass)

    masker = shap.maskers.Independent(bg, max_samples=len(bg))
    max_evals = max(2 * X.shape[1] + 1, 100)
    encoded = encode(X)
    turn = _round_robin(np.zeros(len(X), dtype=np.int64) if strata is None else np.asarray(strata))
    multi = task == "multiclass"
    values = np.zeros(encoded.shape + ((len(class_names),) if multi else ()))
    base: Any = np.nan
    done: list[np.ndarray] = []
    t0 = time.perf_counter()
    chunks = [turn[i:i + AGNOSTIC_CHUNK] for i in range(0, len(turn), AGNOSTIC_CHUNK)]
    bar = chunks
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(chunks, desc="SHAP (model-agnostic)", leave=False)
    for k, idx in enumerate(bar):
        if seconds is not None and done and time.perf_counter() - t0 > seconds:
            break
        digest = hashlib.sha256(f"shap-permutation\x1f{seed}\x1f{k}".encode()).digest()
        with _GLOBAL_RANDOM:  # shap seeds numpy's global random state in the constructor and draws from it
            explainer = shap.explainers.Permutation(f, masker, seed=int.from_bytes(digest[:4], "little"))
            out = explainer(encoded[idx], max_evals=max_evals, silent=True)
        values[idx] = np.asarray(out.values, dtype=float)
        base = np.asarray(out.base_values, dtype=float)[0] if multi else float(np.atleast_1d(out.base_values)[0])
        done.append(idx)
    explained = np.sort(np.concatenate(done))
    values = values[explained]
    partial = len(explained) < len(X)
    if multi:  # each class's probability; the favourable classes' sum is the explained output
        fav = list(favourable)
        per, base_c = values, np.atleast_1d(base)
        values, base = per[:, :, fav].sum(-1), float(base_c[fav].sum()) if fav else 0.0
        return ShapResult(values, base, base + values.sum(1), features, True,
                          "model-agnostic SHAP values (permutation sampling) on the original columns", space_hint,
                          tree_refusal(est), explained if partial else None, per_class=per, classes=tuple(class_names))
    return ShapResult(values, base, base + values.sum(1), features, True,
                      "model-agnostic SHAP values (permutation sampling) on the original columns",
                      space_hint, tree_refusal(est), explained if partial else None)
