"""A multiclass model's per-group statistic (issue 20's core): the true-class x predicted-class count table of
each finest group, summed into reported groups and resampled like the binary confusion counts (a multinomial
draw per finest group, its size fixed), and from it every one-vs-rest metric per class, the per-class
disparities with their worst class, and the binary table of "received a favourable class".

Classes are the model's (or the label's) full list: a class the data never holds is kept with zero rows, so its
metrics are undefined rather than missing.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .bootstrap import multinomial_tables

#: one-vs-rest metrics per class, in report order
CLASS_METRICS = ("base_rate", "selection_rate", "recall", "precision", "fpr")


class ClassTable:
    """``FinestStatistic``: ``(F, C, C)`` counts of true class (row) x predicted class (column) per finest group."""

    key = "classes"

    def __init__(self, true_codes: Any, predicted_codes: Any, n_classes: int):
        self.true = np.asarray(true_codes, dtype=np.int64)
        self.pred = np.asarray(predicted_codes, dtype=np.int64)
        self.n_classes = int(n_classes)
        for name, codes in (("true", self.true), ("predicted", self.pred)):
            if len(codes) and (codes.min() < 0 or codes.max() >= self.n_classes):
                raise ValueError(f"{name} class codes must lie in 0..{self.n_classes - 1}")

    def table(self, finest: np.ndarray, n_finest: int, y: np.ndarray, model: Any,
              weights: np.ndarray | None) -> np.ndarray:
        C = self.n_classes
        cell = (finest.astype(np.int64) * C + self.true) * C + self.pred
        return np.bincount(cell, weights=weights, minlength=n_finest * C * C).reshape(n_finest, C, C).round() \
            .astype(np.int64)

    def replicates(self, table: np.ndarray, n_boot: int, seeds: Sequence[np.random.SeedSequence],
                   finest: np.ndarray, y: np.ndarray, model: Any) -> np.ndarray:
        return multinomial_tables(table, n_boot, seeds)


def class_metrics(tables: np.ndarray) -> dict[str, np.ndarray]:
    """One-vs-rest metrics of every class from tables ``(..., C, C)``: ``(..., C)`` each; NaN where undefined
    (no rows; no actual members of the class for recall; none predicted for precision; no non-members for FPR)."""
    t = np.asarray(tables, dtype=np.float64)
    n = t.sum((-2, -1))[..., None]
    actual = t.sum(-1)  # rows whose true class is c
    predicted = t.sum(-2)  # rows predicted c
    hit = np.diagonal(t, axis1=-2, axis2=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        div = lambda a, b: np.where(b > 0, a / np.where(b > 0, b, 1.0), np.nan)  # noqa: E731
        return {"base_rate": div(actual, n), "selection_rate": div(predicted, n), "recall": div(hit, actual),
                "precision": div(hit, predicted), "fpr": div(predicted - hit, n - actual)}


def favorable_counts(tables: np.ndarray, favorable: Sequence[int]) -> np.ndarray:
    """``[TN, FP, FN, TP]`` of "receives a favourable class" (``favorable``: class codes) from tables
    ``(..., C, C)``: the binary audit of the favourable outcome, with every binary metric and disparity."""
    t = np.asarray(tables)
    fav = np.zeros(t.shape[-1], dtype=bool)
    fav[list(favorable)] = True
    true_fav, pred_fav = fav[:, None], fav[None, :]
    cells = [(~true_fav) & (~pred_fav), (~true_fav) & pred_fav, true_fav & (~pred_fav), true_fav & pred_fav]
    return np.stack([(t * m).sum((-2, -1)) for m in cells], axis=-1)


def class_disparities(tables: np.ndarray, reference: int, favorable: Sequence[int] | None = None
                      ) -> dict[str, np.ndarray]:
    """Per class, each group (axis -2 of the metrics, i.e. ``tables (..., G, C, C)``) against group ``reference``:
    ``demographic_parity_difference`` and ``_ratio`` (selection rate of the class) and
    ``equal_opportunity_difference`` (recall of the class), each ``(..., G, C)``. With ``favorable`` classes the
    rows are signed as the binary ones (negative, or a ratio below 1: the group fares worse): receiving a
    favourable class more often is better, an unfavourable one worse. Without it, group minus reference (no
    direction). ``worst_class`` gives, per group, the class of the largest absolute difference in selection
    rate (``-1`` when none is defined)."""
    m = class_metrics(tables)
    C = np.asarray(tables).shape[-1]
    sign = np.ones(C)
    if favorable is not None:
        fav = np.zeros(C, dtype=bool)
        fav[list(favorable)] = True
        sign = np.where(fav, 1.0, -1.0)
    out: dict[str, np.ndarray] = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        sel, rec = m["selection_rate"], m["recall"]
        ref_sel, ref_rec = sel[..., reference:reference + 1, :], rec[..., reference:reference + 1, :]
        out["demographic_parity_difference"] = sign * (sel - ref_sel)
        ratio = np.where(sign > 0, sel / ref_sel, ref_sel / sel)
        out["demographic_parity_ratio"] = np.where(np.isfinite(ratio), ratio, np.nan)
        out["equal_opportunity_difference"] = sign * (rec - ref_rec)
    gap = np.abs(out["demographic_parity_difference"])
    defined = np.isfinite(gap).any(-1)
    out["worst_class"] = np.where(defined, np.argmax(np.where(np.isfinite(gap), gap, -1.0), axis=-1), -1)
    return out
