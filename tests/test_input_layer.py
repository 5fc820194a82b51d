"""One input layer for every path: the argument checks of rows in memory and of data an engine scans are the same
functions with the same messages (not only the same error codes)."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

import audit
from audit import _validation as V


def _frame(n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"sex": rng.choice(["F", "M"], n), "race": rng.choice(["a", "b"], n),
                         "y": rng.integers(0, 2, n), "score": rng.random(n)})


CASES = [
    ({"protected": ["sex", "sex"]}, V.PROTECTED_TWICE.format(found=repr(["sex", "sex"]))),
    ({"protected": ["sex", "y"]}, V.PROTECTED_IS_LABEL.format(name="y")),
    ({"protected": []}, V.BAD_PROTECTED.format(found="[]")),
    ({"protected": ["sex", "gender"]}, "protected column 'gender' is not in data"),
    ({"scores": None}, V.NOTHING_TO_AUDIT),
]


@pytest.mark.parametrize("change,message", CASES)
def test_memory_and_engine_refuse_alike(change, message):
    df = _frame()
    kw = {"label": "y", "positive_label": 1, "protected": ["sex"], "scores": "score", "n_bootstrap": 0, **change}
    with pytest.raises(audit.InputError) as mem:
        audit.run_audit(None, df, **kw)
    con = duckdb.connect()
    with pytest.raises(audit.InputError) as eng:
        audit.run_audit(None, con.from_df(df), engine="duckdb", **kw)
    assert message in str(mem.value) and message in str(eng.value)
    assert mem.value.code == eng.value.code


def test_a_model_and_precomputed_scores_are_refused_alike():
    from sklearn.dummy import DummyClassifier

    df = _frame()
    model = DummyClassifier().fit(df[["score"]], df["y"])
    con = duckdb.connect()  # held: a relation needs its connection open
    for data in (df, con.from_df(df)):
        with pytest.raises(audit.InputError, match=r"not both \(the audit would not know which to trust\)"):
            audit.run_audit(model, data, label="y", protected="sex", scores="score")


def test_zero_rows_say_which_data():
    df = _frame().iloc[:0]
    with pytest.raises(audit.InputError, match=r"^data has zero rows: an audit needs at least one row per group\.$"):
        audit.run_audit(None, df, label="y", positive_label=1, protected="sex", scores="score")
    with pytest.raises(audit.InputError, match=r"^data \(.*\) has zero rows: an audit needs at least one row"):
        con = duckdb.connect()
        audit.run_audit(None, con.from_df(df), label="y", positive_label=1, protected="sex",
                        scores="score", engine="duckdb")


def test_training_rows_are_validated_once_for_every_module(monkeypatch):
    from sklearn.linear_model import LogisticRegression

    from audit import _validation

    df = _frame(600)
    df["x"] = df["score"] + (df["sex"] == "F") * 0.2
    model = LogisticRegression().fit(df[["x"]], df["y"])
    seen = []
    real = _validation.validate_inputs

    def counting(data, **kw):
        seen.append(len(data))
        return real(data, **kw)

    from audit import _engine

    monkeypatch.setattr(_validation, "validate_inputs", counting)
    monkeypatch.setattr(_engine, "validate_inputs", counting)
    train = df.iloc[:400]
    result = audit.run_audit(model, df.iloc[400:], label="y", protected="sex", features=["x"], train_data=train,
                             mitigate=True, n_bootstrap=0)
    assert result.section("training_data") is not None and result.section("mitigation").get("refit")
    assert seen == [200, 400]  # the audited rows, then the training rows once (training summary and reweighing)
    # a problem of the training rows is named as theirs
    with pytest.raises(audit.InputError, match="^train_data: label column 'y'"):
        audit.run_audit(model, df.iloc[400:], label="y", protected="sex", features=["x"],
                        train_data=train.assign(y=train["y"].astype(float).where(train.index > 5)), n_bootstrap=0)
