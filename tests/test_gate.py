"""The gate: a pure function of result + policy; modes, baselines, policy validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import audit
from audit.exceptions import ConfigError, InputError
from audit.gate import Policy, evaluate


def _data(n_a: int, n_b: int, rate_a: float, rate_b: float, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.r_[["a"] * n_a, ["b"] * n_b]
    y = rng.integers(0, 2, n_a + n_b)
    p = np.r_[rng.random(n_a) < rate_a, rng.random(n_b) < rate_b].astype(int)
    return pd.DataFrame({"g": g, "y": y, "p": p})


def _audit(df: pd.DataFrame, **kw):
    return audit.run_audit(None, df, label="y", protected=["g"], predictions="p", reference={"g": "a"},
                           n_bootstrap=500, **kw)


def _policy(mode: str, **extra) -> Policy:
    rule = {"metric": "demographic_parity_ratio", "min": 0.8, "mode": mode, **extra}
    return Policy.from_dict({"rules": [rule]})


@pytest.fixture(scope="module")
def clear_violation():
    return _audit(_data(4000, 4000, 0.5, 0.25))  # ratio ~0.5, tight interval


@pytest.fixture(scope="module")
def borderline():
    return _audit(_data(120, 120, 0.5, 0.36, seed=3))  # ratio ~0.72 with a wide interval


def _ratio(result):
    d = result.disparities
    return d[(d.metric == "demographic_parity_ratio") & (d.comparison == "vs_reference")].iloc[0]


def test_clear_violation_fails_in_every_mode(clear_violation):
    for mode in ("point", "significant", "strict"):
        g = evaluate(clear_violation, _policy(mode))
        assert g.rules[0].verdict == "fail" and not g.passed, mode


def test_borderline_depends_on_mode(borderline):
    row = _ratio(borderline)
    assert row["value"] < 0.8 < row["ci_high"], row  # the premise: estimate below, interval straddles
    assert evaluate(borderline, _policy("point")).rules[0].verdict == "fail"
    sig = evaluate(borderline, _policy("significant"))
    assert sig.rules[0].verdict == "inconclusive" and sig.passed  # warn by default
    assert not evaluate(borderline, _policy("significant", on_inconclusive="fail")).passed
    assert evaluate(borderline, _policy("strict")).rules[0].verdict == "fail"


def test_strict_needs_the_whole_interval_on_the_right_side(borderline):
    row = _ratio(borderline)
    threshold = row["ci_low"] + (row["value"] - row["ci_low"]) / 2  # point above, interval straddles
    pol = Policy.from_dict({"rules": [{"metric": "demographic_parity_ratio", "min": threshold, "mode": "strict"}]})
    assert evaluate(borderline, pol).rules[0].verdict == "inconclusive"
    pol = Policy.from_dict({"rules": [{"metric": "demographic_parity_ratio", "min": threshold, "mode": "significant"}]})
    assert evaluate(borderline, pol).rules[0].verdict == "pass"


def test_insufficient_data_follows_policy():
    """Some groups judged, one too small: on_insufficient decides. A rule that judged nothing never passes."""
    third = _data(500, 12, 0.5, 0.5, seed=1).replace({"g": {"a": "c", "b": "small"}})
    r = _audit(pd.concat([_data(500, 500, 0.5, 0.5), third[third.g == "small"]], ignore_index=True))
    g = evaluate(r, _policy("significant"))
    assert g.rules[0].verdict == "insufficient data" and g.passed
    assert not evaluate(r, _policy("significant", on_insufficient="fail")).passed
    only_small = _audit(_data(500, 12, 0.5, 0.5))
    g = evaluate(only_small, _policy("significant"))
    assert g.rules[0].verdict == "insufficient data" and g.rules[0].blocking and not g.passed


def test_performance_rule_and_gate_is_pure(clear_violation):
    pol = Policy.from_dict({"rules": [{"metric": "accuracy", "min": 0.99, "scope": "overall", "mode": "point"}]})
    before = clear_violation.to_json()
    g1 = clear_violation.gate(pol)
    g2 = clear_violation.gate(pol)
    assert g1 == g2 and g1.rules[0].verdict == "fail"
    assert clear_violation.to_json() == before


def test_baseline_regression(clear_violation):
    fair = _audit(_data(4000, 4000, 0.5, 0.25).assign(p=lambda d: d["p"]))
    # same data, a new model that is worse for group b
    df = _data(4000, 4000, 0.5, 0.25)
    worse_df = df.copy()
    rng = np.random.default_rng(9)
    flip = (worse_df["g"] == "b") & (worse_df["p"] == 1) & (rng.random(len(df)) < 0.5)
    worse_df.loc[flip, "p"] = 0
    worse = _audit(worse_df)
    pol = Policy.from_dict({"rules": [{"metric": "demographic_parity_difference", "max_worsening": 0.02}]})
    assert evaluate(fair, pol, fair).passed
    g = evaluate(worse, pol, fair)
    assert g.rules[0].verdict == "fail" and "worse by" in g.rules[0].checks[0].message


def test_baseline_on_different_data_is_refused(clear_violation, borderline):
    pol = Policy.from_dict({"rules": [{"metric": "demographic_parity_difference", "max_worsening": 0.02}]})
    with pytest.raises(InputError, match="different data"):
        evaluate(clear_violation, pol, borderline)
    g = evaluate(clear_violation, pol, borderline, allow_different_data=True)
    assert g.notes


POLICY_TYPO = """version = 1
[[rules]]
metric = "demographic_parity_ratio"
min = 0.8

[[rules]]
metric = "equal_opportunity_difference"
max_ab = 0.1
"""


def test_policy_errors_name_key_and_line():
    with pytest.raises(ConfigError, match=r"line 8, rule 2: unknown key 'max_ab' \(did you mean 'max_abs'\?\)"):
        Policy.from_toml(POLICY_TYPO)
    with pytest.raises(ConfigError, match=r"unknown metric 'demographic_parity'"):
        Policy.from_toml('[[rules]]\nmetric = "demographic_parity"\nmin = 0.8\n')
    with pytest.raises(ConfigError, match=r"mode = 'loose' is invalid"):
        Policy.from_toml('[[rules]]\nmetric = "accuracy"\nmin = 0.8\nmode = "loose"\n')
    with pytest.raises(ConfigError, match=r"has no threshold"):
        Policy.from_toml('[[rules]]\nmetric = "accuracy"\n')
    with pytest.raises(ConfigError, match=r"invalid TOML"):
        Policy.from_toml('[[rules]\nmetric = 1\n')
    with pytest.raises(ConfigError, match=r"no rules"):
        Policy.from_toml('version = 1\n[defaults]\nmode = "point"\n')


def test_starter_policy_is_valid(clear_violation):
    from audit.gate import STARTER_POLICY

    pol = Policy.from_toml(STARTER_POLICY)
    assert len(pol.rules) == 4
    g = evaluate(clear_violation, pol)
    assert {r.rule.name for r in g.rules} == {"four-fifths rule", "equal opportunity", "overall accuracy",
                                              "no fairness regression"}
