"""Count-based metrics computed from confusion counts.

Counts live in arrays whose last axis has four cells indexed by ``2 * y + y_hat``:
``[TN, FP, FN, TP]``. Every function here is vectorised over any leading axes (groups,
bootstrap replicates), so the same formula serves point estimates and bootstrap resamples.
Undefined values are NaN here; callers turn them into "undefined" with the reason from
:data:`UNDEFINED_REASON`.
"""

from __future__ import annotations

import numpy as np

from .. import metrics as _catalogue

TN, FP, FN, TP = 0, 1, 2, 3

#: performance metrics in the positive-label frame, in report order, and why each is undefined (the catalogue's)
COUNT_METRICS = _catalogue.COUNT_METRICS
UNDEFINED_REASON = _catalogue.undefined_reasons("count")


def _div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def count_metric(name: str, c: np.ndarray) -> np.ndarray:
    """One metric from counts ``c[..., 4]``; NaN where undefined."""
    return count_metrics(c, (name,))[name]


def count_metrics(c: np.ndarray, names: tuple[str, ...] = COUNT_METRICS) -> dict[str, np.ndarray]:
    """Several metrics from the same counts at once (the cells and their sums are extracted once)."""
    c = np.asarray(c, dtype=float)
    tn, fp, fn, tp = (np.ascontiguousarray(c[..., i]) for i in (TN, FP, FN, TP))
    pos, neg, pp = tp + fn, tn + fp, tp + fp
    n = pos + neg
    out: dict[str, np.ndarray] = {}
    for name in names:
        if name == "base_rate":
            out[name] = _div(pos, n)
        elif name == "selection_rate":
            out[name] = _div(pp, n)
        elif name == "accuracy":
            out[name] = _div(tp + tn, n)
        elif name == "precision":
            out[name] = _div(tp, pp)
        elif name in ("recall", "fnr", "balanced_accuracy"):
            if "_tpr" not in out:
                out["_tpr"] = _div(tp, pos)
            if name == "recall":
                out[name] = out["_tpr"]
            elif name == "fnr":
                out[name] = _div(fn, pos)
            else:
                out[name] = (out["_tpr"] + _div(tn, neg)) / 2.0
        elif name == "specificity":
            out[name] = _div(tn, neg)
        elif name == "fpr":
            out[name] = _div(fp, neg)
        elif name == "npv":
            out[name] = _div(tn, tn + fn)
        elif name == "f1":
            out[name] = _div(2 * tp, 2 * tp + fp + fn)
        else:
            raise KeyError(name)
    out.pop("_tpr", None)
    return out


def favorable_frame(c: np.ndarray, favorable: bool) -> np.ndarray:
    """Counts seen from the favourable outcome: unchanged when the positive label is favourable,
    else both the truth and the prediction are flipped (TN<->TP, FP<->FN)."""
    return c if favorable else c[..., ::-1]


def proportion_parts(name: str, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Successes and trials of a proportion metric (for two-sample tests)."""
    c = np.asarray(c)
    tn, fp, fn, tp = c[..., TN], c[..., FP], c[..., FN], c[..., TP]
    n = tn + fp + fn + tp
    parts = {
        "base_rate": (tp + fn, n),
        "selection_rate": (tp + fp, n),
        "accuracy": (tp + tn, n),
        "precision": (tp, tp + fp),
        "recall": (tp, tp + fn),
        "fpr": (fp, tn + fp),
        "fnr": (fn, tp + fn),
    }
    return parts[name]
