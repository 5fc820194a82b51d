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
    assert list(w.window_table.n) == [3000] * 4 and set(w.window_table.status) == {"ok"}
    groups = w.trend.query("metric == 'demographic_parity_ratio'")
    counts = w.trend.query("metric == 'selection_rate'").set_index(["window_start", "attribute", "group"])["n"]
    assert (groups.set_index(["window_start", "attribute", "group"])["n"] == counts.reindex(
        groups.set_index(["window_start", "attribute", "group"]).index)).all()  # a disparity's n is its group's
    ref = dict(w.info)["group_reference"]
    trend = w.trend
    for start in w.window_table.window_start:
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
    assert first in set(sorted(w.window_table.window_start)[7:9])  # within two windows of the change
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
    status = dict(zip(w.window_table.window_start, w.window_table.status))
    assert status["2026-01-19 00:00:00"] == "empty" and status["2026-02-09 00:00:00"] == "insufficient data"
    a = w.alerts
    assert set(a[a.window_start.isin(["2026-01-19 00:00:00", "2026-02-09 00:00:00"])].verdict) == \
        {"insufficient data"}


def test_windows_of_rows_and_calendar_months():
    df = _monitor(5, weeks=9, n=1000)
    by_rows = _windows(df, every=2500)
    assert list(by_rows.window_table.n) == [2500, 2500, 2500, 1500]
    months = _windows(df, every="1MS")
    assert list(months.window_table.window_start) == ["2026-01-01 00:00:00", "2026-02-01 00:00:00",
                                                 "2026-03-01 00:00:00"]
    assert months.window_table.n.sum() == len(df)
    text = months.to_json()
    assert json.loads(text)["format"] == "fairness-audit/windows" and '"alerts"' in text


@pytest.mark.parametrize("change,match", [
    ({"time": "when"}, "time column 'when' is not in data"),
    ({"every": "fortnightly"}, "every='fortnightly' is invalid"),
    ({"every": 0}, "every=0 is invalid"),
    ({"reference": "last"}, "reference='last' is invalid"),
    ({"reference": ("2020-01-01", "2020-02-01")}, r"holds 0 row\(s\) of the data"),
    ({"reference": ("2026-01-05", "2026-01-05 00:30")}, r"a reference needs at least min_rows=30"),
    ({"every": "1MS"}, "makes one window over the data's range"),
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
        early = set(sorted(w.window_table.window_start)[7:9])
        found += any(a["window_start"] in early and a["group"] == "b" and a["metric"] == "demographic_parity_ratio"
                     for a in w.drift())
    assert found >= 180, found


def test_precomputed_predictions_as_a_series_follow_their_index_into_a_pooled_reference():
    df = _monitor(9, weeks=3, n=2000)
    shuffled = df["pred"].sample(frac=1.0, random_state=0)  # a Series indexed like data, in another order
    a = _windows(df, reference=("2026-01-05", "2026-01-12"))
    b = _windows(df.drop(columns="pred"), predictions=shuffled, reference=("2026-01-05", "2026-01-12"))
    assert a.alerts["value"].equals(b.alerts["value"]) and a.alerts["reference_value"].equals(b.alerts["reference_value"])


def test_each_window_is_an_audit_result_and_round_trips_through_json():
    df = _monitor(4, weeks=3, n=1500)
    w = _windows(df)
    assert len(w.windows) == 3 and all(isinstance(r, audit.AuditResult) for r in w.windows)
    first = w.window("2026-01-05")
    assert first.n_rows == 1500 and first is w.windows[0]
    # its verdicts are decided within the window: the same as an audit of its rows with the same resamples
    ref = dict(w.info)["group_reference"]
    rows = df[df.t < "2026-01-12"]
    alone = audit.run_audit(None, rows, label="y", positive_label=1, protected="g", predictions="pred",
                            reference=ref, n_bootstrap=0)
    assert first.disparities[["metric", "group", "value"]].equals(alone.disparities[["metric", "group", "value"]])
    back = audit.WindowedAudit.from_json(w.to_json())
    assert back.alerts.equals(w.alerts) and back.trend.equals(w.trend)
    assert back.windows[2].metrics.equals(w.windows[2].metrics)
    with pytest.raises(InputError, match="no window starts at '2027-01-01'"):
        w.window("2027-01-01")
    newer = json.loads(w.to_json())
    newer["format_version"] = 99
    with pytest.raises(InputError, match="format_version 99 .* upgrade fairness-audit"):
        audit.WindowedAudit.from_dict(newer)


def test_late_labels_count_for_label_free_metrics_and_still_alert():
    """The last three windows have no label yet: selection rate and demographic parity use every row (and alert
    on the planted drift), label-dependent metrics say they have no labelled rows."""
    df = _monitor(7, drift=True)
    late = df.assign(y=df.y.astype("float").where(df.t < "2026-03-02"))  # weeks 9-12 unlabelled
    w = _windows(late)
    table = w.window_table
    assert list(table.n_labelled[-4:]) == [0, 0, 0, 0] and list(table.n[-4:]) == [5000] * 4
    drift = w.drift()
    assert any(a["metric"] == "demographic_parity_ratio" and a["group"] == "b" for a in drift)
    last = w.windows[-1]
    dp = last.disparities.query("metric == 'demographic_parity_ratio' and group == 'b'").iloc[0]
    eo = last.disparities.query("metric == 'equal_opportunity_difference' and group == 'b'").iloc[0]
    assert dp.verdict in ("significant", "not significant") and eo.verdict in ("insufficient data", "undefined")
    acc = last.metrics.query("metric == 'accuracy' and group == 'b'").iloc[0]
    assert acc.status == "undefined" and "labels arrive late" in acc.reason
    # labelled windows are unchanged by the late ones: the same numbers as with every label
    full = _windows(df)
    a, b = w.trend, full.trend
    early = a.window_start < "2026-03-02"
    assert np.allclose(a[early].value.to_numpy(float), b[b.window_start < "2026-03-02"].value.to_numpy(float),
                       equal_nan=True)
    # a window with some labels: label-dependent metrics count the labelled rows (n), the others every row
    part = df.assign(y=df.y.astype("float").where((df.t < "2026-03-02") | (df.index % 2 == 0)))
    p = _windows(part).windows[-1].metrics
    g = p[p.group == "b"].set_index("metric")
    assert g.loc["selection_rate", "n"] > g.loc["accuracy", "n"] > 0


def test_accumulator_equals_the_batch_audit_and_survives_its_state_file(tmp_path):
    df = _monitor(11, drift=True, weeks=6, n=1500)
    batch = _windows(df, group_reference={"g": "a"})
    acc = audit.WindowAccumulator(time="t", every="7D", label="y", positive_label=1, protected="g",
                                  predictions="pred", n_bootstrap=200, group_reference={"g": "a"})
    days = [d for _, d in df.groupby(df.t.dt.floor("1D"))]
    for k, day in enumerate(days):
        acc.add(day)
        if k % 9 == 4:  # a daily job: save, and load the state back the next day
            path = tmp_path / ("state.parquet" if k % 2 else "state.json")
            acc.save(path)
            acc = audit.WindowAccumulator.load(path, time="t", every="7D", label="y", protected="g",
                                               predictions="pred", n_bootstrap=200)
    inc = acc.result()
    assert list(inc.window_table.n) == list(batch.window_table.n)
    cols = ["window_start", "attribute", "group", "metric", "value", "ci_low", "ci_high", "status"]
    pd.testing.assert_frame_equal(inc.trend[cols], batch.trend[cols], check_exact=False, rtol=1e-9, atol=1e-12)
    pd.testing.assert_frame_equal(inc.alerts, batch.alerts, check_exact=False, rtol=1e-9, atol=1e-12)
    assert [r.data_fingerprint for r in inc.windows] == [r.data_fingerprint for r in batch.windows]


def test_a_state_file_from_another_monitor_or_a_newer_library_is_refused(tmp_path):
    df = _monitor(12, weeks=2, n=400)
    acc = audit.WindowAccumulator(time="t", every="7D", label="y", positive_label=1, protected="g",
                                  predictions="pred", n_bootstrap=0).add(df)
    path = tmp_path / "state.parquet"
    acc.save(path)
    kw = dict(time="t", every="7D", label="y", protected="g", predictions="pred", n_bootstrap=0)
    with pytest.raises(InputError, match=r"built with every='7D', not '1D'"):
        audit.WindowAccumulator.load(path, **{**kw, "every": "1D"})
    with pytest.raises(InputError, match=r"built with positive_label='1', not '0'"):
        audit.WindowAccumulator.load(path, **kw, positive_label=0)
    with pytest.raises(InputError, match=r"built with config=\{'threshold': 0.5\}, not \{'threshold': 0.7\}"):
        audit.WindowAccumulator.load(path, **kw, threshold=0.7)
    text = tmp_path / "state.json"
    acc.save(text)
    newer = json.loads(text.read_text())
    newer["format_version"] = 2
    text.write_text(json.dumps(newer))
    with pytest.raises(InputError, match="format_version 2 is not one this library reads .* upgrade"):
        audit.WindowAccumulator.load(text)
    before = path.read_bytes()
    with pytest.raises(InputError, match="dated before 2026-01-12"):  # a row in a closed window: nothing written
        audit.WindowAccumulator.load(path).add(df.head(3))
    assert path.read_bytes() == before
    (tmp_path / "other.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(InputError, match="not a readable Parquet state"):
        audit.WindowAccumulator.load(tmp_path / "other.parquet")


def _cli(*args: str, cwd=None):
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "audit", *args], capture_output=True, text=True, cwd=cwd, env=env)


def test_cli_monitor_adds_days_to_a_state_file_and_gates(tmp_path):
    """A daily job: `audit monitor --state ... --data today.parquet` (settings on the first run, read from the
    state after), the report, Markdown and JUnit written, exit 1 once the planted drift is alerted."""
    df = _monitor(21, drift=True, weeks=10, n=5000)
    df["y"] = df["y"].astype("float").where(df.t < "2026-03-02")  # the last two weeks' labels are late
    policy = tmp_path / "policy.toml"
    policy.write_text('[monitor]\nscope = "last_window"\nmax_drift = 0\n\n[[rules]]\n'
                      'metric = "demographic_parity_ratio"\nmin = 0.5\n')
    state = tmp_path / "monitor.parquet"
    weeks = [w for _, w in df.groupby(df.t.dt.to_period("W-SUN"))]
    codes = []
    for k, week in enumerate(weeks):
        week.to_parquet(tmp_path / "today.parquet")
        first = ["--time", "t", "--every", "7D", "--label", "y", "--positive-label", "1", "--protected", "g",
                 "--predictions", "pred", "--n-bootstrap", "200", "--group-reference", "g=a"] if k == 0 else \
            ["--predictions", "pred"]
        r = _cli("monitor", "--state", str(state), "--data", str(tmp_path / "today.parquet"), *first,
                 "--policy", str(policy), "--html", str(tmp_path / "monitor.html"), "--markdown",
                 str(tmp_path / "monitor.md"), "--junit", str(tmp_path / "monitor.xml"), "--json",
                 str(tmp_path / "monitor.json"))
        assert r.returncode in (0, 1), r.stderr
        codes.append(r.returncode)
    # week 1 has nothing to compare (the drift check cannot pass); no drift until week 8; then the gate fails
    assert codes[0] == 1 and codes[1:7] == [0] * 6 and codes[7:] == [1, 1, 1], codes
    assert "drift: 2026-03" in r.stderr and "gate FAILED" in r.stderr
    html = (tmp_path / "monitor.html").read_text()
    assert "Fairness monitoring report" in html and "drift alert" in html and "<script" not in html
    assert "Drift alerts (" in (tmp_path / "monitor.md").read_text()
    assert 'failures="1"' in (tmp_path / "monitor.xml").read_text()
    stored = audit.WindowedAudit.from_json(tmp_path / "monitor.json")
    batch = _windows(df, group_reference={"g": "a"})
    pd.testing.assert_frame_equal(stored.alerts, batch.alerts, check_exact=False, rtol=1e-9, atol=1e-12)
    assert list(stored.window_table.n_labelled) == [5000] * 8 + [0, 0]
    # the whole file at once (no state) gives the same alerts
    df.to_parquet(tmp_path / "all.parquet")
    r = _cli("monitor", "--data", str(tmp_path / "all.parquet"), "--time", "t", "--every", "7D", "--label", "y",
             "--positive-label", "1", "--protected", "g", "--predictions", "pred", "--n-bootstrap", "200",
             "--group-reference", "g=a", "--json", "-")
    assert r.returncode == 0, r.stderr
    assert audit.WindowedAudit.from_json(r.stdout).alerts.equals(stored.alerts)
    r = _cli("monitor", "--data", str(tmp_path / "all.parquet"), "--engine", "duckdb", "--time", "t", "--every", "7D",
             "--label", "y", "--positive-label", "1", "--protected", "g", "--predictions", "pred", "--n-bootstrap",
             "200", "--group-reference", "g=a", "--json", "-")
    assert r.returncode == 0, r.stderr
    scanned = audit.WindowedAudit.from_json(r.stdout)
    assert scanned.info["engine"] == "duckdb" and list(scanned.alerts.verdict) == list(stored.alerts.verdict)
    assert np.allclose(scanned.alerts.p_value.to_numpy(float), stored.alerts.p_value.to_numpy(float),
                       equal_nan=True, atol=1e-9)
    # another monitor's settings against this state: refused, exit 2, the state untouched
    before = state.read_bytes()
    r = _cli("monitor", "--state", str(state), "--data", str(tmp_path / "today.parquet"), "--every", "1D",
             "--predictions", "pred")
    assert r.returncode == 2 and "built with every='7D', not '1D'" in r.stderr
    assert state.read_bytes() == before


def test_gate_scopes_and_max_drift():
    w = _windows(_monitor(7, drift=True))  # drift in the last five windows, each for group b's parity ratio
    rule = [{"metric": "demographic_parity_ratio", "min": 0.8, "mode": "point"}]
    last = w.gate({"monitor": {"scope": "last_window"}, "rules": rule})
    assert not last.passed and last.drift_verdict == "fail" and [s for s, _ in last.windows] == [w.spans[-1].start]
    assert {(a["group"], a["metric"]) for a in last.drift} == {("b", "demographic_parity_ratio")}
    tolerant = w.gate({"monitor": {"scope": "last_window", "max_drift": 1}})
    assert tolerant.passed and tolerant.drift_verdict == "pass" and tolerant.windows == ()
    anywhere = w.gate({"monitor": {"scope": "any_window", "max_drift": 1}, "rules": rule})
    assert not anywhere.passed and len(anywhere.drift) == len(w.drift()) > 1
    failing = [s for s, g in anywhere.windows if not g.passed]  # a point rule: the windows below 0.8 fail
    assert failing and all(s >= "2026-02-23" for s in failing)
    # a quiet monitor passes; one window alone cannot be judged for drift, so it never passes
    quiet = _windows(_monitor(8))
    assert quiet.gate({"monitor": {}, "rules": rule}).passed
    one = audit.WindowAccumulator(time="t", every="7D", label="y", positive_label=1, protected="g",
                                  predictions="pred", n_bootstrap=200).add(_monitor(8, weeks=1)).result()
    g = one.gate({"monitor": {}})
    assert not g.passed and g.drift_verdict == "insufficient data" and "cannot pass" in g.notes[0]


@pytest.mark.parametrize("monitor,match", [
    ({"scope": "every_window"}, r"\[monitor\] scope = 'every_window' is invalid; choose one of last_window, any_window"),
    ({"max_drift": -1}, r"max_drift = -1 is invalid"),
    ({"max_drift": True}, r"max_drift = True is invalid"),
    ({"scop": "last_window"}, r"unknown key 'scop' in \[monitor\] \(did you mean 'scope'\?\)"),
])
def test_bad_monitor_policies_are_named(monitor, match):
    from audit.gate import Policy

    with pytest.raises(ConfigError, match=match):
        Policy.from_dict({"monitor": monitor})


def test_monitoring_report_escapes_user_strings_and_carries_the_alerts():
    df = _monitor(7, drift=True)
    df["g"] = df["g"].map({"a": "<b>a</b>", "b": "b & \u202eevil", "c": "c|`x`"})
    w = _windows(df)
    gate = w.gate({"monitor": {}})
    html = w.to_html(gate=gate)
    assert "<b>a</b>" not in html and "&lt;b&gt;a&lt;/b&gt;" in html and "\u202e" not in html
    assert html.count('class="alert"') == len(w.drift()) > 0  # one marker per drift alert
    assert "Group mix: g" in html and "FAILED" in html
    md = w.to_markdown(gate)
    assert "| b \\& \\\\u202eevil |" in md and "\u202e" not in md and f"### Drift alerts ({len(w.drift())})" in md
    import xml.etree.ElementTree as ET

    suite = ET.fromstring(w.to_junit(gate)).find("testsuite")
    assert suite.get("failures") == "1" and suite.find("testcase/failure") is not None


def _scored(seed: int = 7, weeks: int = 10, n: int = 5000) -> pd.DataFrame:
    df = _monitor(seed, drift=True, weeks=weeks, n=n)
    rng = np.random.default_rng(seed)
    df["x"] = 0.5 * df.pred + rng.normal(0, 0.1, len(df))
    df["score"] = np.round(np.clip(df.x + 0.25, 0, 1), 2)  # 101 distinct scores: the engine's buckets are exact
    df["y"] = df["y"].astype("float").where(df.t < "2026-03-02")  # the last two weeks' labels are late
    return df


def _same_windows(a, b, tol=1e-6, scores=True):
    """``scores=False``: a model's continuous scores fall in the engine's buckets, so ROC AUC and average
    precision are within their stated error bounds rather than equal (the single audit's rule); the rest equal."""
    assert list(a.window_table.n) == list(b.window_table.n)
    assert list(a.window_table.n_labelled) == list(b.window_table.n_labelled)
    keys = ["window_start", "attribute", "group", "metric"]
    m = a.trend.merge(b.trend, on=keys, suffixes=("_a", "_b"), how="outer", indicator=True)
    assert (m._merge == "both").all()
    if not scores:  # the score metrics' replicates come from the buckets' cells, as in the single engine audit
        from audit.metrics import SCORE_METRICS

        m = m[~m.metric.isin([*SCORE_METRICS, "roc_auc_difference", "calibration_gap"])]
    for col in ("value", "ci_low", "ci_high"):
        assert np.allclose(m[f"{col}_a"].to_numpy(float), m[f"{col}_b"].to_numpy(float), equal_nan=True, rtol=0,
                           atol=tol), col
    assert (m.status_a == m.status_b).all()
    assert list(a.alerts.verdict) == list(b.alerts.verdict)
    assert np.allclose(a.alerts.p_value.to_numpy(float), b.alerts.p_value.to_numpy(float), equal_nan=True, atol=tol)


def test_data_an_engine_holds_is_windowed_in_one_scan_equal_to_memory(tmp_path):
    """A Parquet file scanned by DuckDB (the window one more key of the grouped scan), and a model applied batch by
    batch where the data lives: the same windows, trend (intervals too) and alerts as in memory, late labels
    included."""
    import duckdb

    df = _scored()
    path = tmp_path / "decisions.parquet"
    df.to_parquet(path)
    kw = dict(time="t", every="7D", label="y", positive_label=1, protected="g", n_bootstrap=200,
              group_reference={"g": "a"})
    memory = audit.audit_windows(None, df, scores="score", **kw)
    scanned = audit.audit_windows(None, str(path), scores="score", engine="duckdb", **kw)
    _same_windows(memory, scanned)
    assert dict(scanned.info)["engine"] == "duckdb" and scanned.drift()
    con = duckdb.connect()
    relation = con.read_parquet(str(path))
    _same_windows(memory, audit.audit_windows(None, relation, scores="score", engine="duckdb", **kw))

    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(df[["x"]], df["pred"])
    _same_windows(audit.audit_windows(model, df, features=["x"], **kw),
                  audit.audit_windows(model, str(path), features=["x"], engine="duckdb", **kw), tol=1e-6,
                  scores=False)
    # weeks anchored on a Wednesday (the first window starts the Wednesday before the first row)
    weds = dict(kw, every="W-WED")
    mem_weds = audit.audit_windows(None, df, scores="score", **weds)
    assert mem_weds.window_table.window_start.iloc[0] == "2025-12-31 00:00:00"
    _same_windows(mem_weds, audit.audit_windows(None, str(path), scores="score", engine="duckdb", **weds))
    # windows of months; the defaults pick the same reference group
    months = dict(kw, every="1MS", group_reference=None)
    _same_windows(audit.audit_windows(None, df, scores="score", **months),
                  audit.audit_windows(None, str(path), scores="score", engine="duckdb", **months))
    # a Polars frame (the window from the date's parts) and a CSV file read by DuckDB
    import polars as pl

    _same_windows(memory, audit.audit_windows(None, pl.from_pandas(df).lazy(), scores="score", **kw))
    df.to_csv(tmp_path / "decisions.csv", index=False)
    _same_windows(memory, audit.audit_windows(None, str(tmp_path / "decisions.csv"), scores="score",
                                              engine="duckdb", **kw))
    with pytest.raises(ConfigError, match="every=500 is invalid for data an engine holds"):
        audit.audit_windows(None, str(path), scores="score", engine="duckdb", **dict(kw, every=500))
    with pytest.raises(ConfigError, match="reference=.* is invalid for data an engine holds"):
        audit.audit_windows(None, str(path), scores="score", engine="duckdb",
                            reference=("2026-01-05", "2026-01-19"), **kw)
    df.assign(t=df.t.astype(str)).to_parquet(tmp_path / "text.parquet")
    with pytest.raises(InputError, match="time column 't' holds String values, not timestamps"):
        audit.audit_windows(None, str(tmp_path / "text.parquet"), scores="score", engine="duckdb", **kw)


def test_accumulator_windows_of_rows_and_a_batch_spanning_several_windows():
    df = _monitor(13, weeks=4, n=1000).sort_values("t", kind="stable", ignore_index=True)
    batch = _windows(df, every=700, group_reference={"g": "a"})
    acc = audit.WindowAccumulator(time="t", every=700, label="y", positive_label=1, protected="g",
                                  predictions="pred", n_bootstrap=200, group_reference={"g": "a"})
    for part in (df.iloc[i:i + 571] for i in range(0, len(df), 571)):  # windows close inside batches
        acc.add(part)
    inc = acc.result()
    assert list(inc.window_table.n) == [700] * 5 + [500] == list(batch.window_table.n)
    assert list(inc.window_table.window_start) == list(batch.window_table.window_start)
    pd.testing.assert_frame_equal(inc.alerts, batch.alerts, check_exact=False, rtol=1e-9, atol=1e-12)
    # a frequency: one batch over three weeks closes two windows at once
    weekly = audit.WindowAccumulator(time="t", every="7D", label="y", positive_label=1, protected="g",
                                     predictions="pred", n_bootstrap=0).add(df[df.t < "2026-01-26"])
    assert [w.status for w in weekly.closed] == ["ok", "ok"] and weekly.open_window.start == "2026-01-19 00:00:00"
    with pytest.raises(InputError, match="a batch must be a pandas DataFrame; got list"):
        weekly.add([1, 2])
    with pytest.raises(InputError, match="no rows were added yet"):
        audit.WindowAccumulator(time="t", every="7D", label="y", protected="g", predictions="pred").result()
    with pytest.raises(ConfigError, match=r"reference=\('2026-01-05', '2026-01-12'\) is invalid for a "
                                          "WindowAccumulator"):
        audit.WindowAccumulator(time="t", every="7D", label="y", protected="g", predictions="pred",
                                reference=("2026-01-05", "2026-01-12"))


def test_a_refused_batch_changes_nothing():
    df = _monitor(14, weeks=3, n=600)
    acc = audit.WindowAccumulator(time="t", every="7D", label="y", positive_label=1, protected="g",
                                  predictions="pred", n_bootstrap=0)
    with pytest.raises(InputError, match=r"predictions contain 1 missing value\(s\), first at row 5"):
        acc.add(df.assign(pred=df.pred.astype(float).where(df.index != 5)))  # a missing prediction
    assert acc.windowing is None and acc.settings is None and acc.groups == {}
    acc.add(df[df.t < "2026-01-12"])
    before = (len(acc.closed), acc.open_window, len(acc.open_rows), dict(acc.groups))
    with pytest.raises(InputError):
        acc.add(df[df.t >= "2026-01-12"].assign(g="new group", pred=2))  # bad predictions in a later batch
    assert (len(acc.closed), acc.open_window, len(acc.open_rows), dict(acc.groups)) == before
    assert list(acc.add(df[df.t >= "2026-01-12"]).result().window_table.n) == [600, 600, 600]


def test_a_malformed_windowed_file_is_refused_naming_what_is_wrong():
    w = _windows(_monitor(15, weeks=2, n=400), n_bootstrap=0)
    d = json.loads(w.to_json())
    del d["settings"]["alert_metrics"]
    with pytest.raises(InputError, match="settings lack alert_metrics"):
        audit.WindowedAudit.from_dict(d)
    d = json.loads(w.to_json())
    d["windows"][1]["result"]["metrics_table"] = "oops"
    back = audit.WindowedAudit.from_dict(d)  # a stored window is checked when first used
    with pytest.raises(InputError, match="window 2026-01-12 00:00:00"):
        back.windows
    with pytest.raises(InputError, match="not a fairness-audit windowed audit"):
        audit.WindowedAudit.from_dict({"format": "fairness-audit/result"})


def test_any_split_into_batches_gives_the_batch_audit():
    """Property: however the rows are cut into batches (in time order), with saves and loads between them, the
    accumulator's windows equal audit_windows over all the rows."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    df = _monitor(16, weeks=4, n=500).sort_values("t", kind="stable", ignore_index=True)
    batch = _windows(df, group_reference={"g": "a"}, n_bootstrap=100)

    @settings(max_examples=8, deadline=None, derandomize=True)
    @given(st.lists(st.integers(1, len(df) - 1), min_size=1, max_size=6, unique=True), st.booleans())
    def check(cuts, via_file):
        import tempfile

        edges = [0, *sorted(cuts), len(df)]
        acc = audit.WindowAccumulator(time="t", every="7D", label="y", positive_label=1, protected="g",
                                      predictions="pred", n_bootstrap=100, group_reference={"g": "a"})
        with tempfile.TemporaryDirectory() as tmp:
            for a, b in zip(edges[:-1], edges[1:]):
                acc.add(df.iloc[a:b])
                if via_file:
                    acc.save(f"{tmp}/state.parquet")
                    acc = audit.WindowAccumulator.load(f"{tmp}/state.parquet", predictions="pred")
        inc = acc.result()
        assert list(inc.window_table.n) == list(batch.window_table.n)
        pd.testing.assert_frame_equal(inc.alerts, batch.alerts, check_exact=False, rtol=1e-9, atol=1e-12)

    check()


def test_a_batch_added_twice_is_refused(tmp_path):
    df = _monitor(17, weeks=2, n=400)
    day = df[df.t < "2026-01-06"]
    acc = audit.WindowAccumulator(time="t", every="7D", label="y", positive_label=1, protected="g",
                                  predictions="pred", n_bootstrap=0).add(day)
    acc.save(tmp_path / "s.parquet")
    again = audit.WindowAccumulator.load(tmp_path / "s.parquet", predictions="pred")
    with pytest.raises(InputError, match=r"this batch was already added: the same \d+ rows .* were batch 1"):
        again.add(day.sample(frac=1.0, random_state=1))  # the same rows in another order
    assert list(again.add(df[(df.t >= "2026-01-06") & (df.t < "2026-01-07")]).result().window_table.n) == \
        [int((df.t < "2026-01-07").sum())]


def test_an_intersection_seen_only_among_unlabelled_rows():
    df = _monitor(18, weeks=3, n=900)
    rng = np.random.default_rng(0)
    df["region"] = rng.choice(["north", "south"], len(df))
    late = df.t >= "2026-01-19"
    df.loc[late & (df.g == "c"), "region"] = "east"  # c & east: only in the last week, whose labels are late
    df["y"] = df["y"].astype(float).where(~late)
    w = _windows(df, protected=["g", "region"])
    last = w.windows[-1]
    ce = last.metrics.query("group == 'c & east' and metric == 'accuracy'")
    assert len(ce) == 1 and ce.iloc[0].status == "undefined" and "labels arrive late" in ce.iloc[0].reason
    sel = last.metrics.query("group == 'c & east' and metric == 'selection_rate'").iloc[0]
    assert sel.n > 0 and sel.value is not None


def test_a_notebook_shows_the_windows_and_the_drift_escaped():
    df = _monitor(7, drift=True)
    df["g"] = df["g"].map({"a": "a", "b": "<img src=x onerror=alert(1)>", "c": "c"})
    w = _windows(df)
    html = w._repr_html_()
    assert "12 windows" in html and f"{len(w.drift())} drift alert(s)" in html and len(w.drift()) > 0
    assert "<img" not in html and "&lt;img src=x" in html


def test_a_monitor_only_policy_on_a_single_audit_says_why_it_cannot_pass():
    df = _monitor(19, weeks=1, n=600)
    result = audit.run_audit(None, df, label="y", positive_label=1, protected="g", predictions="pred",
                             n_bootstrap=0)
    gate = result.gate({"monitor": {"max_drift": 0}})
    assert not gate.passed and "judges a monitor's windows" in gate.notes[0]


def test_a_malformed_state_file_is_refused_naming_it(tmp_path):
    df = _monitor(20, weeks=2, n=300)
    acc = audit.WindowAccumulator(time="t", every="7D", label="y", positive_label=1, protected="g",
                                  predictions="pred", n_bootstrap=0).add(df)
    path = tmp_path / "state.json"
    acc.save(path)
    meta = json.loads(path.read_text())
    del meta["settings"]["every"]
    path.write_text(json.dumps(meta))
    with pytest.raises(InputError, match=r"state.json: the monitor state is malformed \(KeyError: 'every'\)"):
        audit.WindowAccumulator.load(path)
    meta = json.loads((acc.save(tmp_path / "ok.json") or (tmp_path / "ok.json")).read_text())
    del meta["open_rows"]
    path.write_text(json.dumps(meta))
    with pytest.raises(InputError, match="malformed .*open_rows"):
        audit.WindowAccumulator.load(path)
