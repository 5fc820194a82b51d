from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audit.datasets import load_adult, load_compas, load_german


@pytest.fixture(scope="session")
def adult_test() -> pd.DataFrame:
    return load_adult("test")


@pytest.fixture(scope="session")
def adult_model():
    from audit.datasets import adult_model

    return adult_model()


@pytest.fixture(scope="session")
def adult_scored(adult_model, adult_test):
    """Adult test split with the demo model's positive-class probability (column ``score``)."""
    from audit.datasets import ADULT_FEATURES

    df = adult_test.copy()
    pos = list(adult_model.classes_).index(">50K")
    df["score"] = adult_model.predict_proba(df[ADULT_FEATURES])[:, pos]
    return df


@pytest.fixture(scope="session")
def compas_scored() -> pd.DataFrame:
    """COMPAS with the COMPAS decile score as a score (decile/10; >= 0.5 means medium or high risk)."""
    df = load_compas()
    df["score"] = df["decile_score"] / 10.0
    return df


@pytest.fixture(scope="session")
def german_scored() -> pd.DataFrame:
    from sklearn.compose import make_column_selector, make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    df = load_german()
    X = df.drop(columns=["credit"])
    pre = make_column_transformer((OneHotEncoder(handle_unknown="ignore"), make_column_selector(dtype_exclude="number")),
                                  (StandardScaler(), make_column_selector(dtype_include="number")))
    model = make_pipeline(pre, LogisticRegression(max_iter=2000))
    proba = cross_val_predict(model, X, df["credit"], cv=5, method="predict_proba")
    classes = sorted(df["credit"].unique())
    df = df.copy()
    df["score"] = proba[:, classes.index("good")]
    return df


def records(frame: pd.DataFrame, **where) -> pd.DataFrame:
    mask = np.ones(len(frame), dtype=bool)
    for k, v in where.items():
        mask &= (frame[k] == v).to_numpy()
    return frame[mask]


def value(frame: pd.DataFrame, **where) -> float:
    rows = records(frame, **where)
    assert len(rows) == 1, (where, len(rows))
    return float(rows["value"].iloc[0])
