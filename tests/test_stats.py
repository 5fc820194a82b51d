"""Statistics building blocks against independent implementations."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from audit.stats.bootstrap import percentile_interval
from audit.stats.scores import exact_rank_metrics, sort_scores, tie_aligned_chunks
from audit.stats.significance import adjust, two_proportion_p


@pytest.mark.parametrize("chunk_rows", [None, 97])
@pytest.mark.parametrize("levels", [None, 7, 50])
def test_exact_auc_and_ap_match_scikit_learn_with_and_without_ties(levels, chunk_rows):
    rng = np.random.default_rng(levels or 1)
    n, groups = 5000, 4
    s = rng.random(n)
    if levels:
        s = np.floor(s * levels) / levels  # heavy ties
    y = (rng.random(n) < s * 0.8 + 0.1).astype(np.int8)
    g = rng.integers(0, groups, n)
    order, s_sorted = sort_scores(s)
    assert np.array_equal(order, np.argsort(s, kind="stable"))
    # chunk_rows=97: the rows stream through many chunks, which never split a tie (7 levels: whole chunks of ties)
    auc, ap = exact_rank_metrics(g[order], groups, y[order], s_sorted, chunk_rows=chunk_rows)
    for k in range(groups):
        m = g == k
        assert auc[k] == pytest.approx(roc_auc_score(y[m], s[m]), abs=1e-12)
        assert ap[k] == pytest.approx(average_precision_score(y[m], s[m]), abs=1e-12)


def test_sort_scores_matches_stable_argsort_on_colliding_and_negative_scores():
    rng = np.random.default_rng(5)
    # top-bit collisions: values that differ only in the last bits, negative values, -0.0 and exact ties
    base = rng.normal(size=3000)
    s = np.concatenate([base, base + 1e-15, base[:500]])
    rng.shuffle(s)
    s = np.concatenate([[0.0, -0.0, 5.0], s, [-0.0, 0.0]])
    order, s_sorted = sort_scores(s)
    want = np.argsort(s, kind="stable")
    assert np.array_equal(order, want) and np.array_equal(s_sorted, s[want])


def test_tie_aligned_chunks_cover_all_rows_and_never_split_a_tie():
    s = np.sort(np.floor(np.random.default_rng(2).random(2000) * 13))
    chunks = tie_aligned_chunks(s, size=50)
    assert chunks[0].start == 0 and chunks[-1].stop == len(s)
    for a, b in zip(chunks[:-1], chunks[1:]):
        assert a.stop == b.start and s[a.stop - 1] != s[b.start]


def test_two_proportion_p_matches_scipy():
    from scipy.stats import chi2_contingency, fisher_exact

    table = [[30, 70], [45, 55]]
    want = chi2_contingency(table, correction=False).pvalue
    assert two_proportion_p(30, 100, 45, 100) == pytest.approx(want, rel=1e-10)
    assert two_proportion_p(1, 10, 6, 10) == pytest.approx(fisher_exact([[1, 9], [6, 4]]).pvalue, rel=1e-10)


def test_corrections_match_statsmodels_definitions():
    p = np.array([0.01, 0.04, 0.03, 0.005, np.nan])
    holm = adjust(p, "holm")
    # Holm by hand: sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04; running max
    assert np.allclose(holm[:4], [0.03, 0.06, 0.06, 0.02]) and np.isnan(holm[4])
    bh = adjust(p, "fdr_bh")
    assert np.allclose(bh[:4], [0.02, 0.04, 0.04, 0.02])
    assert np.allclose(adjust(p, "bonferroni")[:4], [0.04, 0.16, 0.12, 0.02])


def test_percentile_interval_matches_numpy_and_skips_undefined():
    rng = np.random.default_rng(0)
    reps = rng.normal(size=(1000, 3))
    reps[:100, 1] = np.nan
    reps[:, 2] = np.nan
    lo, hi, share = percentile_interval(reps, 0.95)
    want = np.nanquantile(reps[:, :2], [0.025, 0.975], axis=0)
    assert np.allclose(lo[:2], want[0]) and np.allclose(hi[:2], want[1])
    assert np.isnan(lo[2]) and share[1] == pytest.approx(0.9)


def test_percentile_interval_fast_path_matches_numpy():
    reps = np.random.default_rng(3).normal(size=(999, 4))
    for conf in (0.95, 0.9, 0.5001):
        lo, hi, share = percentile_interval(reps, conf)
        a = (1 - conf) / 2
        want = np.quantile(reps, [a, 1 - a], axis=0)
        assert np.allclose(lo, want[0], atol=0, rtol=1e-12) and np.allclose(hi, want[1], atol=0, rtol=1e-12)
        assert (share == 1).all()
