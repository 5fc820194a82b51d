"""Record the outputs of today's audits, and compare a later tree with them (for behaviour-preserving redesigns).

    python tools/snapshot.py record snapshots/          # before a change
    python tools/snapshot.py compare snapshots/         # after each step: exit 1 and the first differences

Each case audits bundled or generated data with a fixed seed and writes, per case, the result JSON and its HTML,
Markdown, JUnit (with a fixed policy) and text renderings, with what legitimately changes between runs scrubbed:
the creation time, library and package versions, and every timing (``timings``, ``*_seconds``, ``time``). Everything
else, every number, interval, p-value, verdict and rendered byte, must match exactly.

Cases: the demo (Adult with a training summary, explanations and mitigation), COMPAS with an unfavourable positive
label and mitigation, German credit with explanations of a linear pipeline, Adult scanned by DuckDB from Parquet,
and the golden report of the test suite.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import hashlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

POLICY = """version = 1
[[rules]]
name = "four-fifths"
metric = "demographic_parity_ratio"
min = 0.8
[[rules]]
name = "equal opportunity"
metric = "equal_opportunity_difference"
max_abs = 0.1
[[rules]]
name = "accuracy"
metric = "accuracy"
scope = "overall"
min = 0.7
"""
VOLATILE = {"created", "library_version", "versions", "timings", "time"}
OPTIONS = {"agnostic_seconds"}  # options named like timings


def _scrub(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: ("<scrubbed>" if k in VOLATILE or (k.endswith("_seconds") and k not in OPTIONS) else _scrub(x))
                for k, x in v.items()}
    if isinstance(v, list):
        return [_scrub(x) for x in v]
    return v


def _demo() -> Any:
    from audit._demo import run_demo

    return run_demo(seed=0, n_bootstrap=1000, explain=True)


def _compas() -> Any:
    import numpy as np
    from sklearn.compose import make_column_selector, make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    import audit
    from audit.datasets import load_compas

    df = load_compas()
    idx = np.random.default_rng(0).permutation(len(df))
    train, test = df.iloc[idx[:4000]], df.iloc[idx[4000:]]
    feats = ["age", "priors_count", "c_charge_degree", "juv_fel_count"]
    pre = make_column_transformer((OneHotEncoder(handle_unknown="ignore"), make_column_selector(dtype_exclude="number")),
                                  remainder="passthrough")
    model = make_pipeline(pre, LogisticRegression(max_iter=1000)).fit(train[feats], train["two_year_recid"])
    return audit.run_audit(model, test, label="two_year_recid", positive_label=1, favorable=False,
                           protected=["race", "sex"], features=feats, train_data=train,
                           mitigate={"attributes": ["race"]}, seed=3)


def _german() -> Any:
    from sklearn.compose import make_column_selector, make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    import audit
    from audit.datasets import load_german

    df = load_german()
    X = df.drop(columns=["credit"])
    pre = make_column_transformer((OneHotEncoder(handle_unknown="ignore"), make_column_selector(dtype_exclude="number")),
                                  (StandardScaler(), make_column_selector(dtype_include="number")))
    model = make_pipeline(pre, LogisticRegression(max_iter=2000)).fit(X, df["credit"])
    protected = [c for c in ("sex", "age_group", "foreign_worker") if c in df.columns][:2] or [X.columns[0]]
    return audit.run_audit(model, df, label="credit", positive_label="good", protected=protected,
                           features=list(X.columns), explain={"rows": 400, "lime_cases": 2, "lime_samples": 500},
                           seed=1)


def _engine() -> Any:
    import duckdb

    import audit
    from audit.datasets import ADULT_FEATURES, adult_model, load_adult

    test = load_adult("test")
    model = adult_model()
    test["score"] = model.predict_proba(test[ADULT_FEATURES])[:, list(model.classes_).index(">50K")]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "adult.parquet"
        test.to_parquet(path)
        con = duckdb.connect()
        return audit.run_audit(None, con.read_parquet(str(path)), label="income", positive_label=">50K",
                               protected=["sex", "race"], scores="score", seed=5)


def _golden() -> Any:
    sys.path.insert(0, str(ROOT))
    from tests.test_report import _golden_result

    return _golden_result()


CASES: dict[str, Callable[[], Any]] = {"demo": _demo, "compas": _compas, "german": _german, "engine": _engine,
                                       "golden": _golden}


def render(result: Any) -> dict[str, str]:
    """Every output of a result, scrubbed of what changes between runs."""
    from audit.gate import Policy, evaluate
    from audit.report.html import render_html
    from audit.report.junit import render_junit
    from audit.report.markdown import render_markdown
    from audit.results import AuditResult

    data = _scrub(json.loads(result.to_json()))
    fixed = AuditResult.from_dict(_restore(data))
    fixed = dataclasses.replace(fixed, created="2000-01-01T00:00:00+00:00", library_version="X",
                                timings=(("total", 0.0),), versions=(("python", "X"),))
    gate = evaluate(fixed, Policy.from_toml(POLICY))
    return {"result.json": json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n",
            "report.html": render_html(fixed, gate), "summary.md": render_markdown(fixed, gate),
            "junit.xml": render_junit(fixed, gate), "summary.txt": fixed.summary() + "\n"}


def _restore(d: Any) -> Any:
    """A scrubbed dict that loads again: scrubbed values back to plain placeholders of their field's type."""
    d = json.loads(json.dumps(d))
    d["created"], d["library_version"] = "2000-01-01T00:00:00+00:00", "X"
    d["timings"], d["versions"] = [["total", 0.0]], [["python", "X"]]

    def fix(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: (0.0 if x == "<scrubbed>" else fix(x)) for k, x in v.items()}
        if isinstance(v, list):
            return [fix(x) for x in v]
        return v

    return fix(d)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=("record", "compare"))
    ap.add_argument("dir", type=Path)
    ap.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    args = ap.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    differences = 0
    for name in args.cases:
        outputs = render(CASES[name]())
        for fname, text in outputs.items():
            path = args.dir / name / fname
            digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
            if args.action == "record":
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8", errors="surrogatepass")
                print(f"recorded {name}/{fname} {digest}")
                continue
            old = path.read_text(encoding="utf-8", errors="surrogatepass") if path.exists() else ""
            if old == text:
                print(f"same     {name}/{fname} {digest}")
                continue
            differences += 1
            print(f"DIFFERS  {name}/{fname}")
            diff = difflib.unified_diff(old.splitlines(), text.splitlines(), "recorded", "now", n=1, lineterm="")
            for line in list(diff)[:40]:
                print("   " + line[:200])
    if args.action == "compare":
        print(f"{differences} output(s) differ" if differences else "every output is identical")
    return 1 if differences else 0


if __name__ == "__main__":
    raise SystemExit(main())
