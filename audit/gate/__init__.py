"""Policies and the gate: a policy (TOML) lists rules over metrics; :func:`evaluate` judges a result against
it, a pure function of the result, the policy and an optional baseline. ``policy.py`` reads and checks policies;
``verdicts.py`` judges."""

from __future__ import annotations

from .policy import ACTIONS, MODES, STARTER_POLICY, VERDICT_ORDER, Policy, Rule
from .monitor import MonitorGateResult, evaluate_windows
from .verdicts import Check, GateResult, RuleResult, evaluate, lost_output

__all__ = ["ACTIONS", "Check", "GateResult", "MODES", "Policy", "Rule", "RuleResult", "STARTER_POLICY",
           "VERDICT_ORDER", "evaluate", "evaluate_windows", "lost_output", "MonitorGateResult"]
