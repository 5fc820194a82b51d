"""Bad input: a clear error naming the column or argument, what was found, and the fix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import audit
from audit.exceptions import ConfigError, InputError, ModelError


@pytest.fixture()
def df() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 400
    return pd.DataFrame({
        "x": rng.normal(size=n),
        "sex": rng.choice(["F", "M"], size=n),
        "race": rng.choice(["A", "B", "C"], size=n),
        "y": rng.choice(["no", "yes"], size=n),
        "score": rng.random(n),
    })


def run(df, **kw):
    args = dict(label="y", positive_label="yes", protected=["sex"], scores="score", n_bootstrap=0)
    args.update(kw)
    return audit.run_audit(None, df, **args)


def test_missing_column_suggests_close_match(df):
    with pytest.raises(InputError, match=r"protected column 'gender' is not in data") as e:
        run(df, protected=["gender"])
    with pytest.raises(InputError, match=r"label column 'yy' is not in data \(did you mean 'y'\?\)"):
        run(df, label="yy")
    with pytest.raises(InputError, match=r"did you mean 'race'"):
        run(df, protected=["rase"])
    assert e.value.column == "gender"


def test_missing_values_in_protected_and_label(df):
    bad = df.copy()
    bad.loc[7, "sex"] = None
    with pytest.raises(InputError, match=r"protected column 'sex' has 1 missing value\(s\).*first at index 7"):
        run(bad)
    bad = df.copy()
    bad.loc[3, "y"] = np.nan
    with pytest.raises(InputError, match=r"label column 'y' has 1 missing value"):
        run(bad)


def test_scores_nan_inf_and_range(df):
    bad = df.copy()
    bad.loc[5, "score"] = np.inf
    with pytest.raises(InputError, match=r"scores contain 1 NaN or infinite value\(s\), first at row 5"):
        run(bad)
    with pytest.raises(InputError, match=r"scores must be probabilities .* in \[0, 1\]; found values from -0.5"):
        run(df, scores=np.r_[-0.5, df["score"].to_numpy()[1:]])


def test_label_values(df):
    bad = df.copy()
    bad.loc[0, "y"] = "maybe"
    with pytest.raises(InputError, match=r"label column 'y' has 3 distinct values .*'maybe'.*exactly two"):
        run(bad)
    with pytest.raises(InputError, match=r"label column 'y' has values .*'no'.*'yes'.*positive_label='yes'"):
        run(df, positive_label=None)
    with pytest.raises(InputError, match=r"positive_label='Yes' does not occur in label column 'y'; values found"):
        run(df, positive_label="Yes")
    ints = df.assign(y=(df["y"] == "yes").astype(int))
    with pytest.raises(InputError, match=r"positive_label='1' does not occur.*mind the type"):
        run(ints, positive_label="1")
    # 0/1 labels infer positive 1
    assert run(ints, positive_label=None).positive_label == 1


def test_alignment_never_by_position(df):
    s = pd.Series(df["score"].to_numpy(), index=df.index + 1000)
    with pytest.raises(InputError, match=r"scores is a pandas Series whose index does not match data's index"):
        run(df, scores=s)
    with pytest.raises(InputError, match=r"scores has 399 rows but data has 400"):
        run(df, scores=df["score"].to_numpy()[:-1])
    # a Series with the same labels in another order is matched by label
    shuffled = df["score"].sample(frac=1.0, random_state=1)
    a = run(df, scores=shuffled)
    b = run(df, scores=df["score"])
    assert a.metrics_table == b.metrics_table


def test_duplicate_columns_and_zero_rows(df):
    dup = pd.concat([df, df[["x"]]], axis=1)
    with pytest.raises(InputError, match=r"duplicated column names 'x'"):
        run(dup)
    with pytest.raises(InputError, match=r"zero rows"):
        run(df.iloc[:0])


def test_too_many_groups_suggests_binning(df):
    many = df.assign(age=np.arange(len(df)))
    with pytest.raises(InputError, match=r"'age' has 400 distinct values, more than max_groups=50. Bin it first"):
        run(many, protected=["age"])
    assert run(many.assign(age=many["age"] // 100), protected=["age"]).n_rows == 400


def test_predictions_values(df):
    with pytest.raises(InputError, match=r"predictions contain values 2, 0 that are not label values"):
        run(df, scores=None, predictions=np.r_[2, np.zeros(len(df) - 1, int)])
    r = run(df, scores=None, predictions=df["score"] > 0.5)
    assert r.model.method == "precomputed"


def test_model_errors(df):
    class Boom:
        classes_ = np.array(["no", "yes"])

        def predict_proba(self, X):
            raise ValueError("could not convert string to float: 'F'")

    with pytest.raises(ModelError, match=r"raised during predict_proba on 400 rows .* could not convert"):
        audit.run_audit(Boom(), df, label="y", positive_label="yes", protected=["sex"], features=["x"])

    class WrongShape(Boom):
        def predict_proba(self, X):
            return np.ones((len(X), 3)) / 3

    with pytest.raises(ModelError, match=r"predict_proba returned shape \(400, 3\); expected \(400, 2\)"):
        audit.run_audit(WrongShape(), df, label="y", positive_label="yes", protected=["sex"], features=["x"])
    with pytest.raises(ModelError, match=r"returned shape \(2,\)"):
        audit.run_audit(lambda X: np.array([0.1, 0.2]), df, label="y", positive_label="yes", protected=["sex"],
                        features=["x"])

    class OtherClasses(Boom):
        classes_ = np.array([0, 1])

    with pytest.raises(ModelError, match=r"positive_label='yes' is not among the model's classes_ 0, 1"):
        audit.run_audit(OtherClasses(), df, label="y", positive_label="yes", protected=["sex"], features=["x"])


def test_bad_options(df):
    with pytest.raises(ConfigError, match=r"n_bootstrap=5 is invalid"):
        run(df, n_bootstrap=5)
    with pytest.raises(ConfigError, match=r"unknown audit option\(s\) min_group"):
        run(df, min_group=3)
    with pytest.raises(InputError, match=r"reference group 'f' for 'sex' is not a group of that attribute \(did you mean 'F'\?\)"):
        run(df, reference={"sex": "f"})
    with pytest.raises(InputError, match=r"model is None and neither predictions= nor scores="):
        audit.run_audit(None, df, label="y", positive_label="yes", protected=["sex"])
    with pytest.raises(InputError, match=r"data must be a pandas DataFrame; got ndarray"):
        run(df.to_numpy())


def test_all_errors_share_a_base_class():
    assert issubclass(InputError, audit.AuditError)
    assert issubclass(ModelError, audit.AuditError)
    assert issubclass(ConfigError, audit.AuditError)


@pytest.mark.parametrize("dtype", ["int8", "int64", "uint16", "bool"])
def test_large_integer_labels_take_the_counting_path_and_agree_with_factorize(dtype):
    from audit._validation import _label_values

    rng = np.random.default_rng(0)
    values = (rng.random(70_000) < 0.3).astype(dtype)
    if dtype != "bool":
        values[::7] = 5  # three distinct values
    codes, uniques = _label_values(pd.Series(values))
    assert np.array_equal(np.asarray(uniques, dtype=object)[codes], values.astype(object))
    assert sorted(uniques) == sorted(pd.unique(values).tolist())
    assert all(type(u) in (int, bool) for u in uniques)  # plain Python values for messages and JSON
