"""Fairness over time (issue 19, first part): every window audited from one pass, each window equal to an audit of
its rows alone, drift alerts with false alarms controlled (simulated), bad input refused naming the argument."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import audit
from audit.exceptions import ConfigError, InputError


def _monitor(seed: int, drift: bool = False, weeks: int = 12, n: int = 5000) -> pd.DataFrame:
    """Weekly decisions for three groups: b is granted at 0.95 times a's rate; with ``drift``, at 0.75 times from
    week 8 on."""
    rng = np.random.default_rng(seed)
    frames = []
    for w in range(weeks):
        g = rng.choice(["a", "b", "c"], n)
        p = np.where(g == "a", 0.5, np.where(g == "b", 0.5 * 0.95, 0.49))
        if drift and w >= 7:
            p = np.where(g == "b", 0.5 * 0.75, p)
        t = pd.Timestamp("2026-01-05") + pd.to_timedelta(w * 7 * 86400 + rng.integers(0, 7 * 86400, n), unit="s")
        frames.append(pd.DataFrame({"t": t, "g": g, "y": (rng.random(n) < 0.5).astype(int),
                                    "pred": (rng.random(n) < p).astype(int)}))
    return pd.concat(frames, ignore_index=True)


def _windows(df: pd.DataFrame, **kw):
    args = dict(time="t", every="7D", label="y", positive_label=1, protected="g", predictions="pred", n_bootstrap=200)
    return audit.audit_windows(None, df, **{**args, **kw})


def test_each_window_equals_an_audit_of_its_rows():
    df = _monitor(1, weeks=4, n=3000)
    w = _windows(df)
    assert list(w.windows.n) == [3000] * 4 and set(w.windows.status) == {"ok"}
    groups = w.trend.query("metric == 'demographic_parity_ratio'")
    counts = w.trend.query("metric == 'selection_rate'").set_index(["window_start", "attribute", "group"])["n"]
    assert (groups.set_index(["window_start", "attribute", "group"])["n"] == counts.reindex(
        groups.set_index(["window_start", "attribute", "group"]).index)).all()  # a disparity's n is its group's
    ref = dict(w.info)["group_reference"]
    trend = w.trend
    for start in w.windows.window_start:
        rows = df[(df.t >= pd.Timestamp(start)) & (df.t < pd.Timestamp(start) + pd.Timedelta("7D"))]
        alone = audit.run_audit(None, rows, label="y", positive_label=1, protected="g", predictions="pred",
                                reference=ref, n_bootstrap=0)
        for table, got in ((alone.metrics, trend[(trend.window_start == start) & trend.metric.isin(alone.metrics.metric)]),
                           (alone.disparities.query("comparison == 'vs_reference'"),
                            trend[(trend.window_start == start) & trend.metric.isin(alone.disparities.metric)])):
            want = table.set_index(["attribute", "group", "metric"])["value"]
            have = got.set_index(["attribute", "group", "metric"])["value"].reindex(want.index)
            assert np.allclose(have.to_numpy(float), want.to_numpy(float), equal_nan=True, rtol=0, atol=1e-12)


def test_a_planted_drop_is_alerted_and_names_the_group_and_metric():
    w = _windows(_monitor(7, drift=True))
    drift = w.drift()
    assert drift and {(a["group"], a["metric"]) for a in drift} <= {("b", "demographic_parity_ratio"),
                                                                      ("b", "equal_opportunity_difference")}
    first = min(a["window_start"] for a in drift)
    assert first in set(sorted(w.windows.window_start)[7:9])  # within two windows of the change
    a = next(a for a in drift if a["metric"] == "demographic_parity_ratio")
    assert a["change"] < 0 and a["ci_high"] < 0 and a["p_value"] < 0.05
    info = dict(w.info)
    assert info["correction"] == "holm" and info["family_size"] == 11 * 2 * 2  # windows x metrics x groups
    # persistence 2: the first alert comes one window later
    later = _windows(_monitor(7, drift=True), persistence=2).drift()
    assert min(a["window_start"] for a in later) > first
    # the previous window as the reference: the largest fall is where the drop happens, and never after it
    prev = _windows(_monitor(7, drift=True), reference="previous")
    assert all(a["window_start"] <= first for a in prev.drift())
    b = prev.alerts.query("group == 'b' and metric == 'demographic_parity_ratio' and change == change")
    assert b.loc[b.change.idxmin(), "window_start"] == first
    assert prev.alerts.iloc[0]["reason"] == "no reference window"
    # a fixed reference range pooling the first seven weeks
    pooled = _windows(_monitor(7, drift=True), reference=("2026-01-05", "2026-02-23")).drift()
    assert min(a["window_start"] for a in pooled) == first


def test_small_and_empty_windows_are_reported_never_alerted():
    df = _monitor(3, weeks=5, n=2000)
    df = df[~((df.t >= "2026-01-19") & (df.t < "2026-01-26"))]  # week 3 empty
    df = pd.concat([df, pd.DataFrame({"t": [pd.Timestamp("2026-02-09 10:00")] * 5, "g": ["a", "b", "c", "a", "b"],
                                      "y": [1, 0, 1, 0, 1], "pred": [1, 1, 0, 0, 1]})])  # week 6: five rows
    w = _windows(df)
    status = dict(zip(w.windows.window_start, w.windows.status))
    assert status["2026-01-19 00:00:00"] == "empty" and status["2026-02-09 00:00:00"] == "insufficient data"
    a = w.alerts
    assert set(a[a.window_start.isin(["2026-01-19 00:00:00", "2026-02-09 00:00:00"])].verdict) == \
        {"insufficient data"}


def test_windows_of_rows_and_calendar_months():
    df = _monitor(5, weeks=9, n=1000)
    by_rows = _windows(df, every=2500)
    assert list(by_rows.windows.n) == [2500, 2500, 2500, 1500]
    months = _windows(df, every="1MS")
    assert list(months.windows.window_start) == ["2026-01-01 00:00:00", "2026-02-01 00:00:00",
                                                 "2026-03-01 00:00:00"]
    assert months.windows.n.sum() == len(df)
    text = months.to_json()
    assert json.loads(text)["format"] == "fairness-audit/windows" and '"alerts"' in text


@pytest.mark.parametrize("change,match", [
    ({"time": "when"}, "time column 'when' is not in data"),
    ({"every": "fortnightly"}, "every='fortnightly' is invalid"),
    ({"every": 0}, "every=0 is invalid"),
    ({"reference": "last"}, "reference='last' is invalid"),
    ({"reference": ("2020-01-01", "2020-02-01")}, "holds no row"),
    ({"persistence": 0}, "persistence=0 is invalid"),
    ({"metrics": ["accuracy"]}, r"metrics=\['accuracy'\] is invalid"),
])
def test_bad_arguments_are_named(change, match):
    with pytest.raises((ConfigError, InputError), match=match):
        _windows(_monitor(2, weeks=2, n=300), **change)


def test_bad_times_are_named():
    df = _monitor(2, weeks=2, n=300)
    bad = df.assign(t=df.t.astype(str).where(df.index != 7, "not a date"))
    with pytest.raises(InputError, match=r"time column 't' has values that are not times, first at index 7"):
        _windows(bad)
    mixed = df.assign(t=[ts.tz_localize("UTC") if i % 2 else ts for i, ts in enumerate(df.t)])
    with pytest.raises(InputError, match="mixes times with and without a time zone"):
        _windows(mixed)
    holed = df.assign(t=df.t.where(df.index != 3))
    with pytest.raises(InputError, match="1 missing value"):
        _windows(holed)


@pytest.mark.slow
def test_false_alarms_are_controlled_and_a_drift_is_found_in_simulation():
    """200 monitors of 12 weekly windows without drift raise any alert in at most 5%; with the planted drop at week
    8, at least 90% alert within two windows, naming group b and the demographic parity ratio."""
    false_alarms = sum(bool(_windows(_monitor(1000 + s), seed=s).drift()) for s in range(200))
    assert false_alarms <= 10, false_alarms
    found = 0
    for s in range(200):
        w = _windows(_monitor(5000 + s, drift=True), seed=s)
        early = set(sorted(w.windows.window_start)[7:9])
        found += any(a["window_start"] in early and a["group"] == "b" and a["metric"] == "demographic_parity_ratio"
                     for a in w.drift())
    assert found >= 180, found


def test_precomputed_predictions_as_a_series_follow_their_index_into_a_pooled_reference():
    df = _monitor(9, weeks=3, n=2000)
    shuffled = df["pred"].sample(frac=1.0, random_state=0)  # a Series indexed like data, in another order
    a = _windows(df, reference=("2026-01-05", "2026-01-12"))
    b = _windows(df.drop(columns="pred"), predictions=shuffled, reference=("2026-01-05", "2026-01-12"))
    assert a.alerts["value"].equals(b.alerts["value"]) and a.alerts["reference_value"].equals(b.alerts["reference_value"])
