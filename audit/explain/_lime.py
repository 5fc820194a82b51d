"""The one place lime is used (it has had no release since 2020): explain one row with LIME, reproducibly.

Text and categorical columns are declared categorical, so conditions read ``occupation=Craft-repair``, never
``104 <= 0.00``. lime's random state advances between calls on one explainer, so every explanation gets a fresh
explainer seeded from (audit seed, row, repeat); each case is explained with several seeds and its stability is
the mean pairwise overlap (Jaccard) of their top features.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from ._shap import category_codes


@dataclass(frozen=True)
class LimeCase:
    row: int
    prediction: float
    conditions: tuple[tuple[str, str, float], ...]  # (feature, condition, weight), strongest first
    stability: float


def _seed(seed: int, row: int, k: int) -> int:
    digest = hashlib.sha256(f"lime\x1f{seed}\x1f{row}\x1f{k}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def explain_cases(X_train: pd.DataFrame, rows: pd.DataFrame, row_ids: list[int], predict: Callable[[pd.DataFrame],
                  np.ndarray], seed: int, *, samples: int, repeats: int, top: int,
                  mode: str = "classification") -> list[LimeCase]:
    """LIME explanations of ``rows`` (their positions ``row_ids``) for the positive-class output ``predict`` (a
    probability), or (``mode="regression"``) for a regression model's prediction."""
    from lime.lime_tabular import LimeTabularExplainer

    # a column without any value in the sample cannot be perturbed (lime's scale would be NaN): it is held at the
    # explained row's own value and is not among the conditions
    empty = [c for c in X_train.columns if X_train[c].isna().all()]
    held = rows[empty]
    full_columns = list(X_train.columns)
    X_train, rows = X_train.drop(columns=empty), rows.drop(columns=empty)
    current = {"row": 0}
    encode, decode_kept = category_codes(X_train, [rows])

    def decode(a: np.ndarray) -> pd.DataFrame:
        frame = decode_kept(a)
        for c in empty:
            frame[c] = pd.Series([held[c].iloc[current["row"]]] * len(frame), dtype=held[c].dtype)
        return frame[full_columns]

    train = encode(X_train)
    features = [str(c) for c in X_train.columns]
    categorical = [j for j, col in enumerate(X_train.columns)
                   if not pd.api.types.is_numeric_dtype(X_train[col].dtype)
                   or isinstance(X_train[col].dtype, pd.CategoricalDtype)]
    names = {}
    for j in categorical:  # code -> category text, for readable conditions
        col = X_train.columns[j]
        codes = np.arange(int(np.nanmax(np.r_[train[:, j], encode(rows)[:, j]])) + 1, dtype=float)
        a = np.repeat(train[:1], len(codes), axis=0)
        a[:, j] = codes
        names[j] = [str(v) for v in decode(a)[col].tolist()]

    def proba(a: np.ndarray) -> np.ndarray:
        p = np.clip(np.asarray(predict(decode(a)), dtype=float), 0.0, 1.0)
        return np.c_[1.0 - p, p]

    def value(a: np.ndarray) -> np.ndarray:
        return np.asarray(predict(decode(a)), dtype=float)

    regression = mode == "regression"
    fn = value if regression else proba

    out = []
    encoded_rows = encode(rows)
    # one explainer; its RandomState (shared by lime's sampler, discretizer and regression) is re-seeded in place
    # before every explanation, so each depends on (seed, row, repeat) only, never on the calls before it
    state = np.random.RandomState(0)
    explainer = LimeTabularExplainer(train, mode=mode, feature_names=features,
                                     categorical_features=categorical, categorical_names=names,
                                     discretize_continuous=True, random_state=state)
    for i, row_id in enumerate(row_ids):
        current["row"] = i
        runs = []
        for k in range(repeats):
            state.seed(_seed(seed, row_id, k))
            exp = explainer.explain_instance(encoded_rows[i], fn, labels=(1,), num_features=top,
                                             num_samples=samples)
            # the feature of each condition by its index (as_list maps local_exp in order): never by matching
            # names inside the condition text, which fails for names like 0 and 1
            ids = [j for j, _ in exp.local_exp[1]]
            runs.append([(features[j], c, float(w)) for j, (c, w) in zip(ids, exp.as_list(label=1))])
        tops = [{f for f, _, _ in r} for r in runs]
        pairs = list(itertools.combinations(tops, 2))
        stability = float(np.mean([len(a & b) / max(len(a | b), 1) for a, b in pairs])) if pairs else 1.0
        pred = float(value(encoded_rows[i:i + 1])[0]) if regression else float(proba(encoded_rows[i:i + 1])[0, 1])
        out.append(LimeCase(row_id, pred, tuple(runs[0]), stability))
    return out
