"""The demo: train a model on the bundled Adult training split and audit it on the test split."""

from __future__ import annotations

from typing import Any

from .datasets import adult_model

__all__ = ["adult_model", "run_demo"]


def run_demo(seed: int = 0, n_bootstrap: int = 1000, explain: bool = True) -> Any:
    from ._engine import run_audit
    from .datasets import load_adult

    train = load_adult("train")
    model = adult_model(seed=seed)  # the bundled training split: fitted once per process
    test = load_adult("test")
    return run_audit(model, test, label="income", positive_label=">50K", protected=["sex", "race"],
                     seed=seed, n_bootstrap=n_bootstrap, train_data=train, explain=explain,
                     mitigate={"attributes": ["sex"]})
