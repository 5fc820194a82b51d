"""The core's control axis (a time window, a segment): every partition reported within each level from one pass
over the rows, and each level's numbers equal to an audit of that level's rows alone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audit._context import build_context
from audit._model import ModelOutput, describe
from audit._validation import Attribute, factorize, validate_inputs
from audit.config import AuditConfig
from audit.modules import bias, performance

LEVELS = ("2024-01", "2024-02", "2024-03", "2024-04")  # the last one has no rows


def _data(n: int = 6000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    window = rng.choice(LEVELS[:3], n, p=[0.5, 0.3, 0.2])
    sex = pd.Categorical(rng.choice(["F", "M"], n, p=[0.3, 0.7]), categories=["F", "M"])
    race = pd.Categorical(rng.choice(["a", "b", "c"], n, p=[0.6, 0.3, 0.1]), categories=["a", "b", "c"])
    drift = np.select([window == LEVELS[0], window == LEVELS[1]], [0.0, 0.1], 0.25)
    score = np.clip(rng.beta(2, 3, n) + drift * (sex == "F"), 0, 1)
    score = np.round(score, 2)  # ties, as real scores have
    y = (rng.random(n) < score).astype(int)
    return pd.DataFrame({"window": window, "sex": sex, "race": race, "y": y, "score": score})


def _context(df: pd.DataFrame, cfg: AuditConfig, control: Attribute | None = None):
    inputs = validate_inputs(df, label="y", positive_label=1, favorable=True, protected=["sex", "race"],
                             reference=None, features=[], model_features=None, predictions=None, scores="score",
                             config=cfg)
    out = ModelOutput((inputs.scores >= 0.5).astype(np.int8), inputs.scores, "probability", "precomputed",
                      describe(None), None, None)
    return build_context(inputs, out, cfg, control=control)


def _control(df: pd.DataFrame) -> Attribute:
    codes, groups, _ = factorize(pd.Series(pd.Categorical(df["window"], categories=LEVELS)))
    return Attribute("window", tuple(groups), codes, True)


@pytest.mark.parametrize("n_bootstrap", [0, 200])
def test_each_level_equals_an_audit_of_its_rows(n_bootstrap):
    df = _data()
    cfg = AuditConfig(n_bootstrap=n_bootstrap, exact_score_rows=500)  # both small (exact) and large (binned) groups
    ctx = _context(df, cfg, _control(df))
    assert [p.level for p in ctx.partitions][::4] == list(LEVELS)  # (overall, sex, race, sex & race) per level
    perf = pd.DataFrame(performance.run(ctx)["metrics"])
    disp = pd.DataFrame(bias.run(ctx)["disparities"])
    for level in LEVELS[:3]:
        alone = _context(df[df["window"] == level], cfg)
        parts = [p for p in ctx.partitions if p.level == level]
        assert [p.attribute for p in parts] == [p.attribute for p in alone.partitions]
        for p, q in zip(parts, alone.partitions):
            assert p.groups == q.groups and np.array_equal(p.counts, q.counts)
            for k, v in q.score_point.items():  # exact AUC, AP, Brier, log loss, ECE: equal, not approximately
                assert np.array_equal(p.score_point[k], v, equal_nan=True), (level, p.attribute, k)
        want = pd.DataFrame(performance.run(alone)["metrics"])
        got = perf[perf["level"] == level].reset_index(drop=True)
        assert got["value"].equals(want["value"]) and got["metric"].equals(want["metric"])
        want_d = pd.DataFrame(bias.run(alone)["disparities"])
        got_d = disp[disp["level"] == level].reset_index(drop=True)
        assert got_d["value"].equals(want_d["value"])
        if not n_bootstrap:  # the tests of counts; with resamples, Wald tests use each level's own streams
            assert got_d["p_value_raw"].equals(want_d["p_value_raw"])
        if n_bootstrap:  # each level's groups draw their own streams: intervals exist, inside the metric's range
            auc = got[(got.metric == "roc_auc") & got.ci_low.notna()]
            assert len(auc) and ((auc.ci_low >= 0) & (auc.ci_high <= 1) & (auc.ci_low <= auc.value)).all()
    empty = perf[(perf["level"] == LEVELS[3]) & (perf["metric"] == "accuracy")]
    assert (empty["status"] == "undefined").all() and empty["value"].isna().all()
    # the drift is visible where it was put: the F - M gap of mean score grows window by window
    gaps = []
    for level in LEVELS[:3]:
        rows = perf[(perf.level == level) & (perf.attribute == "sex") & (perf.metric == "mean_score")]
        v = dict(zip(rows.group, rows.value))
        gaps.append(v["F"] - v["M"])
    assert gaps[0] < gaps[1] < gaps[2]


def test_without_a_control_nothing_changes():
    df = _data(2000, seed=3)
    cfg = AuditConfig(n_bootstrap=200)
    a, b = _context(df, cfg), _context(df, cfg, None)
    assert all(p.level is None for p in a.partitions)
    for p, q in zip(a.partitions, b.partitions):
        assert np.array_equal(p.boot_counts, q.boot_counts)
        for k in p.score_boot:
            assert np.array_equal(p.score_boot[k], q.score_boot[k], equal_nan=True)


class ScoreMoments:
    """A second sufficient statistic, as a regression target would bring: rows, sum and sum of squares of the
    scores per finest group; replicates by Poisson row weights (rows are not categories: no multinomial table)."""

    key = "moments"

    def table(self, finest, n_finest, y, model, weights):
        s = model.scores
        return np.stack([np.bincount(finest, minlength=n_finest).astype(float),
                         np.bincount(finest, weights=s, minlength=n_finest),
                         np.bincount(finest, weights=s * s, minlength=n_finest)], axis=1)

    def replicates(self, table, n_boot, seeds, finest, y, model):
        out = np.zeros((n_boot, len(table), 3))
        s = model.scores
        for f, seq in enumerate(seeds):
            rows = np.flatnonzero(finest == f)
            w = np.random.default_rng(seq).poisson(1.0, (n_boot, len(rows)))
            out[:, f] = np.stack([w.sum(1), w @ s[rows], w @ (s[rows] ** 2)], axis=1)
        return out


def test_a_further_statistic_sums_into_every_group_and_level():
    df = _data(3000, seed=5)
    cfg = AuditConfig(n_bootstrap=300)
    inputs = validate_inputs(df, label="y", positive_label=1, favorable=True, protected=["sex", "race"],
                             reference=None, features=[], model_features=None, predictions=None, scores="score",
                             config=cfg)
    out = ModelOutput((inputs.scores >= 0.5).astype(np.int8), inputs.scores, "probability", "precomputed",
                      describe(None), None, None)
    ctx = build_context(inputs, out, cfg, control=_control(df), statistics=[ScoreMoments()])
    for part in ctx.partitions:
        point, reps = part.stats["moments"]
        assert np.array_equal(point[:, 0], part.counts.sum(1))  # rows: the same groups as the confusion counts
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = point[:, 1] / point[:, 0]
        assert np.allclose(mean, part.score_point["mean_score"], equal_nan=True, rtol=0, atol=1e-12)
        if part.level == LEVELS[0] and part.attribute == "sex":
            se = np.std(reps[:, :, 1] / reps[:, :, 0], axis=0)  # bootstrap SE of each group's mean score
            sd = [df[(df.window == LEVELS[0]) & (df.sex == g)].score.std() for g in part.groups]
            n = point[:, 0]
            assert np.allclose(se, np.array(sd) / np.sqrt(n), rtol=0.2)  # about sd / sqrt(n)
    # one extra statistic draws its own streams: the confusion counts' replicates are those of an audit without it
    plain = build_context(inputs, out, cfg, control=_control(df))
    assert all(np.array_equal(p.boot_counts, q.boot_counts) for p, q in zip(plain.partitions, ctx.partitions))
