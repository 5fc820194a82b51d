"""fairness-audit: audit a trained classifier for performance and fairness by group.

    import audit
    result = audit.run_audit(model, data, label="income", positive_label=">50K", protected=["sex", "race"])
    result.metrics, result.disparities, result.to_json("audit.json")

Heavy libraries (pandas, scikit-learn, shap, lime, aif360) load only when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:  # for type checkers and the API reference; at run time the names load lazily (below)
    from . import datasets  # noqa: F401
    from ._engine import run_audit  # noqa: F401
    from .config import AuditConfig  # noqa: F401
    from .exceptions import (AuditError, AuditWarning, ConfigError, InputError, ModelError,  # noqa: F401
                             NonDeterministicModelWarning)
    from .mitigation import reweighing_weights  # noqa: F401
    from .monitor import WindowAccumulator, WindowedAudit, audit_windows  # noqa: F401
    from .registry import Module, register as register_module  # noqa: F401
    from .results import AuditResult  # noqa: F401

_LAZY = {
    "run_audit": ("._engine", "run_audit"),
    "reweighing_weights": (".mitigation", "reweighing_weights"),
    "audit_windows": (".monitor", "audit_windows"),
    "WindowedAudit": (".monitor", "WindowedAudit"),
    "WindowAccumulator": (".monitor", "WindowAccumulator"),
    "AuditResult": (".results", "AuditResult"),
    "Module": (".registry", "Module"),
    "register_module": (".registry", "register"),
    "AuditConfig": (".config", "AuditConfig"),
    "AuditError": (".exceptions", "AuditError"),
    "InputError": (".exceptions", "InputError"),
    "ModelError": (".exceptions", "ModelError"),
    "ConfigError": (".exceptions", "ConfigError"),
    "AuditWarning": (".exceptions", "AuditWarning"),
    "NonDeterministicModelWarning": (".exceptions", "NonDeterministicModelWarning"),
    "datasets": (".datasets", None),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'audit' has no attribute {name!r}")
    import importlib

    module_name, attr = _LAZY[name]
    module = importlib.import_module(module_name, __name__)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
