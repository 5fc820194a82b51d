"""Frozen results, versioned JSON that round-trips exactly, atomic writes, undefined values."""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pandas as pd
import pytest

import audit
from audit.results import AuditResult, write_atomic


@pytest.fixture(scope="module")
def result(adult_scored):
    return audit.run_audit(None, adult_scored, label="income", positive_label=">50K", protected=["sex", "race"],
                           scores="score", n_bootstrap=200)


def test_json_round_trip_is_exact(result, tmp_path):
    path = tmp_path / "r.json"
    result.to_json(path)
    back = AuditResult.from_json(path)
    assert back == result
    assert back.to_json() == result.to_json()
    pd.testing.assert_frame_equal(back.metrics, result.metrics)
    pd.testing.assert_frame_equal(back.disparities, result.disparities)


def test_json_has_no_nan_or_infinity(result):
    text = result.to_json()
    assert "NaN" not in text and "Infinity" not in text
    data = json.loads(text)
    assert data["format"] == "fairness-audit/result" and data["format_version"] == 3


def test_result_is_frozen(result):
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.n_rows = 5
    df = result.metrics
    df.loc[0, "value"] = -1.0
    assert result.metrics.loc[0, "value"] != -1.0


def test_tables_have_the_documented_columns(result):
    assert list(result.metrics.columns)[:8] == ["attribute", "group", "metric", "value", "ci_low", "ci_high", "n",
                                                "status"]
    assert list(result.disparities.columns)[:9] == ["attribute", "group", "reference", "metric", "value", "ci_low",
                                                    "ci_high", "p_value", "verdict"]
    assert set(result.disparities["verdict"]) <= {"significant", "not significant", "insufficient data", "undefined",
                                                  "not tested"}


def test_undefined_metrics_carry_a_reason_not_a_number():
    df = pd.DataFrame({"g": ["a"] * 40 + ["b"] * 40, "y": [0] * 40 + [0, 1] * 20, "p": [0, 1] * 40})
    r = audit.run_audit(None, df, label="y", protected=["g"], predictions="p", n_bootstrap=100)
    m = r.metrics
    row = m[(m.group == "a") & (m.metric == "recall")].iloc[0]
    assert row["status"] == "undefined" and np.isnan(row["value"]) and "no actual positives" in row["reason"]
    d = r.disparities
    row = d[(d.group == "a") & (d.metric == "equal_opportunity_difference")].iloc[0]
    assert row["verdict"] == "undefined" and "has no actual favourable outcomes" in row["reason"]
    assert "NaN" not in r.to_json()


def test_small_groups_are_flagged_insufficient():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"g": ["big"] * 500 + ["small"] * 12, "y": rng.integers(0, 2, 512), "p": rng.integers(0, 2, 512)})
    r = audit.run_audit(None, df, label="y", protected=["g"], predictions="p", n_bootstrap=100)
    g = r.groups.set_index("group")
    assert g.loc["small", "status"] == "insufficient data" and "12 rows < min_group_size 30" in g.loc["small", "reason"]
    d = r.disparities
    assert set(d[d.group == "small"]["verdict"]) <= {"insufficient data", "undefined"}
    r2 = audit.run_audit(None, df, label="y", protected=["g"], predictions="p", n_bootstrap=100, min_group_size=10,
                         min_positives=1, min_negatives=1)
    assert r2.groups.set_index("group").loc["small", "status"] == "ok"


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "out.json"
    target.write_text("old")

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError):
        write_atomic(target, "new content")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_from_json_rejects_other_files(tmp_path):
    p = tmp_path / "x.json"
    p.write_text('{"hello": 1}')
    with pytest.raises(audit.InputError, match="not a fairness-audit result"):
        AuditResult.from_json(p)
    p.write_text('{"format": "fairness-audit/result", "format_version": 99}')
    with pytest.raises(audit.InputError, match="not one this library reads"):
        AuditResult.from_json(p)
    with pytest.raises(audit.InputError, match="cannot read result file"):
        AuditResult.from_json(tmp_path / "missing.json")


def test_multiple_comparison_correction_is_applied(result):
    d = result.disparities
    tested = d[(d.comparison == "vs_reference") & d.p_value_raw.notna()]
    assert (tested["p_value"] >= tested["p_value_raw"] - 1e-15).all()
    # Holm: the smallest adjusted p-value is m times the smallest raw one
    m = len(tested)
    assert tested["p_value"].min() == pytest.approx(min(1.0, m * tested["p_value_raw"].min()), rel=1e-12)


def test_training_data_base_rates(adult_scored, tmp_path):
    from audit.datasets import load_adult

    train = load_adult("train")
    r = audit.run_audit(None, adult_scored, label="income", positive_label=">50K", protected=["sex"],
                        scores="score", n_bootstrap=200, train_data=train)
    sec = r.section("training_data")
    assert sec.get("n_rows") == len(train)
    groups = {row["group"]: row for row in sec.table("groups").records() if row["attribute"] == "sex"}
    rates = {row["group"]: row["base_rate"] for row in sec.table("group_base_rates").records()
             if row["attribute"] == "sex"}
    want = (train["income"] == ">50K").groupby(train["sex"]).mean()
    for g, rate in want.items():
        assert groups[g]["positives"] / groups[g]["n"] == pytest.approx(rate, abs=1e-12)
        assert rates[g] == pytest.approx(rate, abs=1e-12)
    path = tmp_path / "t.json"
    r.to_json(path)
    assert AuditResult.from_json(path) == r
    # a format-2 file kept the same summary in an untyped "extras" list: it is read into the section
    import json

    old = json.loads(r.to_json())
    old["format_version"] = 2
    sec_d = old.pop("sections")["training_data"]
    old["extras"] = [["training_data", {
        "n_rows": sec_d["info"]["n_rows"], "data_fingerprint": sec_d["info"]["data_fingerprint"],
        "groups": sec_d["tables"]["groups"], "base_rates": sec_d["tables"]["base_rates"],
        "group_base_rates": sec_d["tables"]["group_base_rates"]["rows"]}]]
    assert AuditResult.from_dict(old) == r
    assert "Training data" in r.to_html()
    with pytest.raises(audit.InputError, match=r"train_data: label column 'income' is not in data"):
        audit.run_audit(None, adult_scored, label="income", positive_label=">50K", protected=["sex"],
                        scores="score", n_bootstrap=0, train_data=train.drop(columns=["income"]))
