"""Scale benchmark: audits of Parquet files through DuckDB (and Spark), with the peers measured in the same run.

    python benchmarks/bench_scale.py                  # 100M and 10M rows, Spark and fairlearn included (~6 min)
    python benchmarks/bench_scale.py --big-rows 20000000 --no-spark   # a quicker look

Needs the test extra (``pip install ".[test]"``: pyspark, fairlearn). The Parquet files are generated once with
DuckDB into ``--dir`` (default: a temporary directory kept between runs): sex, race, label and a precomputed
score. Every measurement of an audit runs in a fresh process, which also reports its peak memory (RSS).

Targets (issue #12):
  * 100 million rows, two protected attributes and their intersection, 1,000 resamples, DuckDB: < 10 s and
    < 1.5 GB peak memory, and within 3x of a bare DuckDB GROUP BY (sex, race, label, prediction, 4,096 score
    buckets) over the same file, measured here.
  * 10 million rows: DuckDB within 2x of the in-memory audit; fairlearn's MetricFrame on the same data beside it.
  * Spark local mode on 10 million rows: the time, and results identical to DuckDB's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

GENERATE = """
COPY (
  SELECT CASE WHEN h % 3 = 0 THEN 'Female' ELSE 'Male' END AS sex,
         CASE (h // 7) % 5 WHEN 0 THEN 'Black' WHEN 1 THEN 'Asian' WHEN 2 THEN 'Other' ELSE 'White' END AS race,
         s AS score,
         CASE WHEN ((h // 101) % 10000) / 10000.0 < s * 0.8 + 0.1 * (h % 3 = 0)::INT THEN 1 ELSE 0 END AS label
  FROM (SELECT hash(i) AS h, ((hash(i * 31 + 7) % 1000000) / 1000000.0) ^ 1.7 AS s FROM range({rows}) t(i))
) TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)
"""

BARE = """SELECT sex, race, label, (score >= 0.5)::INT AS pred, least(floor(score * 4096), 4095)::INT AS bucket,
count(*) AS n FROM read_parquet('{path}') GROUP BY ALL"""


def ensure(path: Path, rows: int) -> Path:
    import duckdb

    if not path.exists():
        t = time.perf_counter()
        duckdb.connect().execute(GENERATE.format(rows=rows, path=path))
        print(f"  generated {path.name}: {rows:,} rows, {path.stat().st_size / 2**20:,.0f} MB in "
              f"{time.perf_counter() - t:.1f} s")
    return path


def child(code: str) -> dict:
    """Run ``code`` in a fresh Python; it prints one JSON line; the child's peak RSS is added."""
    script = textwrap.dedent("""
        import json, resource, time, warnings
        warnings.simplefilter("ignore")
        out = {}
    """) + textwrap.dedent(code) + textwrap.dedent("""
        out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print("RESULT " + json.dumps(out))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[7:])


def bare_groupby(path: Path, repeat: int = 3) -> float:
    import duckdb

    con = duckdb.connect()
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        con.execute(BARE.format(path=path)).fetchall()
        best = min(best, time.perf_counter() - t)
    return best


AUDIT_DUCKDB = """
import audit
audit.run_audit(None, {warm!r}, label="label", protected=["sex", "race"], scores="score", engine="duckdb",
                n_bootstrap=100)  # warm-up: imports and DuckDB's first connection are not the audit
t = time.perf_counter()
r = audit.run_audit(None, {path!r}, label="label", protected=["sex", "race"], scores="score", engine="duckdb",
                    n_bootstrap=1000)
out["seconds"] = time.perf_counter() - t
out["rows"] = r.n_rows
out["scan"] = dict(r.timings).get("scan")
out["auc_err"] = r.section("data_source").get("roc_auc_max_error")
out["ap_err"] = r.section("data_source").get("average_precision_max_error")
out["metrics"] = r.metrics_table.to_frame().to_json()
"""

AUDIT_MEMORY = """
import pandas as pd, audit
df = pd.read_parquet({path!r})
audit.run_audit(None, df.iloc[:1000], label="label", protected=["sex", "race"], scores="score", n_bootstrap=100)
t = time.perf_counter()
r = audit.run_audit(None, df, label="label", protected=["sex", "race"], scores="score", n_bootstrap=1000)
out["seconds"] = time.perf_counter() - t
"""

FAIRLEARN = """
import pandas as pd
from fairlearn.metrics import MetricFrame, selection_rate, true_positive_rate, false_positive_rate
from sklearn.metrics import accuracy_score, precision_score, recall_score, roc_auc_score
df = pd.read_parquet({path!r})
y, s = df["label"].to_numpy(), df["score"].to_numpy()
pred = (s >= 0.5).astype(int)
t = time.perf_counter()
mf = MetricFrame(metrics={{"accuracy": accuracy_score, "selection_rate": selection_rate, "tpr": true_positive_rate,
                          "fpr": false_positive_rate, "precision": precision_score, "recall": recall_score}},
                 y_true=y, y_pred=pred, sensitive_features=df[["sex", "race"]])
mf.by_group; mf.difference(); mf.ratio()
out["seconds"] = time.perf_counter() - t
"""

AUDIT_SPARK = """
import audit
from audit._scale.sources import spark_session
spark = spark_session()
spark.sparkContext.setLogLevel("ERROR")
sdf = spark.read.parquet({path!r})
t = time.perf_counter()
r = audit.run_audit(None, sdf, label="label", protected=["sex", "race"], scores="score", n_bootstrap=1000)
out["seconds"] = time.perf_counter() - t
out["metrics"] = r.metrics_table.to_frame().to_json()
spark.stop()
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "fairness-audit-bench")
    ap.add_argument("--big-rows", type=int, default=100_000_000)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--no-spark", action="store_true")
    ap.add_argument("--no-fairlearn", action="store_true")
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)

    print(f"== {args.big_rows:,} rows, Parquet, precomputed scores, sex + race + sex & race, 1,000 resamples")
    big = ensure(args.dir / f"scored-{args.big_rows}.parquet", args.big_rows)
    warm = ensure(args.dir / "scored-100000.parquet", 100_000)
    bare = bare_groupby(big)
    ours = child(AUDIT_DUCKDB.format(path=str(big), warm=str(warm)))
    print(f"  bare DuckDB GROUP BY (sex, race, label, prediction, 4,096 buckets): {bare:.2f} s (best of 3)")
    print(f"  fairness-audit on DuckDB: {ours['seconds']:.2f} s (scan {ours['scan']:.2f} s), peak RSS "
          f"{ours['peak_mb']:,.0f} MB; {ours['seconds'] / bare:.2f}x the bare GROUP BY  "
          f"[targets: < 10 s, < 1,536 MB, < 3x]")
    print(f"  ROC AUC within {ours['auc_err']:.1e}, AP within {ours['ap_err']:.1e} of exact (stated bounds)")

    print(f"== {args.rows:,} rows")
    small = ensure(args.dir / f"scored-{args.rows}.parquet", args.rows)
    duck = child(AUDIT_DUCKDB.format(path=str(small), warm=str(warm)))
    mem = child(AUDIT_MEMORY.format(path=str(small)))
    print(f"  fairness-audit in memory (DataFrame already loaded): {mem['seconds']:.2f} s, peak RSS "
          f"{mem['peak_mb']:,.0f} MB")
    print(f"  fairness-audit on DuckDB from the Parquet file: {duck['seconds']:.2f} s, peak RSS {duck['peak_mb']:,.0f} MB;"
          f" {duck['seconds'] / mem['seconds']:.2f}x the in-memory audit  [target: < 2x]")
    if not args.no_fairlearn:
        fl = child(FAIRLEARN.format(path=str(small)))
        print(f"  fairlearn MetricFrame, 6 metrics by sex & race, point estimates only (DataFrame loaded): "
              f"{fl['seconds']:.2f} s, peak RSS {fl['peak_mb']:,.0f} MB; "
              f"{fl['seconds'] / duck['seconds']:.1f}x our DuckDB audit with 1,000-resample intervals")
    if not args.no_spark:
        sp = child(AUDIT_SPARK.format(path=str(small)))
        same = sp["metrics"] == duck["metrics"]
        print(f"  fairness-audit on Spark (local[*], 2 cores): {sp['seconds']:.2f} s; results identical to "
              f"DuckDB's: {same}")


if __name__ == "__main__":
    main()
