"""Model adapters: turn any supported model into 0/1 predictions and positive-class scores, once.

Supported: scikit-learn classifiers and pipelines (and the xgboost / lightgbm scikit-learn wrappers)
through ``predict_proba`` / ``decision_function`` / ``predict`` with the positive class located in
``classes_``; a plain callable returning probabilities or labels; or ``None`` with precomputed
predictions and/or scores.
"""

from __future__ import annotations

import hashlib
import pickle
import re
import threading
import weakref
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd

from ._validation import as_list, py_value, encode_predictions, validate_scores
from .exceptions import InputError, ModelError


@dataclass(frozen=True)
class ModelOutput:
    predictions: np.ndarray  # int8 0/1
    scores: np.ndarray | None  # float64
    score_kind: str | None  # "probability", "decision" or None
    method: str  # how predictions were obtained
    description: str
    fingerprint: str | None
    deterministic: bool | None  # None when not checked
    #: a regression model's predicted numbers or a multiclass model's predicted class codes (None: binary); the
    #: fields above then hold the binary view the confusion counts are of (``audit/_tasks.py``)
    values: np.ndarray | None = None
    class_scores: np.ndarray | None = None  # (n, C) class probabilities of a multiclass model, when it gives them


def describe(model: Any, *, predictions: bool = True, scores: bool = False) -> str:
    """A short, stable description (no memory addresses, so the same model describes the same way); without a
    model, what was given instead (``predictions``, ``scores``)."""
    if model is None:
        given = [w for w, on in (("predictions", predictions), ("scores", scores)) if on] or ["predictions"]
        return "precomputed " + " and ".join(given)
    steps = getattr(model, "steps", None)
    if isinstance(steps, list) and steps:
        inner = [type(est).__name__ for _, est in steps]
        return f"{type(model).__name__}: {' -> '.join(inner)}"
    if hasattr(model, "fit") or not callable(model):
        try:
            text = repr(model)
        except (Exception, SystemExit) as exc:  # a model whose repr fails still gets audited
            text = f"{type(model).__name__} (its repr() raised {type(exc).__name__})"
    else:
        text = f"function {getattr(model, '__qualname__', type(model).__name__)}"
    text = re.sub(r" at 0x[0-9a-fA-F]+", "", " ".join(text.split()))
    return text if len(text) <= 300 else text[:297] + "..."


class ModelGuard:
    """Many threads may use one model at once (predictions, explanations: shared), but pickling it for its
    fingerprint must not overlap any of them (exclusive): with scikit-learn 1.4 and numpy 1.24, pickling a
    fitted pipeline while another thread predicts with it crashes the process (a segmentation fault, reproduced
    in about 1 run in 3 of six threads). Shared holds nest; an exclusive hold waits for every shared one."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._shared = 0
        self._exclusive = False

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            while self._exclusive:
                self._cond.wait()
            self._shared += 1
        try:
            yield
        finally:
            with self._cond:
                self._shared -= 1
                if not self._shared:
                    self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            while self._exclusive or self._shared:
                self._cond.wait()
            self._exclusive = True
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()


_GUARDS: "weakref.WeakKeyDictionary[Any, ModelGuard]" = weakref.WeakKeyDictionary()
_GUARDS_LOCK = threading.Lock()
_FALLBACK_GUARD = ModelGuard()  # objects that cannot be weakly referenced or hashed share one guard


def model_guard(model: Any) -> ModelGuard:
    """The guard of one model object (a bound method's object, for ``model.predict_proba``)."""
    owner = getattr(model, "__self__", model)
    with _GUARDS_LOCK:
        try:
            guard = _GUARDS.get(owner)
            if guard is None:
                guard = _GUARDS[owner] = ModelGuard()
            return guard
        except TypeError:
            return _FALLBACK_GUARD


def model_fingerprint(model: Any) -> str | None:
    if model is None:
        return None
    try:
        with model_guard(model).exclusive():
            return hashlib.sha256(pickle.dumps(model, protocol=4)).hexdigest()
    except (Exception, SystemExit):  # lambdas, closures, objects holding handles: no stable fingerprint
        return None


def one_line(text: str, limit: int = 500) -> str:
    """A message on one line (an exception text may hold newlines), cut to ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[:limit - 3] + "..."


def call_model(stage: str, fn: Callable[[Any], Any], X: pd.DataFrame) -> Any:
    try:
        with model_guard(fn).shared():
            return fn(X)
    except ModelError:
        raise
    except SystemExit as exc:  # sys.exit() inside the model must never look like a finished (passing) audit
        raise ModelError(f"the model called sys.exit({exc.code!r}) during {stage} on {len(X):,} rows; a model must "
                         "return predictions, not exit the process.", code="model_exited") from None
    except Exception as exc:  # the model's own failure: name the stage
        raise ModelError(f"the model raised during {stage} on {len(X):,} rows x {X.shape[1]} feature(s): "
                         f"{type(exc).__name__}: {one_line(str(exc))}. Check that data has the columns and dtypes "
                         "the model was trained on (pass features=[...] to choose the model inputs).",
                         code="model_raised") from exc


def _positive_index(model: Any, positive: Any) -> int:
    classes = getattr(model, "classes_", None)
    if classes is None:
        raise ModelError(f"{type(model).__name__} has no classes_ attribute: is it fitted? Fit it first, or pass "
                         "predictions=/scores= with model=None.", code="not_fitted")
    classes = [py_value(c) for c in np.asarray(classes).tolist()]
    if len(classes) != 2:
        raise ModelError(f"the model has {len(classes)} classes ({as_list(classes)}); the audit needs a binary classifier.",
                         code="not_binary")
    hits = [i for i, c in enumerate(classes) if c == positive]
    if not hits:
        raise ModelError(f"positive_label={positive!r} is not among the model's classes_ {as_list(classes)}. The model "
                         "was trained on other label values: encode the label column the way the model was trained.",
                         code="positive_not_in_classes")
    return hits[0]


def predict_fn(model: Any, positive: Any, label_values: list[Any], threshold: float
                ) -> tuple[str, Callable[[pd.DataFrame], tuple[np.ndarray, np.ndarray | None]], str | None]:
    """Return (method, fn(X) -> (pred01, scores), score_kind)."""
    classes = getattr(model, "classes_", None)
    if classes is not None:  # the model may predict a class the audited labels happen not to contain
        label_values = list(dict.fromkeys([*label_values, *(py_value(c) for c in np.asarray(classes).tolist())]))
    if hasattr(model, "predict_proba") and hasattr(model, "classes_"):
        idx = _positive_index(model, positive)

        def proba(X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
            out = np.asarray(call_model("predict_proba", model.predict_proba, X))
            if out.ndim != 2 or out.shape != (len(X), 2):
                raise ModelError(f"predict_proba returned shape {out.shape}; expected ({len(X)}, 2).", code="bad_shape")
            s = validate_scores(out[:, idx], "predict_proba output")
            return (s >= threshold).astype(np.int8), s

        return "predict_proba", proba, "probability"
    if hasattr(model, "decision_function") and hasattr(model, "predict"):
        idx = _positive_index(model, positive)

        def decision(X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
            d = np.asarray(call_model("decision_function", model.decision_function, X), dtype=float)
            if d.ndim != 1 or len(d) != len(X):
                raise ModelError(f"decision_function returned shape {d.shape}; expected ({len(X)},).", code="bad_shape")
            s = validate_scores(d if idx == 1 else -d, "decision_function output", probability=False)
            p = call_model("predict", model.predict, X)
            return _encode_model_predictions(p, label_values, positive, len(X)), s

        return "decision_function", decision, "decision"
    if hasattr(model, "predict"):
        if hasattr(model, "classes_"):
            _positive_index(model, positive)

        def predict(X: pd.DataFrame) -> tuple[np.ndarray, None]:
            p = call_model("predict", model.predict, X)
            return _encode_model_predictions(p, label_values, positive, len(X)), None

        return "predict", predict, None
    if callable(model):
        def call(X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
            out = np.asarray(call_model("the model call", model, X))
            if out.ndim == 2 and out.shape[1] == 1:
                out = out[:, 0]
            if out.ndim != 1 or len(out) != len(X):
                raise ModelError(f"the model function returned shape {out.shape}; expected ({len(X)},): one probability "
                                 "of the positive label, or one predicted label, per row.", code="bad_shape")
            if out.dtype.kind == "f" and not set(np.unique(out[: 10_000])).issubset({0.0, 1.0}):
                s = validate_scores(out, "the model function's output")
                return (s >= threshold).astype(np.int8), s
            return _encode_model_predictions(out, label_values, positive, len(X)), None

        return "callable", call, None
    raise ModelError(f"model of type {type(model).__name__} is not supported: pass a fitted scikit-learn style "
                     "classifier (predict_proba / decision_function / predict), a function of the feature DataFrame, "
                     "or None with predictions=/scores=.", code="unsupported_model")


def _encode_model_predictions(p: Any, label_values: list[Any], positive: Any, n: int) -> np.ndarray:
    arr = np.asarray(p)
    if arr.ndim != 1 or len(arr) != n:
        raise ModelError(f"predict returned shape {arr.shape}; expected ({n},).", code="bad_shape")
    try:
        return encode_predictions(pd.Series(arr), label_values, positive, what="the model's predictions")
    except InputError as exc:
        raise ModelError(str(exc), code="bad_predictions") from None


def run_model(model: Any, X: pd.DataFrame, *, positive: Any, label_values: list[Any], threshold: float,
              seed: int, check_rows: int) -> ModelOutput:
    """Predict once on all rows; re-predict a seeded sample of rows to detect non-determinism."""
    method, fn, kind = predict_fn(model, positive, label_values, threshold)
    preds, scores = fn(X)
    if method == "callable" and scores is not None:
        kind = "probability"
    deterministic = None
    if check_rows and len(X):
        rng = np.random.default_rng([seed, 0xD37])
        rows = np.sort(rng.choice(len(X), size=min(check_rows, len(X)), replace=False))
        p2, s2 = fn(X.iloc[rows])
        same = np.array_equal(p2, preds[rows])
        if same and scores is not None and s2 is not None:
            same = bool(np.allclose(s2, scores[rows], rtol=1e-9, atol=1e-12))
        deterministic = bool(same)
    return ModelOutput(preds, scores, kind, method, describe(model), model_fingerprint(model), deterministic)
