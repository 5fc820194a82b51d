"""The task of an audit: a binary decision (the classic audit), one of several classes (multiclass), or a number
(regression). Detects the task, validates the label and the predictions for it, and predicts once.

A non-binary audit keeps the core's unit: each row still falls in a finest group, and the task's own statistic
(``stats.moments.RegressionSums``, ``stats.classes.ClassTable``) rides beside the confusion counts. Those counts are
of a binary view of the task: for a multiclass model, "receives a favourable class" (``favorable_classes``); for a
regression model, nothing (every row a negative), so they only count rows.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from ._model import ModelOutput, call_model, describe, model_fingerprint
from ._validation import as_list, group_name, py_value, require_column
from .exceptions import ConfigError, InputError, ModelError

TASKS = ("auto", "binary", "multiclass", "regression")
#: more distinct classes than this is not a class label (an identifier, a number read as text)
MAX_CLASSES = 100


@dataclass(frozen=True)
class Target:
    """The validated label of a non-binary task and what the user gave for it.

    ``values``: the label per row (float64 for regression; class codes into ``classes`` for multiclass);
    ``classes``: the class labels (the model's order, then classes only the data holds); ``favorable``: codes of
    the classes that help the person; ``direction``: whether a higher prediction helps ("higher") or harms
    ("lower") the person; ``y``: the binary view the confusion counts are of (membership of a favourable class;
    all 0 for regression); ``predictions`` / ``class_scores``: given by the user (model=None)."""

    task: str
    values: np.ndarray
    y: np.ndarray
    classes: tuple[Any, ...] = ()
    favorable: tuple[int, ...] = ()
    direction: str = "higher"
    predictions: np.ndarray | None = None
    class_scores: np.ndarray | None = None

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(group_name(c) for c in self.classes)


def estimator_kind(model: Any) -> str | None:
    """"classifier", "regressor" or None, as scikit-learn tells (pipelines: their last step)."""
    if model is None:
        return None
    try:
        from sklearn.base import is_classifier, is_regressor

        if is_regressor(model):
            return "regressor"
        if is_classifier(model):
            return "classifier"
    except Exception:  # noqa: BLE001 - not a scikit-learn estimator
        pass
    kind = getattr(model, "_estimator_type", None)
    return kind if kind in ("classifier", "regressor") else None


def _kind(v: Any) -> str:
    return "bool" if isinstance(v, (bool, np.bool_)) else "number" if isinstance(v, (int, float, np.number)) \
        else "text"


def _distinct(series: pd.Series, limit: int = MAX_CLASSES + 1) -> list[Any]:
    values = pd.unique(series.dropna())
    return [py_value(v) for v in values[: max(limit, 0)]] if len(values) > limit else [py_value(v) for v in values]


def _fractional(values: Any) -> bool:
    """True for float values of which some are not whole numbers (a quantity, not class codes)."""
    try:
        arr = np.asarray(values)
    except Exception:  # noqa: BLE001 - not array-like: not a quantity
        return False
    if arr.dtype.kind != "f" or arr.ndim != 1:
        return False
    head = arr[: 100_000]
    head = head[np.isfinite(head)]
    return bool(len(head)) and bool(np.any(head != np.round(head)))


def check_label_kind(series: pd.Series, column: str) -> None:
    """A label holds classes (text, whole numbers, booleans) or numbers; dates, durations, complex numbers and
    containers (lists, dicts) are none of those, and are refused naming the column."""
    dtype = series.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype) \
            or pd.api.types.is_complex_dtype(dtype):
        raise InputError(f"label column {column!r} holds {dtype} values: a label holds classes (text, whole numbers, "
                         "booleans) or numbers. Convert it first (a date is a feature or the monitor's time, not a "
                         "label).", code="bad_label", column=column)
    if dtype == object:
        head = series.dropna().head(10_000)
        odd = next((v for v in head if not isinstance(v, (str, bool, numbers.Number, np.generic))), None)
        if odd is not None:
            raise InputError(f"label column {column!r} holds {type(odd).__name__} values such as {odd!r:.60}: a label "
                             "holds classes (text, whole numbers, booleans) or numbers, one per row.",
                             code="bad_label", column=column)


def resolve_task(task: Any, data: pd.DataFrame, label: Any, model: Any, predictions: Any = None,
                 positive_label: Any = None) -> str:
    """The audit's task: ``task`` itself, or (``"auto"``) detected from the model and the label. A label of two
    values (or fewer) is a binary decision, as always; a classifier with more than two classes, or a text label of
    more, is multiclass; a regressor, or a float label with fractional values, is regression. An integer label
    with more than two values and no model to say what it is is ambiguous: ``task=`` must say."""
    if task not in TASKS:
        raise ConfigError(f"task={task!r} is invalid: give one of {', '.join(map(repr, TASKS))}.",
                          code="invalid_option")
    if task != "auto":
        return task
    classes = getattr(model, "classes_", None)
    kind = estimator_kind(model)
    if classes is not None and len(np.asarray(classes)) > 2:
        return "multiclass"
    if kind == "regressor":
        return "regression"
    if positive_label is not None:  # a positive label names a binary decision (a third value is refused there)
        return "binary"
    require_column(data, label, "label")
    series = data[label]
    check_label_kind(series, str(label))
    values = _distinct(series)  # the values rows hold (a categorical's unused categories do not count)
    if len(values) <= 2 or (classes is not None and len(np.asarray(classes)) == 2):
        return "binary"
    if isinstance(series.dtype, pd.CategoricalDtype):
        return "multiclass"
    if not pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        return "multiclass"
    if pd.api.types.is_float_dtype(series.dtype) and any(isinstance(v, float) and not float(v).is_integer()
                                                         for v in values):
        return "regression"
    if kind == "classifier":
        return "multiclass"
    given = data[predictions] if isinstance(predictions, str) and predictions in data.columns else predictions
    if model is None and given is not None and _fractional(given):
        return "regression"
    raise InputError(f"label column {label!r} holds {'more than ' if len(values) > MAX_CLASSES else ''}"
                     f"{min(len(values), MAX_CLASSES)} distinct whole numbers ({as_list(values[:10])}), which could be "
                     "classes or a quantity: say which with task='multiclass' or task='regression' (or map the label "
                     "to two values for a binary audit).", code="ambiguous_task", column=str(label))


def numeric_values(values: Any, what: str, column: str | None = None) -> np.ndarray:
    """Finite float64 values, or an error naming ``what``, the first bad row and the fix."""
    s = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values))
    if pd.api.types.is_bool_dtype(s.dtype) or not pd.api.types.is_numeric_dtype(s.dtype):
        found = s.dtype if not len(s) else f"{s.dtype}, e.g. {py_value(s.iloc[0])!r}"
        raise InputError(f"{what} must be numbers for a regression audit; found values of type {found}. Convert "
                         "it to numbers, or audit a classifier with task='binary' or 'multiclass'.",
                         code="not_numeric", column=column)
    arr = s.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(arr)
    if bad.any():
        first = int(np.argmax(bad))
        where = s.index[first] if isinstance(values, pd.Series) else first
        raise InputError(f"{what} has {int(bad.sum()):,} missing, NaN or infinite value(s), first at "
                         f"{'index' if isinstance(values, pd.Series) else 'row'} {py_value(where)!r}: every row needs "
                         "a finite number. Drop or fix those rows.", code="nonfinite_values", column=column)
    return arr


def class_codes(values: Any, classes: Sequence[Any], what: str, column: str | None = None) -> np.ndarray:
    """Codes of class labels into ``classes`` (compared by value, as the group names: 1 and 1.0 alike)."""
    s = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values, dtype=object))
    mask = s.isna().to_numpy()
    if mask.any():
        raise InputError(f"{what} has {int(mask.sum()):,} missing value(s), first at row {int(np.argmax(mask))}: every "
                         "row needs a class.", code="missing_values", column=column)
    codes, uniques = pd.factorize(s, sort=False)
    position = {group_name(c): i for i, c in enumerate(classes)}
    lookup = np.array([position.get(group_name(u), -1) for u in uniques], dtype=np.int64)
    unknown = [py_value(u) for u, k in zip(uniques, lookup) if k < 0]
    if unknown:
        raise InputError(f"{what} holds {as_list(unknown)}, not among the classes {as_list(list(classes), 20)}. Pass "
                         "class labels as the label column holds them.", code="unknown_class", column=column)
    return lookup[codes] if len(lookup) else np.zeros(len(s), dtype=np.int64)


def _aligned(obj: Any, data: pd.DataFrame, what: str) -> Any:
    """A column name, Series (matched by index) or array of one value per row."""
    if isinstance(obj, str):
        require_column(data, obj, what)
        return data[obj]
    if isinstance(obj, pd.Series):
        if len(obj) != len(data) or not obj.index.equals(data.index):
            if len(obj) == len(data) and obj.index.is_unique and data.index.is_unique \
                    and not data.index.difference(obj.index).size:
                return obj.reindex(data.index)
            raise InputError(f"{what} is a Series of {len(obj):,} rows whose index does not match data's "
                             f"({len(data):,} rows): pass a Series indexed like data, or an array in data's row order.",
                             code="index_mismatch")
        return obj
    arr = np.asarray(obj)
    if arr.ndim == 0 or len(arr) != len(data):
        raise InputError(f"{what} has {0 if arr.ndim == 0 else len(arr):,} rows but data has {len(data):,}: pass one "
                         "value per data row, in data's row order.", code="length_mismatch")
    return arr


def validate_target(data: pd.DataFrame, *, task: str, label: Any, model: Any, predictions: Any, scores: Any,
                    favorable: Any, favorable_classes: Any) -> Target:
    """The label, favourable direction or classes, and any precomputed predictions of a regression or multiclass
    audit, checked once (each error names the column or argument, what was found and the fix)."""
    require_column(data, label, "label")
    series = data[label]
    column = str(label)
    n = len(data)
    check_label_kind(series, column)
    if task == "regression":
        if favorable_classes is not None:
            raise ConfigError("favorable_classes= applies to a multiclass audit; a regression audit takes "
                              "favorable='higher' (a higher prediction helps the person, e.g. a credit limit) or "
                              "'lower' (e.g. a price).", code="invalid_option")
        if scores is not None:
            raise InputError("scores= has no meaning for a regression audit: pass the model's numeric output as "
                             "predictions=.", code="invalid_option")
        direction = {True: "higher", False: "lower"}.get(favorable, favorable) if isinstance(favorable, bool) \
            else favorable
        if direction not in ("higher", "lower"):
            raise ConfigError(f"favorable={favorable!r} is invalid for a regression audit: give 'higher' (a higher "
                              "prediction helps the person, e.g. a credit limit) or 'lower' (it harms them, e.g. a "
                              "price or a risk score).", code="invalid_option")
        y_values = numeric_values(series, f"label column {column!r}", column)
        preds = None
        if predictions is not None:
            preds = numeric_values(_aligned(predictions, data, "predictions"), "predictions")
        return Target("regression", y_values, np.zeros(n, dtype=np.int8), direction=direction, predictions=preds)

    # multiclass: the classes are the model's (a class it can predict is audited even when no row holds it), then
    # any the label or the predictions hold beyond them
    if favorable is not True:  # the favourable view is "receives a favourable class": favourable by definition
        raise ConfigError(f"favorable={favorable!r} is invalid for a multiclass audit: name the classes that help "
                          "the person with favorable_classes=[...].", code="invalid_option")
    missing = series.isna().to_numpy()
    if missing.any():
        raise InputError(f"label column {column!r} has {int(missing.sum()):,} missing value(s), first at index "
                         f"{py_value(series.index[int(np.argmax(missing))])!r}: drop or fill those rows.",
                         code="missing_values", column=column)
    model_classes = getattr(model, "classes_", None)
    classes: list[Any] = [] if model_classes is None else [py_value(c) for c in np.asarray(model_classes).tolist()]
    label_values = (list(series.cat.categories) if isinstance(series.dtype, pd.CategoricalDtype)
                    else _distinct(series, 10**9))
    pred_series = None
    if predictions is not None:
        pred_series = _aligned(predictions, data, "predictions")
        pred_series = pred_series if isinstance(pred_series, pd.Series) else pd.Series(pred_series, index=data.index)
    extra = [py_value(v) for v in label_values]
    if pred_series is not None:
        predicted = _distinct(pred_series, 10**9)
        kinds = {_kind(v) for v in extra} | {_kind(c) for c in classes}
        odd = [v for v in predicted if _kind(v) not in kinds]
        if odd and kinds:  # a class the label never holds is allowed; a value of another kind is the wrong column
            raise InputError(f"predictions hold {as_list(odd[:5])}, values of another kind than the classes of label "
                             f"column {column!r} ({as_list(list(extra)[:5])}): pass the predicted class of every "
                             "row (or task='regression' for a number).", code="bad_predictions")
        extra += predicted
    known = {group_name(c) for c in classes}
    found = []
    for v in extra:
        if group_name(v) not in known:
            known.add(group_name(v))
            found.append(v)
    if model_classes is None:  # no model order: sorted, as scikit-learn orders classes_
        try:
            found = sorted(found)
        except TypeError:
            found = sorted(found, key=str)
    classes += found
    if len(classes) > MAX_CLASSES:
        raise InputError(f"label column {column!r} holds {len(classes):,} distinct classes, more than {MAX_CLASSES}: "
                         "is it an identifier or a number? Audit a number with task='regression', or group the "
                         "classes first.", code="too_many_classes", column=column)
    if len(classes) < 2:
        raise InputError(f"label column {column!r} holds one class ({as_list(classes)}): a multiclass audit needs "
                         "several.", code="single_class_label", column=column)
    names = [group_name(c) for c in classes]
    fav: tuple[int, ...] = ()
    if favorable_classes is not None:
        wanted = [favorable_classes] if isinstance(favorable_classes, (str, int, float, bool)) \
            else list(favorable_classes)
        unknown = [c for c in wanted if group_name(c) not in names]
        if unknown or not wanted:
            raise ConfigError(f"favorable_classes={favorable_classes!r}: {as_list(unknown) if unknown else 'empty'} "
                              f"{'is' if len(unknown) == 1 else 'are'} not among the classes {as_list(classes, 20)}. "
                              "Name the classes that help the person as the label holds them.",
                              code="invalid_option")
        fav = tuple(sorted({names.index(group_name(c)) for c in wanted}))
        if len(fav) == len(classes):
            raise ConfigError("favorable_classes= names every class: nothing would separate a favourable outcome "
                              "from another. Name the classes that help the person.", code="invalid_option")
    values = class_codes(series, classes, f"label column {column!r}", column)
    y = np.isin(values, fav).astype(np.int8) if fav else np.zeros(n, dtype=np.int8)
    pred_codes = None if pred_series is None else class_codes(pred_series, classes, "predictions")
    class_scores = None
    if scores is not None:
        class_scores = class_probabilities(_aligned(scores, data, "scores"), len(classes), "scores")
    return Target("multiclass", values, y, tuple(classes), fav, predictions=pred_codes, class_scores=class_scores)


def class_probabilities(values: Any, n_classes: int, what: str) -> np.ndarray:
    """``(n, C)`` probabilities of each class per row (columns in the classes' order): finite, in [0, 1], each row
    summing to 1 (within 1e-6)."""
    arr = np.asarray(values.to_numpy() if isinstance(values, (pd.DataFrame, pd.Series)) else values)
    if arr.ndim != 2 or arr.shape[1] != n_classes:
        raise InputError(f"{what} must hold one probability per class and row: shape (rows, {n_classes}) in the "
                         f"classes' order; found shape {arr.shape}.", code="bad_shape")
    try:
        arr = arr.astype(np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be numeric probabilities; found {arr.dtype}.", code="bad_scores") from None
    bad = ~np.isfinite(arr).all(1)
    if bad.any():
        raise InputError(f"{what} has {int(bad.sum()):,} row(s) with NaN or infinite probabilities, first at row "
                         f"{int(np.argmax(bad))}.", code="nonfinite_scores")
    if arr.size and (arr.min() < 0 or arr.max() > 1):
        raise InputError(f"{what} must be probabilities in [0, 1]; found values from {arr.min()!r} to {arr.max()!r}.",
                         code="scores_out_of_range")
    off = np.abs(arr.sum(1) - 1.0) > 1e-6
    if off.any():
        raise InputError(f"{what}: {int(off.sum()):,} row(s) do not sum to 1 (first at row {int(np.argmax(off))}: "
                         f"{arr[int(np.argmax(off))].sum():.6g}); pass every class's probability.",
                         code="bad_scores")
    return arr


def _class_predict(model: Any) -> tuple[str, Callable[[Any], Any]]:
    """(stage, fn) of a classifier without class probabilities: its ``predict``, or the function itself."""
    fn = model.predict if hasattr(model, "predict") else model if callable(model) else None
    if fn is None:
        raise ModelError(f"model of type {type(model).__name__} is not supported: pass a fitted classifier "
                         "(predict_proba / predict), a function of the feature DataFrame, or None with predictions=.",
                         code="unsupported_model")
    return ("predict" if hasattr(model, "predict") else "the model call"), fn


def _task_fn(model: Any, target: Target) -> tuple[str, Callable[[pd.DataFrame], tuple[np.ndarray, Any]], str | None]:
    """(method, fn(X) -> (values, class probabilities or None), score kind) of a regression or multiclass model."""
    if target.task == "regression":
        if estimator_kind(model) == "classifier":
            raise ModelError(f"{type(model).__name__} is a classifier; a regression audit needs a model that predicts "
                             "a number (or task='binary' / 'multiclass').", code="wrong_model_kind")
        if not (hasattr(model, "predict") or callable(model)):
            raise ModelError(f"model of type {type(model).__name__} has no predict(): pass a fitted regressor, a "
                             "function of the feature DataFrame, or None with predictions=.", code="unsupported_model")
        fn = model.predict if hasattr(model, "predict") else model
        stage = "predict" if hasattr(model, "predict") else "the model call"

        def regress(X: pd.DataFrame) -> tuple[np.ndarray, None]:
            out = np.asarray(call_model(stage, fn, X))
            if out.ndim == 2 and out.shape[1] == 1:
                out = out[:, 0]
            if out.ndim != 1 or len(out) != len(X):
                raise ModelError(f"{stage} returned shape {out.shape}; expected ({len(X)},): one number per row.",
                                 code="bad_shape")
            try:
                return numeric_values(out, f"the model's {stage} output"), None
            except InputError as exc:
                raise ModelError(str(exc), code="bad_predictions") from None

        return stage, regress, None

    C = len(target.classes)
    if estimator_kind(model) == "regressor":
        raise ModelError(f"{type(model).__name__} is a regressor; a multiclass audit needs a classifier (or "
                         "task='regression').", code="wrong_model_kind")
    model_classes = getattr(model, "classes_", None)
    if hasattr(model, "predict_proba") and model_classes is not None:
        k = len(np.asarray(model_classes))

        def proba(X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
            p = np.asarray(call_model("predict_proba", model.predict_proba, X))
            if p.ndim != 2 or p.shape != (len(X), k):
                raise ModelError(f"predict_proba returned shape {p.shape}; expected ({len(X)}, {k}): one column per "
                                 "class of classes_.", code="bad_shape")
            full = np.zeros((len(X), C))
            full[:, :k] = p  # the model's classes come first, in its order
            try:
                full = class_probabilities(full, C, "predict_proba output")
            except InputError as exc:
                raise ModelError(str(exc), code="bad_scores") from None
            return np.argmax(full[:, :k], axis=1).astype(np.int64), full

        return "predict_proba", proba, "probability"
    stage, fn = _class_predict(model)

    def classify(X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
        out = np.asarray(call_model(stage, fn, X))
        if out.ndim == 2 and out.shape == (len(X), C) and out.dtype.kind == "f":  # a function returning probabilities
            try:
                full = class_probabilities(out, C, f"the model's {stage} output")
            except InputError as exc:
                raise ModelError(str(exc), code="bad_scores") from None
            return np.argmax(full, axis=1).astype(np.int64), full
        if out.ndim != 1 or len(out) != len(X):
            raise ModelError(f"{stage} returned shape {out.shape}; expected ({len(X)},) class labels, or ({len(X)}, "
                             f"{C}) probabilities in the classes' order.", code="bad_shape")
        try:
            return class_codes(pd.Series(out, dtype=object), target.classes, f"the model's {stage} output"), None
        except InputError as exc:
            raise ModelError(str(exc), code="bad_predictions") from None

    return stage, classify, None


def class_labels_fn(model: Any) -> tuple[str, Callable[[pd.DataFrame], np.ndarray]]:
    """(method, fn(X) -> predicted class labels) of a multiclass model, for batches of rows an engine streams: the
    most probable of the model's classes (as :func:`predict_task`), else its ``predict``."""
    if estimator_kind(model) == "regressor":
        raise ModelError(f"{type(model).__name__} is a regressor; a multiclass audit needs a classifier.",
                         code="wrong_model_kind")
    classes = getattr(model, "classes_", None)
    if hasattr(model, "predict_proba") and classes is not None:
        labels = np.asarray(classes)

        def proba(X: pd.DataFrame) -> np.ndarray:
            p = np.asarray(call_model("predict_proba", model.predict_proba, X))
            if p.ndim != 2 or p.shape != (len(X), len(labels)):
                raise ModelError(f"predict_proba returned shape {p.shape}; expected ({len(X)}, {len(labels)}).",
                                 code="bad_shape")
            bad = ~np.isfinite(p).all(1)
            if bad.any():
                raise ModelError(f"predict_proba output has {int(bad.sum()):,} row(s) with NaN or infinite "
                                 "probabilities.", code="bad_scores")
            return labels[np.argmax(p, axis=1)]

        return "predict_proba", proba
    stage, fn = _class_predict(model)

    def predict(X: pd.DataFrame) -> np.ndarray:
        out = np.asarray(call_model(stage, fn, X))
        if out.ndim != 1 or len(out) != len(X):
            raise ModelError(f"{stage} returned shape {out.shape}; expected ({len(X)},) class labels.",
                             code="bad_shape")
        return out

    return stage, predict


def predict_task(model: Any, X: pd.DataFrame, target: Target, *, seed: int, check_rows: int) -> ModelOutput:
    """The model's output for a regression or multiclass audit, predicted once (or what the user gave), with the
    binary view the confusion counts are of and the determinism re-check on a seeded sample."""
    if model is None:
        values, class_scores = target.predictions, target.class_scores
        if values is None and class_scores is not None:
            values = np.argmax(class_scores, axis=1).astype(np.int64)
        if values is None:
            raise InputError(f"a {target.task} audit without a model needs predictions= (the predicted "
                             f"{'number' if target.task == 'regression' else 'class'} of every row).",
                             code="nothing_to_audit")
        method = "precomputed"
        kind = "probability" if class_scores is not None else None
        description = describe(None, predictions=target.predictions is not None, scores=class_scores is not None)
        fingerprint = deterministic = None
    else:
        method, fn, kind = _task_fn(model, target)
        values, class_scores = fn(X)
        deterministic = None
        if check_rows and len(X):
            rng = np.random.default_rng([seed, 0xD37])
            rows = np.sort(rng.choice(len(X), size=min(check_rows, len(X)), replace=False))
            v2, s2 = fn(X.iloc[rows])
            same = np.allclose(v2, values[rows], rtol=1e-9, atol=1e-12) if target.task == "regression" \
                else np.array_equal(v2, values[rows])
            if same and class_scores is not None and s2 is not None:
                same = bool(np.allclose(s2, class_scores[rows], rtol=1e-9, atol=1e-12))
            deterministic = bool(same)
        description, fingerprint = describe(model), model_fingerprint(model)
    if target.task == "regression":
        binary = np.zeros(len(values), dtype=np.int8)
        fav_scores = None
    else:
        binary = np.isin(values, target.favorable).astype(np.int8) if target.favorable \
            else np.zeros(len(values), dtype=np.int8)
        fav_scores = None
        if class_scores is not None and target.favorable:
            fav_scores = np.clip(class_scores[:, list(target.favorable)].sum(1), 0.0, 1.0)
    return ModelOutput(binary, fav_scores, kind if fav_scores is not None else None, method, description,
                       fingerprint, deterministic, values=values, class_scores=class_scores)
