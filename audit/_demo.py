"""The demo: train a model on the bundled Adult training split and audit it on the test split."""

from __future__ import annotations

from typing import Any

from .datasets import ADULT_FEATURES


def adult_model(train: Any = None, seed: int = 0) -> Any:
    """A fitted scikit-learn pipeline (one-hot + scaling + logistic regression) on Adult's training split."""
    from sklearn.compose import make_column_selector, make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from .datasets import load_adult

    if train is None:
        train = load_adult("train")
    categorical = make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                                OneHotEncoder(handle_unknown="ignore", min_frequency=10))
    pre = make_column_transformer(
        (categorical, make_column_selector(dtype_exclude="number")),
        (StandardScaler(), make_column_selector(dtype_include="number")),
    )
    model = make_pipeline(pre, LogisticRegression(max_iter=2000, random_state=seed))
    return model.fit(train[ADULT_FEATURES], train["income"])


def run_demo(seed: int = 0, n_bootstrap: int = 1000, explain: bool = True) -> Any:
    from ._engine import run_audit
    from .datasets import load_adult

    train = load_adult("train")
    model = adult_model(train, seed=seed)
    test = load_adult("test")
    return run_audit(model, test, label="income", positive_label=">50K", protected=["sex", "race"],
                     seed=seed, n_bootstrap=n_bootstrap, train_data=train, explain=explain,
                     mitigate={"attributes": ["sex"]})
