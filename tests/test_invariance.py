"""Results do not depend on row order, index labels or dtype choice (property-based and explicit)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import audit


def _frame(seed: int, n: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sex = rng.choice(["Female", "Male"], size=n, p=[0.4, 0.6])
    race = rng.choice(["Black", "White", "Asian"], size=n, p=[0.3, 0.5, 0.2])
    score = np.clip(rng.beta(2, 3, size=n) + 0.1 * (sex == "Male"), 0, 1).round(3)
    y = rng.random(n) < score
    return pd.DataFrame({"sex": sex, "race": race, "y": np.where(y, "yes", "no"), "score": score})


def _audit(df: pd.DataFrame, **kw):
    args = dict(label="y", positive_label="yes", protected=["sex", "race"], scores="score", n_bootstrap=200, seed=3)
    args.update(kw)
    return audit.run_audit(None, df, **args)


def _tables(r):
    return r.metrics_table, r.disparities_table, r.groups_table


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), perm_seed=st.integers(0, 10_000), offset=st.integers(-5, 10**6))
def test_row_order_and_index_do_not_matter(seed, perm_seed, offset):
    df = _frame(seed, 300)
    base = _audit(df)
    perm = np.random.default_rng(perm_seed).permutation(len(df))
    shuffled = df.iloc[perm]
    shuffled.index = np.arange(len(df))[perm] * 7 + offset
    other = _audit(shuffled)
    # point estimates are exactly equal; intervals come from the same table draws
    assert _tables(base) == _tables(other)
    assert base.data_fingerprint == other.data_fingerprint


STRING_DTYPES = ["object", "string[python]", "string[pyarrow]", "category"]


@pytest.mark.parametrize("dtype", STRING_DTYPES)
def test_string_dtypes_give_identical_results(dtype):
    df = _frame(1, 500)
    base = _audit(df.astype({"sex": "object", "race": "object", "y": "object"}))
    other = _audit(df.astype({"sex": dtype, "race": dtype, "y": dtype}))
    assert _tables(base) == _tables(other)
    assert base.data_fingerprint == other.data_fingerprint


def test_pyarrow_text_columns_of_several_chunks_and_types_give_identical_results():
    """Text group columns encoded by pyarrow itself (several chunks, large_string, pandas' ArrowDtype) audit like
    object columns; a missing value is still refused with the column's name."""
    import pyarrow as pa

    df = _frame(6, 900)
    base = _audit(df.astype({"sex": "object", "race": "object"}))

    def chunked(values, typ):
        v = list(values)
        return pd.arrays.ArrowExtensionArray(pa.chunked_array([v[:300], v[300:301], v[301:]], type=typ))

    for typ in (pa.string(), pa.large_string()):
        other = df.assign(sex=chunked(df["sex"], typ), race=chunked(df["race"], typ))
        assert other["race"].array.__arrow_array__().num_chunks == 3
        result = _audit(other)
        assert _tables(result) == _tables(base) and result.data_fingerprint == base.data_fingerprint
    holed = df.assign(race=chunked([None, *df["race"][1:]], pa.string()))
    with pytest.raises(audit.InputError, match="race"):
        _audit(holed)


def test_numeric_nullable_and_boolean_dtypes_give_identical_results():
    df = _frame(2, 500)
    num = df.assign(y=(df["y"] == "yes").astype("int64"), race=df["race"].map({"Black": 0, "White": 1, "Asian": 2}))
    base = _audit(num, positive_label=1)
    nullable = num.astype({"y": "Int64", "race": "Int64"})
    assert _tables(base) == _tables(_audit(nullable, positive_label=1))
    boolean = df.assign(y=df["y"] == "yes")
    b1 = _audit(boolean, positive_label=True)
    b2 = _audit(boolean.astype({"y": "boolean"}), positive_label=True)
    assert _tables(b1) == _tables(b2)
    assert b1.positive_label is True


def test_categorical_keeps_absent_groups_with_zero_rows():
    df = _frame(4, 400)
    df["race"] = pd.Categorical(df["race"], categories=["Asian", "Black", "Other", "White"])
    r = _audit(df)
    g = r.groups.set_index(["attribute", "group"])
    assert g.loc[("race", "Other"), "n"] == 0
    assert g.loc[("race", "Other"), "status"] == "insufficient data"
    m = r.metrics
    row = m[(m.attribute == "race") & (m.group == "Other") & (m.metric == "accuracy")].iloc[0]
    assert row["status"] == "undefined" and "no rows" in row["reason"]
    d = r.disparities
    row = d[(d.attribute == "race") & (d.group == "Other") & (d.metric == "demographic_parity_difference")].iloc[0]
    assert row["verdict"] == "undefined"


def test_same_seed_same_result_different_seed_different_intervals():
    df = _frame(5, 400)
    a, b = _audit(df, seed=11), _audit(df, seed=11)
    assert _tables(a) == _tables(b)
    c = _audit(df, seed=12)
    assert a.metrics["value"].equals(c.metrics["value"])
    assert not a.metrics["ci_low"].equals(c.metrics["ci_low"])


def test_timestamp_columns_hash_as_their_text_fast_and_alike():
    """A datetime column (a year of decisions to the second: ~a million distinct values) is fingerprinted from its
    text without a Timestamp object per value, with the same hashes as before (and as the same times held as
    objects); sub-second times take the general path."""
    from audit._validation import _hash_times, _hash_values

    rng = np.random.default_rng(0)
    t = pd.Series(pd.Timestamp("1969-12-31 23:00") + pd.to_timedelta(rng.integers(0, 400 * 86400, 50_000), unit="s"))
    _, uniques = pd.factorize(t)
    assert np.array_equal(_hash_times(uniques), _hash_values(np.asarray(uniques, dtype=object)))
    assert _hash_times(pd.factorize(t + pd.Timedelta("1ms"))[1]) is None
    df = _frame(8, 400).assign(when=t[:400].to_numpy())
    a = _audit(df)
    b = _audit(df.assign(when=df["when"].astype(object)))
    assert a.data_fingerprint == b.data_fingerprint
