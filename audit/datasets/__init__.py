"""Real fairness benchmark data sets, shipped compressed inside the package (no network needed).

Each loader returns a :class:`pandas.DataFrame`; the audit settings that go with it are in
``DATASETS[name]`` (and in ``df.attrs``): label column, positive label, whether the positive label
is the favourable outcome, and the protected columns. Sources and licences: ``NOTICE.md`` beside this file.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["DatasetInfo", "DATASETS", "load_adult", "load_compas", "load_german", "load", "adult_model",
           "ADULT_FEATURES"]

#: the model inputs of :func:`adult_model` (every Adult column but the label)
ADULT_FEATURES = [
    "age", "workclass", "education", "education_num", "marital_status", "occupation", "relationship",
    "race", "sex", "capital_gain", "capital_loss", "hours_per_week", "native_country",
]


#: the demo's model fitted on the bundled training split, per seed (a fit takes 10-30 s on a busy machine)
_FITTED: dict[int, Any] = {}


def adult_model(train: "pd.DataFrame | None" = None, seed: int = 0) -> Any:
    """The demo's model: a fitted scikit-learn pipeline (imputation and one-hot encoding of the text columns,
    scaling of the numbers, logistic regression) trained on Adult's training split (or ``train``), to try the
    audit on real data::

        from audit.datasets import adult_model, load_adult
        result = audit.run_audit(adult_model(), load_adult("test"), label="income", positive_label=">50K",
                                 protected=["sex", "race"])
    """
    import copy

    if train is None and seed in _FITTED:  # fitted once per process; each caller gets its own copy
        return copy.deepcopy(_FITTED[seed])
    from sklearn.compose import make_column_selector, make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    bundled = train is None
    if bundled:
        train = load_adult("train")
    categorical = make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                                OneHotEncoder(handle_unknown="ignore", min_frequency=10))
    pre = make_column_transformer(
        (categorical, make_column_selector(dtype_exclude="number")),
        (StandardScaler(), make_column_selector(dtype_include="number")),
    )
    model = make_pipeline(pre, LogisticRegression(max_iter=2000, random_state=seed))
    model.fit(train[ADULT_FEATURES], train["income"])
    if bundled:
        _FITTED[seed] = copy.deepcopy(model)
    return model


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    file: str
    label: str
    positive_label: Any
    favorable: bool
    protected: tuple[str, ...]
    description: str
    source: str

    def audit_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`audit.run_audit` that match this data set."""
        return {"label": self.label, "positive_label": self.positive_label,
                "favorable": self.favorable, "protected": list(self.protected)}


DATASETS: dict[str, DatasetInfo] = {
    "adult": DatasetInfo(
        "adult", "adult.csv.gz", "income", ">50K", True, ("sex", "race"),
        "US 1994 census extract: does a person earn more than $50K a year? 48,842 rows "
        "(column `split`: 32,561 train, 16,281 test); missing values ('?') are NA.",
        "UCI Machine Learning Repository, Adult (Becker & Kohavi, 1996), CC BY 4.0"),
    "compas": DatasetInfo(
        "compas", "compas.csv.gz", "two_year_recid", 1, False, ("race", "sex"),
        "Broward County COMPAS screenings with two-year recidivism, ProPublica's filter (6,172 rows). "
        "The positive label (reoffended) is the unfavourable outcome.",
        "ProPublica, Machine Bias COMPAS analysis (2016)"),
    "german": DatasetInfo(
        "german", "german.csv.gz", "credit", "good", True, ("sex", "age_group"),
        "Statlog German credit: 1,000 applicants rated good or bad credit risk; codes decoded to words, "
        "sex from the personal-status code, age_group is age < 25 / >= 25.",
        "UCI Statlog (German Credit Data), Hofmann (1994), CC BY 4.0"),
}


def load(name: str, split: str | None = None) -> "pd.DataFrame":
    """Load a bundled data set by name (``adult``, ``compas`` or ``german``)."""
    import pandas as pd

    from ..exceptions import InputError

    if name not in DATASETS:
        raise InputError(f"dataset {name!r} is not bundled; choose one of {', '.join(DATASETS)}.",
                         code="unknown_dataset")
    info = DATASETS[name]
    with resources.files(__package__).joinpath("data", info.file).open("rb") as fh:
        df = pd.read_csv(fh, compression="gzip", keep_default_na=False, na_values=[""])
    if split is not None:
        if "split" not in df.columns:
            raise InputError(f"split={split!r}: dataset {name!r} has no train/test split; pass split=None.",
                             code="invalid_option")
        if split not in ("train", "test"):
            raise InputError(f"split={split!r} is invalid: choose 'train', 'test' or None (all rows).",
                             code="invalid_option")
        df = df[df["split"] == split].reset_index(drop=True)
    df.attrs.update(info.audit_kwargs())
    return df


def load_adult(split: str | None = None) -> "pd.DataFrame":
    """UCI Adult census income: label ``income`` (positive ``>50K``, favourable), protected ``sex``, ``race``.

    Parameters
    ----------
    split : {None, "train", "test"}
        The original training (32,561 rows) or test (16,281 rows) split; None: both, with a ``split`` column.

    Examples
    --------
    >>> from audit.datasets import load_adult
    >>> len(load_adult("train")), len(load_adult("test"))
    (32561, 16281)

    Cite: Becker, B. and Kohavi, R. (1996). Adult. UCI Machine Learning Repository.
    https://doi.org/10.24432/C5XW20 (CC BY 4.0).
    """
    return load("adult", split)


def load_compas() -> "pd.DataFrame":
    """ProPublica COMPAS: label ``two_year_recid`` (positive 1 = reoffended, unfavourable), protected ``race``, ``sex``.

    ProPublica's filter of ``compas-scores-two-years.csv`` (6,172 rows). Cite: Angwin, J., Larson, J., Mattu, S.
    and Kirchner, L. (2016). Machine Bias. ProPublica. https://github.com/propublica/compas-analysis
    """
    return load("compas")


def load_german() -> "pd.DataFrame":
    """Statlog German credit: label ``credit`` (positive ``good``, favourable), protected ``sex``, ``age_group``.

    Cite: Hofmann, H. (1994). Statlog (German Credit Data). UCI Machine Learning Repository.
    https://doi.org/10.24432/C5NC77 (CC BY 4.0).
    """
    return load("german")
