"""Monitoring over time: the windowed audit against the single audit of the same rows, appending a day to a
year of state, and Evidently's report per window (its group-by), measured in the same run.

    python benchmarks/bench_monitor.py                 # 1 million rows, 52 weekly windows
    python benchmarks/bench_monitor.py --rows 10000000 # 10 million rows

Prints seconds and ratios; Evidently is measured when it is installed (pip install evidently)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import audit  # noqa: E402


def decisions(n: int, weeks: int = 52, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sex = rng.choice(np.array(["female", "male"], dtype=object), n)
    race = rng.choice(np.array(["a", "b", "c", "d"], dtype=object), n, p=[0.6, 0.2, 0.15, 0.05])
    t = pd.Timestamp("2025-01-06") + pd.to_timedelta(rng.integers(0, weeks * 7 * 86400, n), unit="s")
    x = rng.normal(size=n) + 0.3 * (sex == "male")
    y = (x + rng.normal(scale=1.0, size=n) > 0.2).astype(np.int8)
    score = 1 / (1 + np.exp(-1.5 * x))
    return pd.DataFrame({"t": t, "sex": sex, "race": race, "y": y, "score": np.round(score, 4)})


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--weeks", type=int, default=52)
    ap.add_argument("--bootstrap", type=int, default=1000)
    args = ap.parse_args()
    df = decisions(args.rows, args.weeks)
    kw = dict(label="y", positive_label=1, protected=["sex", "race"], scores="score", n_bootstrap=args.bootstrap)
    print(f"{args.rows:,} rows, {args.weeks} weekly windows, {args.bootstrap} resamples, "
          f"{os.cpu_count()} CPUs")
    single, _ = timed(lambda: audit.run_audit(None, df, **kw))
    print(f"single audit of every row:       {single:8.2f} s")
    windowed_t, w = timed(lambda: audit.audit_windows(None, df, time="t", every="7D", **kw))
    print(f"audit_windows, {len(w.spans)} windows:       {windowed_t:8.2f} s   ({windowed_t / single:.2f}x the single audit)")

    # a year of state, then one more day appended (load, add, save)
    days = df[df.t < df.t.min().normalize() + pd.Timedelta(days=7 * args.weeks - 1)]
    last = df[df.t >= df.t.min().normalize() + pd.Timedelta(days=7 * args.weeks - 1)]
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "monitor.parquet"
        acc = audit.WindowAccumulator(time="t", every="7D", label="y", positive_label=1, protected=["sex", "race"],
                                      scores="score", n_bootstrap=args.bootstrap)
        acc.add(days).save(state)
        size = state.stat().st_size

        def append() -> None:
            a = audit.WindowAccumulator.load(state)
            a.scores = "score"
            a.add(last).save(Path(tmp) / "next.parquet")

        append_t, _ = timed(append, repeat=3)
    print(f"append one day ({len(last):,} rows) to a year of state ({size / 1e6:.1f} MB): {append_t:8.2f} s")

    try:
        import evidently  # noqa: F401
    except ImportError:
        print("evidently: not installed (pip install evidently) - not measured")
        return
    ev = evidently_per_window(df)
    if ev is not None:
        print(f"Evidently report per window ({args.weeks} windows, classification preset, no groups, no intervals): "
              f"{ev:8.2f} s   ({ev / windowed_t:.1f}x audit_windows)")


def evidently_per_window(df: pd.DataFrame) -> float | None:
    """Evidently's classification report of every window (its closest equivalent: a report per window and per
    group value, with no disparity, interval or test)."""
    from evidently import BinaryClassification, DataDefinition, Dataset, Report
    from evidently.presets import ClassificationPreset

    definition = DataDefinition(classification=[BinaryClassification(target="y", prediction_probas="score")],
                                categorical_columns=["sex", "race"])
    data = df.assign(week=df.t.dt.to_period("W").astype(str))
    t0 = time.perf_counter()
    for _, rows in data.groupby("week"):
        for col in ("sex", "race"):
            for _, part in rows.groupby(col):
                Report([ClassificationPreset()]).run(Dataset.from_pandas(part.drop(columns=["t", "week"]),
                                                                         data_definition=definition), None)
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
