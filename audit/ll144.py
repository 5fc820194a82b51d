"""NYC Local Law 144 bias-audit tables (issue 21, first part): the numbers the rules of the Department of Consumer and
Worker Protection (6 RCNY 5-301) ask a bias audit of an automated employment decision tool to state, from a frozen
audit result and the user's mapping of their columns to the law's categories.

For each category of sex, of race/ethnicity, and of their intersection: the number of applicants, the selection rate
(a tool that selects) or the scoring rate (a tool that scores: the share scored above the median, which a
regression audit computes), and the impact ratio against the most selected (highest-scoring) category. A category
of less than 2% of the data may be left out of the impact ratios, as the rules allow; it is still listed with its
count and rate and the reason. Applicants whose category is unknown are counted and stated, not placed in a
category.

Beside the required figures, and marked as additional: the impact ratio's MOVER-R score interval and a two-proportion
test against the most selected category (the four-fifths ratio alone ignores sample size). Pure functions of the
result: nothing is re-audited. Not legal advice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._toml import read_toml
from .exceptions import ConfigError

if TYPE_CHECKING:  # pragma: no cover

    from .record.result import ResultData

#: the law's categories (EEO-1 component 1), in the order the tables list them
SEX = ("Male", "Female")
RACE_ETHNICITY = ("Hispanic or Latino", "White", "Black or African American", "Native Hawaiian or Pacific Islander",
                  "Asian", "Native American or Alaska Native", "Two or More Races")
CATEGORIES = {"sex": SEX, "race_ethnicity": RACE_ETHNICITY}
COLUMNS = ("category", "applicants", "selected", "rate", "impact_ratio", "in_impact_ratios", "note",
           "additional_ratio_low", "additional_ratio_high", "additional_p_value")
SMALL_SHARE = 0.02


@dataclass(frozen=True)
class Dimension:
    """One of the law's dimensions mapped to one of the audit's protected columns."""

    column: str
    values: dict[str, str]  # the column's group name -> the law's category
    unknown: tuple[str, ...] = ()  # group names meaning "category unknown"


@dataclass(frozen=True)
class LL144Map:
    """The user's mapping (``ll144.toml``)::

        [sex]
        column = "gender"
        values = { M = "Male", F = "Female" }
        unknown = ["not given"]

        [race_ethnicity]
        column = "race"
        values = { White = "White", Black = "Black or African American", Asian-Pac-Islander = "Asian" }
        unknown = ["Other"]

        [audit]
        data_source = "applications 2025, ATS export"
        data_start = "2025-01-01"
        data_end = "2025-12-31"
        exclude_small = true     # categories under 2% of the data are left out of the impact ratios

    Every value the column holds must be mapped or listed as unknown (checked against the result)."""

    dimensions: dict[str, Dimension]
    facts: dict[str, str] = field(default_factory=dict)
    exclude_small: bool = True

    @classmethod
    def from_toml(cls, path_or_text: str | Path) -> "LL144Map":
        data, source, _ = read_toml(path_or_text, "LL144 mapping", "ll144_map")
        return cls.from_dict(data, source=source)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "<ll144 map>") -> "LL144Map":
        unknown_keys = sorted(set(data) - {"sex", "race_ethnicity", "audit"})
        if unknown_keys:
            raise ConfigError(f"{source}: unknown table [{unknown_keys[0]}]; the mapping has [sex], [race_ethnicity] "
                              "and [audit].", code="ll144_map")
        dims: dict[str, Dimension] = {}
        for name in ("sex", "race_ethnicity"):
            block = data.get(name)
            if block is None:
                continue
            if not isinstance(block, dict) or not isinstance(block.get("column"), str):
                raise ConfigError(f"{source}: [{name}] needs column = \"...\" (the audit's protected column).",
                                  code="ll144_map")
            values = block.get("values", {})
            if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
                raise ConfigError(f"{source}: [{name}] values must map the column's values to the law's "
                                  f"categories: {', '.join(CATEGORIES[name])}.", code="ll144_map")
            bad = [v for v in values.values() if v not in CATEGORIES[name]]
            if bad:
                raise ConfigError(f"{source}: [{name}] maps to {bad[0]!r}, not one of the law's categories: "
                                  f"{', '.join(CATEGORIES[name])}.", code="ll144_map")
            unknown = block.get("unknown", [])
            if isinstance(unknown, str):
                unknown = [unknown]
            if not isinstance(unknown, list) or not all(isinstance(u, (str, int, float)) for u in unknown):
                raise ConfigError(f"{source}: [{name}] unknown must be a list of the column's values.",
                                  code="ll144_map")
            both = sorted(set(map(str, values)) & set(map(str, unknown)))
            if both:
                raise ConfigError(f"{source}: [{name}] value {both[0]!r} is both mapped and unknown.",
                                  code="ll144_map")
            dims[name] = Dimension(block["column"], {str(k): v for k, v in values.items()},
                                   tuple(str(u) for u in unknown))
        if not dims:
            raise ConfigError(f"{source}: map at least one of [sex] and [race_ethnicity].", code="ll144_map")
        audit_block = data.get("audit", {}) or {}
        if not isinstance(audit_block, dict):
            raise ConfigError(f"{source}: [audit] must be a table.", code="ll144_map")
        exclude = audit_block.get("exclude_small", True)
        if not isinstance(exclude, bool):
            raise ConfigError(f"{source}: exclude_small must be true or false.", code="ll144_map")
        facts = {k: str(v) for k, v in audit_block.items() if k in ("data_source", "data_start", "data_end")}
        return cls(dims, facts, exclude)


def _groups(result: "ResultData") -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for g in result.groups_table.records():
        out.setdefault(g["attribute"], []).append(g)
    return out


def _selected(result: "ResultData", g: dict[str, Any]) -> tuple[int, str]:
    """(rows selected or scored high, the rate's name) of one group of the result."""
    n = int(g["n"])
    if result.task == "regression":
        return int(round(float(g["scoring_rate"] or 0.0) * n)), "scoring rate"
    if result.task == "multiclass":
        if g.get("favorable_rate") is None:
            raise ConfigError("an LL144 table of a multiclass audit needs favorable_classes (the selected outcome).",
                              code="ll144_map")
        return int(round(float(g["favorable_rate"]) * n)), "selection rate"
    pp = int(g["predicted_positives"])
    return (pp if result.favorable else n - pp), "selection rate"


def _check(result: "ResultData", name: str, dim: Dimension) -> None:
    if dim.column not in result.protected:
        raise ConfigError(f"LL144 mapping [{name}]: column {dim.column!r} is not a protected attribute of this audit "
                          f"({', '.join(result.protected)}).", code="ll144_map")
    held = [g["group"] for g in _groups(result).get(dim.column, []) if int(g["n"]) > 0]
    missing = [v for v in held if v not in dim.values and v not in dim.unknown]
    if missing:
        raise ConfigError(f"LL144 mapping [{name}]: the column {dim.column!r} holds {missing[0]!r}, which is neither "
                          "mapped to a category nor listed as unknown; map it (values = {...}) or add it to unknown.",
                          code="ll144_map")


def _table(rows: list[tuple[str, int, int]], order: list[str], exclude_small: bool, total: int,
           confidence: float) -> list[dict[str, Any]]:
    """The table of one dimension: categories in the law's order, their counts, rates and impact ratios."""
    from .stats import score_intervals as si
    from .stats.significance import two_proportion_p

    counts: dict[str, list[int]] = {}
    for cat, n, sel in rows:
        c = counts.setdefault(cat, [0, 0])
        c[0] += n
        c[1] += sel
    out = []
    for cat in order:
        n, sel = counts.get(cat, [0, 0])
        small = total > 0 and n / total < SMALL_SHARE
        note = ""
        if n == 0:
            note = "no applicants in this category"
        elif small and exclude_small:
            note = (f"{100 * n / total:.2f}% of the data, under 2%: left out of the impact ratios (as 6 RCNY 5-301 "
                    "allows); its count and rate are shown")
        out.append({"category": cat, "applicants": n, "selected": sel, "rate": sel / n if n else None,
                    "in_impact_ratios": n > 0 and not (small and exclude_small), "note": note})
    included = [r for r in out if r["in_impact_ratios"]]
    best = max(included, key=lambda r: (r["rate"], r["applicants"]), default=None)
    for r in out:
        if not r["in_impact_ratios"] and r["applicants"]:  # under 2%: listed, not compared
            r["impact_ratio"] = None
            continue
        if best is None or r["rate"] is None or not best["rate"]:
            r["impact_ratio"] = None
            if best is not None and r["rate"] is not None and not best["rate"]:
                r["note"] = "; ".join(x for x in (r["note"], "no category was selected: no impact ratio") if x)
            continue
        r["impact_ratio"] = 1.0 if r is best else r["rate"] / best["rate"]
        if r is not best:
            low, high = si.ratio(r["selected"], r["applicants"], best["selected"], best["applicants"], confidence)
            r["additional_ratio_low"], r["additional_ratio_high"] = low, (high if math.isfinite(high) else None)
            r["additional_p_value"] = two_proportion_p(r["selected"], r["applicants"], best["selected"],
                                                       best["applicants"])
    return out


def ll144_tables(result: "ResultData", mapping: LL144Map) -> dict[str, Any]:
    """The bias-audit tables (``sex``, ``race_ethnicity``, ``intersectional`` as DataFrames of :data:`COLUMNS`) and
    the facts the page states (``facts``: rows, unknown counts, audit date, data range and source, tool version)."""
    import pandas as pd

    from ._keys import split_key

    groups = _groups(result)
    for name, dim in mapping.dimensions.items():
        _check(result, name, dim)
    total = int(result.n_rows)
    conf = result.config.confidence
    tables: dict[str, Any] = {}
    rate_name = "selection rate"
    unknown: dict[str, int] = {}
    for name, dim in mapping.dimensions.items():
        rows = []
        unknown[name] = 0
        for g in groups.get(dim.column, []):
            sel, rate_name = _selected(result, g)
            if g["group"] in dim.unknown:
                unknown[name] += int(g["n"])
            elif g["group"] in dim.values:
                rows.append((dim.values[g["group"]], int(g["n"]), sel))
        tables[name] = pd.DataFrame(_table(rows, list(CATEGORIES[name]), mapping.exclude_small, total, conf),
                                    columns=list(COLUMNS))
    facts: dict[str, Any] = {"rows": total, "rate": rate_name, "unknown": unknown, "audit_date": result.created,
                             "tool": result.model.description, "library_version": result.library_version,
                             **mapping.facts}
    if len(mapping.dimensions) == 2:
        sex, race = mapping.dimensions["sex"], mapping.dimensions["race_ethnicity"]
        key = next((a for a in groups if set(split_key(a)) == {sex.column, race.column} and len(split_key(a)) == 2),
                   None)
        if key is None:
            facts["intersectional"] = ("not audited: run the audit with both columns protected and intersections "
                                       "on")
        else:
            order = split_key(key)
            rows, unknown_x = [], 0
            for g in groups[key]:
                parts = dict(zip(order, split_key(g["group"])))
                s, r = parts[sex.column], parts[race.column]
                sel, _ = _selected(result, g)
                if s in sex.unknown or r in race.unknown or s not in sex.values or r not in race.values:
                    unknown_x += int(g["n"])
                    continue
                rows.append((f"{race.values[r]} {sex.values[s]}", int(g["n"]), sel))
            names = [f"{r_} {s_}" for r_ in RACE_ETHNICITY for s_ in SEX]
            tables["intersectional"] = pd.DataFrame(_table(rows, names, mapping.exclude_small, total, conf),
                                                    columns=list(COLUMNS))
            unknown["intersectional"] = unknown_x
    return {**tables, "facts": facts}
