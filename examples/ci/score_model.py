"""Stand-in for your pipeline's scoring step: train the demo model on Adult's training split and write the
test split with a `score` column (the model's probability of >50K). In your pipeline, score your own
evaluation data with your own model; fairness-audit only needs the scores (or the model file)."""

from __future__ import annotations

import argparse
from pathlib import Path

from audit.datasets import ADULT_FEATURES, adult_model
from audit.datasets import load_adult


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    model = adult_model()
    test = load_adult("test")
    test["score"] = model.predict_proba(test[ADULT_FEATURES])[:, list(model.classes_).index(">50K")]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    test.to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
