"""Declarative option constraints with one message format (like scikit-learn's ``_param_validation``): a config
class lists ``{name: constraint}``, :func:`check_all` validates every field, and a bad value is refused as
``"<prefix><name>=<value> is invalid: give <what the constraint accepts>."`` naming the option, what was found
and what to give. Used by the audit's options and every module's config."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from .exceptions import ConfigError


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and not (isinstance(v, float) and math.isnan(v))


@dataclass(frozen=True)
class Integer:
    """An integer in ``[low, high]`` (``high=None``: no upper limit)."""

    low: int
    high: int | None = None
    text: str = ""

    def accepts(self, v: Any) -> bool:
        return _is_int(v) and v >= self.low and (self.high is None or v <= self.high)

    def describe(self) -> str:
        if self.text:
            return self.text
        if self.high is None:
            return "a non-negative integer" if self.low == 0 else f"an integer of at least {self.low:,}"
        return f"an integer from {self.low:,} to {self.high:,}"


@dataclass(frozen=True)
class Number:
    """A finite number between ``low`` and ``high`` (each end open or closed), optionally None."""

    low: float
    high: float
    low_open: bool = False
    high_open: bool = False
    none_ok: bool = False
    text: str = ""

    def accepts(self, v: Any) -> bool:
        if v is None:
            return self.none_ok
        if not _is_number(v) or not math.isfinite(v):
            return False
        above = v > self.low if self.low_open else v >= self.low
        below = v < self.high if self.high_open else v <= self.high
        return above and below

    def describe(self) -> str:
        return self.text or f"a number from {self.low:g} to {self.high:g}"


@dataclass(frozen=True)
class Options:
    """One of ``values``."""

    values: tuple[Any, ...]
    text: str = ""

    def accepts(self, v: Any) -> bool:
        return any(v == x and type(v) is type(x) for x in self.values)

    def describe(self) -> str:
        return self.text or "one of " + ", ".join(map(str, self.values))


@dataclass(frozen=True)
class Boolean:
    """True or False (``none_ok``: or None)."""

    none_ok: bool = False

    def accepts(self, v: Any) -> bool:
        return isinstance(v, bool) or (self.none_ok and v is None)

    def describe(self) -> str:
        return "True, False or None" if self.none_ok else "True or False"


@dataclass(frozen=True)
class Satisfies:
    """Anything ``test`` accepts (for the few options no other constraint describes), described by ``text``."""

    test: Any
    text: str

    def accepts(self, v: Any) -> bool:
        return bool(self.test(v))

    def describe(self) -> str:
        return self.text


Constraint = Integer | Number | Options | Boolean | Satisfies


def check(name: str, value: Any, constraint: Constraint, prefix: str = "") -> None:
    """Refuse ``value`` of option ``name`` unless ``constraint`` accepts it, in the one message format."""
    if not constraint.accepts(value):
        raise ConfigError(f"{prefix}{name}={value!r} is invalid: give {constraint.describe()}.", code="invalid_option")


def check_all(obj: Any, constraints: Mapping[str, Constraint], prefix: str = "") -> None:
    """Every field of ``obj`` named in ``constraints``, in their order."""
    for name, constraint in constraints.items():
        check(name, getattr(obj, name), constraint, prefix)
