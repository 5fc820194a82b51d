"""Principal reasons for adverse decisions (issue 21) on a daily batch: 100,000 rows of a tree model on two cores.

    python benchmarks/bench_reasons.py            # ~2 minutes
    python benchmarks/bench_reasons.py --rows 20000

Needs the bench extra: ``pip install ".[bench]"`` (lightgbm). Target: 100,000 rows in under a minute, end to end
(predict, pick the adverse rows, exact SHAP of the margin per original column, the proxy scan of the batch,
rank and format the reasons). Peer: shap's own ``TreeExplainer(...).shap_values`` on the same adverse rows, which
gives the raw matrix only (no ranking, no exclusions, no readable values). Models: a one-hot pipeline around
scikit-learn's HistGradientBoosting (shap's C++ TreeSHAP) and lightgbm (its own TreeSHAP), both on Adult-like
rows resampled from the bundled Adult data.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audit.datasets import load_adult  # noqa: E402
from audit.reasons import reason_codes  # noqa: E402

FEATURES = ["age", "workclass", "education", "education_num", "marital_status", "occupation", "capital_gain",
            "capital_loss", "hours_per_week"]
CATS = ["workclass", "education", "marital_status", "occupation"]


def timed(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    import shap
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    train = load_adult("train")
    batch = train.sample(args.rows, replace=args.rows > len(train), random_state=0).reset_index(drop=True)
    y = train["income"]
    pre = ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), CATS)],
                            remainder="passthrough")
    models = {"HistGradientBoosting pipeline (shap's TreeSHAP)":
              make_pipeline(pre, HistGradientBoostingClassifier(max_iter=100, random_state=0)).fit(train[FEATURES], y)}
    try:
        import lightgbm

        X_l = train[FEATURES].copy()
        for c in CATS:
            X_l[c] = X_l[c].astype("category")
        models["lightgbm, native categoricals (its own TreeSHAP)"] = lightgbm.LGBMClassifier(
            n_estimators=200, num_leaves=31, verbose=-1, random_state=0, n_jobs=2).fit(X_l, y)
        lgb_batch = batch.copy()
        for c in CATS:
            lgb_batch[c] = pd.Categorical(lgb_batch[c], categories=X_l[c].cat.categories)
    except ImportError:
        print("lightgbm is not installed: its row is skipped")
    print(f"{args.rows:,} rows, median of {args.repeat} runs, 2 cores")
    for name, model in models.items():
        data = lgb_batch if name.startswith("lightgbm") else batch
        t_ours, codes = timed(lambda: reason_codes(model, data, protected=["sex", "race"], positive_label=">50K",
                                                   features=FEATURES), args.repeat)
        adverse = np.asarray(sorted(set(codes.to_frame()["row"])))
        pipe = hasattr(model, "steps")
        X = data[FEATURES].iloc[adverse]

        def peer():
            if pipe:
                return shap.TreeExplainer(model[-1]).shap_values(model[:-1].transform(X), check_additivity=False)
            return shap.TreeExplainer(model).shap_values(X, check_additivity=False)

        t_peer, _ = timed(peer, args.repeat)
        print(f"  {name}: {codes.n_adverse:,} adverse rows; reasons {t_ours:.1f} s "
              f"({'within' if t_ours < 60 else 'OVER'} the 60 s target); shap TreeExplainer alone on the adverse "
              f"rows {t_peer:.1f} s; ratio {t_ours / t_peer:.2f}x")


if __name__ == "__main__":
    main()
