"""Core-engine benchmark: fairness-audit against fairlearn MetricFrame and aif360, measured in one run.

    python benchmarks/bench_core.py                # Adult, all targets; ~2 minutes
    python benchmarks/bench_core.py --fairlearn-boot 1000   # run fairlearn's full 1000 resamples (~20+ min)

Needs the bench extra: ``pip install ".[bench]"``. Prints seconds and ratios; targets:
  * all metrics and disparities with 1,000-resample intervals for sex, race and sex x race on Adult: < 0.1 s
  * 10 million rows, two protected attributes: < 5 s and < 3 GB peak memory (measured in a subprocess)
  * the same rows with pyarrow-string group columns and tied scores: < 1.5x the coded-group time
Fairlearn's time for 1,000 resamples is extrapolated from ``--fairlearn-boot`` resamples (its cost is linear
in n_boot) unless you pass 1000.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import audit  # noqa: E402
from audit.datasets import ADULT_FEATURES, adult_model  # noqa: E402
from audit.datasets import load_adult  # noqa: E402


def timeit(fn, repeat: int, spread: bool = False):
    """Median seconds of ``repeat`` runs (with ``spread``: also the 10th and 90th percentiles)."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    if spread:
        q = statistics.quantiles(times, n=10)
        return statistics.median(times), q[0], q[-1]
    return statistics.median(times)


def adult_scored():
    model = adult_model()
    df = load_adult("test")
    df["score"] = model.predict_proba(df[ADULT_FEATURES])[:, list(model.classes_).index(">50K")]
    return df


def bench_ours(df, n_boot: int, repeat: int = 31):
    """Median, 10th and 90th percentile seconds of the whole audit (this machine's timings vary by 20-30%
    from run to run, so one number would mislead)."""
    audit.run_audit(None, df, label="income", positive_label=">50K", protected=["sex", "race"], scores="score",
                    n_bootstrap=n_boot)  # warm-up (imports)
    return timeit(lambda: audit.run_audit(None, df, label="income", positive_label=">50K", protected=["sex", "race"],
                                          scores="score", n_bootstrap=n_boot), repeat=repeat, spread=True)


def bench_fairlearn(df, n_boot: int) -> tuple[float, float]:
    """Seconds for fairlearn MetricFrame with the same count metrics + AUC for sex x race (and for sex)."""
    import fairlearn.metrics as fl
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, precision_score

    y = (df["income"] == ">50K").astype(int).to_numpy()
    p = (df["score"] >= 0.5).astype(int).to_numpy()
    metrics = {
        "selection_rate": fl.selection_rate, "tpr": fl.true_positive_rate, "fpr": fl.false_positive_rate,
        "fnr": fl.false_negative_rate, "tnr": fl.true_negative_rate, "accuracy": accuracy_score,
        "balanced_accuracy": balanced_accuracy_score, "precision": lambda a, b: precision_score(a, b, zero_division=0),
        "f1": f1_score,
    }
    kw = dict(n_boot=n_boot, ci_quantiles=[0.025, 0.975], random_state=0) if n_boot else {}

    def run(cols):
        mf = fl.MetricFrame(metrics=metrics, y_true=y, y_pred=p, sensitive_features=df[cols], **kw)
        mf.difference()
        mf.ratio()
        return mf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_inter = timeit(lambda: run(["sex", "race"]), repeat=1)
        t_sex = timeit(lambda: run(["sex"]), repeat=1)
    return t_inter, t_sex


def bench_aif360(df) -> float:
    """Seconds for aif360's ClassificationMetric point estimates of the same disparities, every race group vs
    the reference (aif360 has no intervals: a row bootstrap would repeat this per resample)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pandas as pd
        from aif360.datasets import BinaryLabelDataset
        from aif360.metrics import ClassificationMetric

        y = (df["income"] == ">50K").astype(float).to_numpy()
        p = (df["score"] >= 0.5).astype(float).to_numpy()
        codes, groups = pd.factorize(df["race"])

        def run():
            frame = pd.DataFrame({"label": y, "race": codes.astype(float)})
            truth = BinaryLabelDataset(df=frame, label_names=["label"], protected_attribute_names=["race"])
            pred = truth.copy(deepcopy=True)
            pred.labels = p.reshape(-1, 1)
            for g in range(1, len(groups)):
                cm = ClassificationMetric(truth, pred, unprivileged_groups=[{"race": float(g)}],
                                          privileged_groups=[{"race": 0.0}])
                (cm.disparate_impact(), cm.statistical_parity_difference(), cm.equal_opportunity_difference(),
                 cm.average_odds_difference(), cm.false_positive_rate_difference(),
                 cm.false_negative_rate_difference(), cm.accuracy(False) - cm.accuracy(True))

        return timeit(run, repeat=3)


LARGE = r"""
import json, resource, sys, time
import numpy as np, pandas as pd
sys.path.insert(0, {root!r})
import audit
n = {n}
rng = np.random.default_rng(0)
sex = pd.Categorical.from_codes(rng.integers(0, 2, n), ["Female", "Male"])
race = pd.Categorical.from_codes(rng.choice(5, n, p=[.6, .2, .1, .05, .05]), ["White", "Black", "Asian", "Other", "Native"])
score = rng.random(n)
if {strings_tied!r}:  # text group columns as pandas reads them from a file (pyarrow strings), scores in 101 values
    sex = pd.array(np.asarray(sex), dtype="string[pyarrow]")
    race = pd.array(np.asarray(race), dtype="string[pyarrow]")
    score = np.round(score, 2)
y = (rng.random(n) < score * 0.8).astype(np.int8)
df = pd.DataFrame({{"sex": sex, "race": race, "y": y, "score": score}})
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
r = audit.run_audit(None, df, label="y", protected=["sex", "race"], scores="score", n_bootstrap=1000)
elapsed = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"seconds": elapsed, "peak_gb": peak / 1024**2, "before_gb": base / 1024**2,
                  "timings": dict(r.timings)}}))
"""


def bench_large(n: int, strings_tied: bool = False) -> dict:
    out = subprocess.run([sys.executable, "-c", LARGE.format(root=str(ROOT), n=n, strings_tied=strings_tied)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fairlearn-boot", type=int, default=20, help="fairlearn resamples actually run (default 20)")
    ap.add_argument("--rows", type=int, default=10_000_000, help="rows of the large synthetic run")
    ap.add_argument("--skip-large", action="store_true")
    args = ap.parse_args()

    df = adult_scored()
    print(f"Adult test split: {len(df):,} rows; groups: sex 2, race 5, sex x race 10")
    ours, ours_p10, ours_p90 = bench_ours(df, 1000)
    ours_point = bench_ours(df, 0)[0]
    print(f"fairness-audit, every metric + disparity, 1000 resamples, sex/race/sex x race: median {ours:.3f} s "
          f"(10th-90th percentile {ours_p10:.3f}-{ours_p90:.3f} s over 31 runs; target < 0.1 s); "
          f"point estimates only: {ours_point:.3f} s")

    fl_inter, fl_sex = bench_fairlearn(df, args.fairlearn_boot)
    scale = 1000 / args.fairlearn_boot
    fl_point, _ = bench_fairlearn(df, 0)
    fl_inter_1000 = fl_inter * scale
    fl_sex_1000 = fl_sex * scale
    note = "" if args.fairlearn_boot == 1000 else f" (extrapolated from n_boot={args.fairlearn_boot})"
    print(f"fairlearn MetricFrame, 9 metrics, n_boot=1000, sex x race alone: {fl_inter_1000:.1f} s{note}; "
          f"sex alone: {fl_sex_1000:.1f} s; point estimates, sex x race: {fl_point:.3f} s")
    aif = bench_aif360(df)
    print(f"aif360 ClassificationMetric, 7 disparities for 4 race groups, point estimates: {aif:.3f} s; "
          f"x1000 for a row bootstrap: {aif * 1000:.0f} s")
    print("ratios (peer time / fairness-audit time):")
    print(f"  fairlearn sex x race with 1000 resamples vs our whole audit with 1000 resamples: {fl_inter_1000 / ours:,.0f}x")
    print(f"  fairlearn point estimates (sex x race) vs our point-estimate audit (sex, race, sex x race): "
          f"{fl_point / ours_point:,.1f}x")
    print(f"  aif360 point estimates (race) x1000 vs our whole audit with 1000 resamples: {aif * 1000 / ours:,.0f}x")
    if not args.skip_large:
        runs = [bench_large(args.rows) for _ in range(3)]  # each in a fresh process
        big = sorted(runs, key=lambda r: r["seconds"])[1]  # the median run
        print(f"{args.rows:,} rows, 3 fresh processes: " + ", ".join(f"{r['seconds']:.2f} s" for r in runs))
        print(f"{args.rows:,} rows, sex + race (+ sex x race), 1000 resamples: {big['seconds']:.2f} s (target < 5 s), "
              f"peak RSS {big['peak_gb']:.2f} GB (target < 3 GB; {big['before_gb']:.2f} GB before the audit)")
        print("  stages: " + ", ".join(f"{k} {v:.2f}s" for k, v in big["timings"].items()))
        text = [bench_large(args.rows, strings_tied=True) for _ in range(3)]
        tb = sorted(text, key=lambda r: r["seconds"])[1]
        print(f"{args.rows:,} rows with pyarrow-string group columns and tied scores (101 values), 3 fresh processes: "
              + ", ".join(f"{r['seconds']:.2f} s" for r in text) + f"; median {tb['seconds'] / big['seconds']:.2f}x "
              "the coded-group run (target < 1.5x)")
        print("  stages: " + ", ".join(f"{k} {v:.2f}s" for k, v in tb["timings"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
