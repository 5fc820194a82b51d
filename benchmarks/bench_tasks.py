"""Regression and multiclass audits (issue 20) against the binary audit and Fairlearn's MetricFrame, one run.

    python benchmarks/bench_tasks.py                      # ~3 minutes
    python benchmarks/bench_tasks.py --fairlearn-boot 1000  # Fairlearn's full 1,000 resamples (much longer)

Needs the bench extra: ``pip install ".[bench]"``. Targets (issue 20):
  * a regression audit of Adult's test split (16,281 rows; sex, race and their intersection; 1,000 resamples)
    within 2x of the binary audit of the same rows
  * 10 million rows in memory within 2x of the binary 10-million-row audit (same process, interleaved runs)
Peer: Fairlearn's MetricFrame with its bootstrap (``n_boot``) on the same regression metrics by sex x race;
its time for 1,000 resamples is extrapolated from ``--fairlearn-boot`` (linear in n_boot) unless you pass 1000.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import audit  # noqa: E402
from audit.datasets import load_adult  # noqa: E402

FEATURES = ["age", "education_num", "capital_gain", "capital_loss"]


def timeit(fn, repeat: int) -> tuple[float, float, float]:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    times.sort()
    return statistics.median(times), times[len(times) // 10], times[-1 - len(times) // 10]


def adult_rows() -> pd.DataFrame:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    train, test = load_adult("train"), load_adult("test").reset_index(drop=True)
    reg = HistGradientBoostingRegressor(max_iter=50, random_state=0).fit(train[FEATURES], train["hours_per_week"])
    clf = HistGradientBoostingClassifier(max_iter=50, random_state=0).fit(train[FEATURES], train["income"])
    mc = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(train[FEATURES], train["relationship"])
    test["hours_pred"] = reg.predict(test[FEATURES])
    test["score"] = clf.predict_proba(test[FEATURES])[:, list(clf.classes_).index(">50K")]
    test["relationship_pred"] = mc.predict(test[FEATURES])
    return test


def bench_adult(df: pd.DataFrame, repeat: int) -> dict[str, tuple[float, float, float]]:
    runs = {
        "binary": lambda: audit.run_audit(None, df, label="income", positive_label=">50K", protected=["sex", "race"],
                                          scores="score"),
        "regression": lambda: audit.run_audit(None, df, label="hours_per_week", protected=["sex", "race"],
                                              predictions="hours_pred", task="regression"),
        "multiclass": lambda: audit.run_audit(None, df, label="relationship", protected=["sex", "race"],
                                              predictions="relationship_pred", task="multiclass"),
    }
    for fn in runs.values():  # warm-up (imports)
        fn()
    return {k: timeit(fn, repeat) for k, fn in runs.items()}


def bench_fairlearn(df: pd.DataFrame, n_boot: int) -> float:
    """Seconds of Fairlearn's MetricFrame with ``n_boot`` resamples of the same regression metrics, sex x race."""
    import fairlearn.metrics as fl
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    y, p = df["hours_per_week"].to_numpy(float), df["hours_pred"].to_numpy()
    cut = float(np.median(p))
    metrics = {"mae": mean_absolute_error, "rmse": lambda a, b: float(np.sqrt(mean_squared_error(a, b))),
               "r2": r2_score, "mean_prediction": lambda a, b: float(np.mean(b)),
               "mean_label": lambda a, b: float(np.mean(a)),
               "mean_residual": lambda a, b: float(np.mean(np.asarray(b) - np.asarray(a))),
               "scoring_rate": lambda a, b: float(np.mean(np.asarray(b) > cut))}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        mf = fl.MetricFrame(metrics=metrics, y_true=y, y_pred=p, sensitive_features=df[["sex", "race"]],
                            n_boot=n_boot, ci_quantiles=[0.025, 0.975], random_state=0)
        mf.difference()
        return time.perf_counter() - t


def bench_large(n: int, rounds: int) -> tuple[list[float], list[float]]:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"sex": pd.Categorical.from_codes(rng.integers(0, 2, n), ["Female", "Male"]),
                       "race": pd.Categorical.from_codes(rng.choice(5, n, p=[.6, .2, .1, .05, .05]),
                                                         ["White", "Black", "Asian", "Other", "Native"])})
    df["y"] = rng.normal(40, 10, n)
    df["p"] = df["y"] + rng.normal(0, 5, n)
    df["score"] = rng.random(n)
    df["lab"] = (rng.random(n) < df["score"] * 0.8).astype(np.int8)
    binary, regression, engine = [], [], []
    audit.run_audit(None, df.head(100_000), label="y", protected=["sex", "race"], predictions="p", task="regression")
    import tempfile

    folder = tempfile.mkdtemp(prefix="bench-tasks-")
    path = f"{folder}/rows.parquet"
    df.to_parquet(path)
    for _ in range(rounds):  # interleaved: the machine's drift hits both alike
        t = time.perf_counter()
        audit.run_audit(None, df, label="lab", protected=["sex", "race"], scores="score")
        binary.append(time.perf_counter() - t)
        t = time.perf_counter()
        audit.run_audit(None, df, label="y", protected=["sex", "race"], predictions="p", task="regression")
        regression.append(time.perf_counter() - t)
        t = time.perf_counter()
        audit.run_audit(None, path, label="y", protected=["sex", "race"], predictions="p", task="regression",
                        engine="duckdb")
        engine.append(time.perf_counter() - t)
    return binary, regression, engine


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=21)
    ap.add_argument("--fairlearn-boot", type=int, default=5)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    df = adult_rows()
    t = bench_adult(df, args.repeat)
    b = t["binary"][0]
    print(f"Adult test split ({len(df):,} rows), sex + race + sex & race, 1,000 resamples; median "
          f"(10th-90th percentile) of {args.repeat} runs:")
    for k, (med, lo, hi) in t.items():
        print(f"  {k:<11} {med:.3f} s ({lo:.3f}-{hi:.3f})  {med / b:.2f}x the binary audit")
    fl = bench_fairlearn(df, args.fairlearn_boot)
    per_1000 = fl * 1000 / max(args.fairlearn_boot, 1)
    print(f"  Fairlearn MetricFrame, 7 regression metrics by sex x race, n_boot={args.fairlearn_boot}: {fl:.2f} s; "
          f"for 1,000 resamples ~{per_1000:.0f} s ({per_1000 / t['regression'][0]:,.0f}x ours, which also covers "
          "sex and race alone, disparities and tests)")
    binary, regression, engine = bench_large(args.rows, args.rounds)
    ratio = statistics.median(r / q for r, q in zip(regression, binary))
    print(f"{args.rows:,} rows in memory, sex + race, 1,000 resamples, {args.rounds} interleaved rounds: binary "
          f"{min(binary):.2f}-{max(binary):.2f} s, regression {min(regression):.2f}-{max(regression):.2f} s: "
          f"{ratio:.2f}x (target < 2x)")
    print(f"the same rows as Parquet, regression through DuckDB: {min(engine):.2f}-{max(engine):.2f} s")


if __name__ == "__main__":
    main()
