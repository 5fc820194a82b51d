"""Statistics building blocks against independent implementations."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from audit.stats.bootstrap import multinomial_tables, percentile_interval
from audit.stats.scores import exact_rank_metrics, sort_scores, tie_aligned_chunks
from audit.stats.significance import adjust, fisher_two_sided, two_proportion_p


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


def test_sort_scores_with_heavy_ties_finds_a_collision_past_the_first_chunk():
    # 101 distinct scores (every neighbour shares its top bits), and one pair that differs only in its last bits
    # far past the first chunk of the check: the fast path for ties must still re-sort it exactly
    rng = np.random.default_rng(9)
    s = np.round(rng.random(700_000), 2)
    s[650_000], s[650_001], s[10] = 0.5 + 2e-16, 0.5, 0.5 + 1e-16
    order, s_sorted = sort_scores(s)
    want = np.argsort(s, kind="stable")
    assert np.array_equal(order, want) and np.array_equal(s_sorted, s[want])
    plain = np.round(rng.random(700_000), 2)  # ties only: nothing to re-sort
    order, s_sorted = sort_scores(plain)
    assert np.array_equal(order, np.argsort(plain, kind="stable"))


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
    rng = np.random.default_rng(4)
    for _ in range(300):  # small and lopsided tables, symmetric ones (exact ties of probabilities) included
        n1, n2 = (int(v) for v in rng.integers(1, 60, 2)) if rng.random() < 0.8 else (int(rng.integers(1, 9)), 4000)
        x1, x2 = int(rng.integers(0, n1 + 1)), int(rng.integers(0, n2 + 1))
        want = fisher_exact([[x1, n1 - x1], [x2, n2 - x2]]).pvalue
        assert fisher_two_sided(x1, n1, x2, n2) == pytest.approx(want, rel=1e-9, abs=1e-15), (x1, n1, x2, n2)
    assert fisher_two_sided(3, 10, 7, 10) == pytest.approx(fisher_exact([[3, 7], [7, 3]]).pvalue, rel=1e-12)


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


@pytest.mark.parametrize("rows", [40, 5000])  # 40 rows: per-row categorical draws; 5000: binomials per cell
def test_multinomial_tables_keep_group_sizes_and_multinomial_moments(rows):
    rng = np.random.default_rng(9)
    table = np.zeros((3, 2, 6))
    for f in range(3):
        table[f].flat[rng.choice(12, 8, replace=False)] = rng.multinomial(rows, np.full(8, 1 / 8)) + (f == 0)
    draws = multinomial_tables(table, 4000, (1, 2))
    assert draws.shape == (4000, 3, 2, 6)
    assert np.array_equal(draws.sum(axis=(2, 3)), np.broadcast_to(table.sum(axis=(1, 2)), (4000, 3)))
    assert (draws[:, table == 0] == 0).all()  # empty cells stay empty
    n = table.sum(axis=(1, 2))[:, None, None]
    p = table / n
    se_mean = np.sqrt(n * p * (1 - p) / 4000)
    assert (np.abs(draws.mean(0) - n * p) <= 5 * se_mean + 1e-12).all()
    var = draws.var(0, ddof=1)
    want = n * p * (1 - p)
    assert (np.abs(var - want) <= 0.12 * want + 1e-9).all()
    assert np.array_equal(draws, multinomial_tables(table, 4000, (1, 2)))  # seeded: reproducible
