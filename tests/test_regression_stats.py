"""Issue 20's core, the regression statistic (``audit.stats.moments``): per-group regression metrics from sums
that add up like the confusion counts, equal to scikit-learn's and Fairlearn's on real data (Adult's hours per
week predicted from the other columns), through the core's partitions; replicates whose percentile intervals
cover at the nominal rate (simulation at 50, 200 and 1,000 rows, and the normal path against the row bootstrap)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audit._context import build_context
from audit._model import ModelOutput, describe
from audit._validation import validate_inputs
from audit.config import AuditConfig
from audit.stats.moments import COLUMNS, RegressionSums, group_replicates, metrics


@pytest.fixture(scope="module")
def adult_hours():
    from sklearn.linear_model import LinearRegression

    from audit.datasets import load_adult

    train, test = load_adult("train"), load_adult("test")
    cols = ["age", "education_num", "capital_gain", "capital_loss"]
    reg = LinearRegression().fit(train[cols], train["hours_per_week"])
    test = test.assign(pred=reg.predict(test[cols]))
    return test


def _context(df, stat, n_boot=0):
    cfg = AuditConfig(n_bootstrap=n_boot)
    inputs = validate_inputs(df, label="income", positive_label=">50K", favorable=True, protected=["sex", "race"],
                             reference=None, features=[], model_features=None, predictions=None, scores=None,
                             config=cfg)
    out = ModelOutput(np.zeros(len(df), dtype=np.int8), None, None, "precomputed", describe(None), None, None)
    return build_context(inputs, out, cfg, statistics=[stat])


def test_group_metrics_equal_scikit_learn_and_fairlearn_on_real_data(adult_hours):
    from fairlearn.metrics import MetricFrame
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    df = adult_hours
    stat = RegressionSums(df["hours_per_week"], df["pred"])
    ctx = _context(df, stat)

    def scoring_rate(y_true, y_pred):
        return float(np.mean(np.asarray(y_pred) > stat.cut))

    def mean_residual(y_true, y_pred):
        return float(np.mean(np.asarray(y_pred) - np.asarray(y_true)))

    fns = {"mae": mean_absolute_error, "rmse": lambda a, b: float(np.sqrt(mean_squared_error(a, b))),
           "r2": r2_score, "mean_residual": mean_residual, "scoring_rate": scoring_rate,
           "mean_prediction": lambda a, b: float(np.mean(b)), "mean_label": lambda a, b: float(np.mean(a))}
    checked = 0
    for part in ctx.partitions:
        point = metrics(part.stats["regression"][0])
        if not part.members:
            for name, fn in fns.items():
                assert point[name][0] == pytest.approx(fn(df["hours_per_week"], df["pred"]), abs=1e-9)
            continue
        features = df[list(part.members)]
        frame = MetricFrame(metrics=fns, y_true=df["hours_per_week"], y_pred=df["pred"],
                            sensitive_features=features if len(part.members) > 1 else features.iloc[:, 0])
        by = frame.by_group
        for g, group in enumerate(part.groups):
            key = tuple(part_.split("=", 1)[-1] for part_ in [group]) if len(part.members) == 1 else None
            mask = np.ones(len(df), dtype=bool)
            if len(part.members) == 1:
                mask = (df[part.members[0]].astype(str) == group).to_numpy()
                row = by.loc[key[0]]
            else:
                values = dict(zip(part.members, [v.strip() for v in group.split(" & ")])) if " & " in group else None
                if values is None:
                    continue
                for col, v in values.items():
                    mask &= (df[col].astype(str) == v).to_numpy()
                row = by.loc[tuple(values[c] for c in part.members)]
            if mask.sum() < 2:
                continue
            for name, fn in fns.items():
                mine = point[name][g]
                assert mine == pytest.approx(fn(df["hours_per_week"][mask], df["pred"][mask]), abs=1e-9), name
                assert mine == pytest.approx(row[name], abs=1e-9), name
            checked += 1
    assert checked >= 2 + 5 + 8


def test_replicates_sum_into_groups_and_their_spread_is_the_mean_s():
    rng = np.random.default_rng(1)
    n = 9000
    df = pd.DataFrame({"sex": rng.choice(["f", "m"], n), "race": rng.choice(["a", "b", "c"], n, p=[.5, .4, .1]),
                       "income": rng.choice(["<=50K", ">50K"], n)})
    pred = rng.normal(40, 8, n)
    stat = RegressionSums(pred + rng.normal(0, 5, n), pred, exact_rows=1000)  # both paths: groups of 450 to 3,000
    ctx = _context(df, stat, n_boot=800)
    for part in ctx.partitions:
        point, reps = part.stats["regression"]
        assert np.array_equal(point[:, 0], part.counts.sum(1))  # the same groups as the confusion counts
        assert np.all(reps[:, :, 0] == point[:, 0])  # sizes fixed
        se = np.std(reps[:, :, 1] / reps[:, :, 0], axis=0, ddof=1)
        sd = np.array([pred[_mask(df, part, g)].std() for g in part.groups])
        assert np.allclose(se, sd / np.sqrt(point[:, 0]), rtol=0.12)
    # streams keyed by the groups' names, rows in a canonical order: the same replicates whatever the row order
    again = _context(df.iloc[::-1].reset_index(drop=True), RegressionSums(stat.label[::-1], stat.prediction[::-1],
                                                                         exact_rows=1000), n_boot=800)
    for p, q in zip(ctx.partitions, again.partitions):
        assert p.groups == q.groups
        assert np.allclose(p.stats["regression"][0], q.stats["regression"][0], rtol=1e-12, atol=1e-9)
        assert np.allclose(p.stats["regression"][1], q.stats["regression"][1], rtol=1e-12, atol=1e-9)


def _mask(df, part, group):
    if not part.members:
        return np.ones(len(df), dtype=bool)
    if len(part.members) == 1:
        return (df[part.members[0]].astype(str) == group).to_numpy()
    values = [v.strip() for v in group.split(" & ")]
    mask = np.ones(len(df), dtype=bool)
    for col, v in zip(part.members, values):
        mask &= (df[col].astype(str) == v).to_numpy()
    return mask


def _coverage(n: int, sims: int, n_boot: int, exact_rows: int, seed: int) -> tuple[float, float]:
    """Share of percentile intervals of mean_prediction_difference and mae_difference (group minus reference)
    that hold the true difference."""
    rng = np.random.default_rng(seed)
    mu, sigma = (50.0, 46.0), (6.0, 9.0)  # reference, group: predictions' means, residual spreads
    true_mean = mu[1] - mu[0]
    true_mae = (sigma[1] - sigma[0]) * np.sqrt(2 / np.pi)
    hit = np.zeros(2)
    for _ in range(sims):
        reps = []
        for k in range(2):
            p = rng.normal(mu[k], 10.0, n)
            stat = RegressionSums(p - rng.normal(0, sigma[k], n), p, cut=48.0)
            reps.append(metrics(group_replicates(stat.values(), n_boot, rng, exact_rows)))
        for j, name in enumerate(("mean_prediction", "mae")):
            d = reps[1][name] - reps[0][name]
            lo, hi = np.quantile(d, [0.025, 0.975])
            truth = true_mean if j == 0 else true_mae
            hit[j] += lo <= truth <= hi
    return tuple(hit / sims)


@pytest.mark.slow
@pytest.mark.parametrize("n", [50, 200, 1000])
def test_intervals_cover_at_the_nominal_rate(n):
    cover = _coverage(n, sims=1000, n_boot=400, exact_rows=4000, seed=n)
    assert all(abs(c - 0.95) <= 0.02 for c in cover), cover


@pytest.mark.slow
def test_the_normal_path_covers_like_the_row_bootstrap():
    cover = _coverage(5000, sims=600, n_boot=400, exact_rows=4000, seed=7)  # above exact_rows: normal sums
    assert all(abs(c - 0.95) <= 0.025 for c in cover), cover
    rng = np.random.default_rng(3)
    # skewed predictions, heavy-tailed residuals (t with 6 degrees of freedom: r^2 keeps a finite variance; with
    # 3, r^2 has none and no bootstrap of the RMSE is consistent, row by row or normal)
    p = rng.gamma(2.0, 10.0, 6000)
    stat = RegressionSums(p - rng.standard_t(6, 6000) * 5, p)
    v = stat.values()
    exact = metrics(group_replicates(v, 4000, np.random.default_rng(1), exact_rows=10_000))
    normal = metrics(group_replicates(v, 4000, np.random.default_rng(1), exact_rows=100))
    for name in ("mae", "rmse", "mean_prediction", "scoring_rate", "r2"):
        a, b = np.quantile(exact[name], [0.025, 0.975]), np.quantile(normal[name], [0.025, 0.975])
        assert np.allclose(a, b, rtol=0, atol=0.05 * (a[1] - a[0])), (name, a, b)  # measured: 0.7-3%


def test_undefined_metrics_say_so():
    out = metrics(np.array([[0, 0, 0, 0, 0, 0, 0, 0], [3, 6, 9, 0, 0, 0, 27, 1]], dtype=float))
    assert np.isnan(out["mae"][0]) and np.isnan(out["r2"][1])  # no rows; a constant label (3, 3, 3)
    assert out["mean_label"][1] == 3 and out["scoring_rate"][1] == pytest.approx(1 / 3)
    assert len(COLUMNS) == 8


def test_disparities_are_signed_so_that_negative_means_worse():
    from audit.stats.moments import disparities

    rng = np.random.default_rng(4)
    groups = []
    for mean_pred, noise in ((50.0, 5.0), (44.0, 9.0)):  # the reference; a group predicted lower, with more error
        p = rng.normal(mean_pred, 6.0, 4000)
        groups.append(RegressionSums(p + rng.normal(3.0 if mean_pred < 50 else 0.0, noise, 4000), p, cut=47.0))
    sums = np.stack([g.values().sum(0) for g in groups])  # (G, 8): the reference first
    higher = disparities(sums, reference=0, favorable="higher")
    assert higher["mean_prediction_difference"][0] == 0 and higher["mean_prediction_difference"][1] < -5
    assert higher["mean_prediction_ratio"][1] < 1 and higher["scoring_rate_ratio"][1] < 1
    assert higher["mae_difference"][1] < 0 and higher["rmse_difference"][1] < 0  # more error: worse
    assert higher["mean_residual_difference"][1] < 0  # under-predicted (labels 3 above the predictions)
    lower = disparities(sums, reference=0, favorable="lower")  # a price: lower predictions help the group
    assert lower["mean_prediction_difference"][1] > 5 and lower["mean_prediction_ratio"][1] > 1
    assert lower["mae_difference"][1] == higher["mae_difference"][1]  # errors are bad either way
    m = metrics(sums)
    assert higher["mean_prediction_ratio"][1] == pytest.approx(m["mean_prediction"][1] / m["mean_prediction"][0])
    reps = np.stack([group_replicates(g.values(), 300, np.random.default_rng(k), 10_000) for k, g in
                     enumerate(groups)], axis=1)  # (B, G, 8)
    d = disparities(reps, reference=0)
    assert d["mae_difference"].shape == (300, 2) and np.all(d["mae_difference"][:, 0] == 0)
    with pytest.raises(ValueError, match="favorable='up'"):
        disparities(sums, 0, "up")


def test_distribution_distances_are_scipys_per_group(adult_hours):
    from scipy.stats import ks_2samp, wasserstein_distance

    from audit.stats.moments import distances

    df = adult_hours
    groups = sorted(df["race"].astype(str).unique())
    codes = df["race"].astype(str).map({g: k for k, g in enumerate(groups)}).to_numpy()
    ref = groups.index("White")
    d = distances(df["pred"].to_numpy(), codes, len(groups) + 1, ref)  # one more group, without rows
    for k, g in enumerate(groups):
        a, b = df["pred"][codes == k], df["pred"][codes == ref]
        assert d["ks_distance"][k] == pytest.approx(ks_2samp(a, b).statistic, abs=1e-12)
        assert d["ks_p_value"][k] == pytest.approx(ks_2samp(a, b).pvalue, rel=1e-9)
        assert d["wasserstein_distance"][k] == pytest.approx(wasserstein_distance(a, b), abs=1e-9)
    assert d["ks_distance"][ref] == 0 and d["ks_p_value"][ref] == 1
    assert np.isnan(d["ks_distance"][-1]) and np.isnan(d["wasserstein_distance"][-1])
    assert (d["ks_distance"][:-1] >= 0).all() and (d["ks_distance"][:-1] <= 1).all()


def test_the_ks_p_value_is_scipys_and_its_limit_close_to_it_for_large_groups():
    from scipy.stats import distributions, ks_2samp

    from audit.stats.moments import KSTWO_LIMIT, distances

    rng = np.random.default_rng(5)
    pred = np.r_[rng.normal(0, 1, 30_000), rng.normal(0.02, 1, 12_000)]  # effective size 8,571: scipy's own
    codes = np.r_[np.zeros(30_000, int), np.ones(12_000, int)]
    d = distances(pred, codes, 2, 0)
    test = ks_2samp(pred[codes == 1], pred[codes == 0])
    assert d["ks_distance"][1] == pytest.approx(test.statistic, abs=1e-15)
    assert d["ks_p_value"][1] == pytest.approx(test.pvalue, rel=1e-9)
    # above the limit: the Kolmogorov distribution, within 1% of kstwo where p is not vanishing
    for en, stat in ((2 * KSTWO_LIMIT, 0.002), (2 * KSTWO_LIMIT, 0.004), (10 * KSTWO_LIMIT, 0.0015)):
        exact, limit = distributions.kstwo.sf(stat, en), distributions.kstwobign.sf(stat * np.sqrt(en))
        assert limit == pytest.approx(exact, rel=0.01)
