"""The result's JSON form: every field checked on load (the file, key and problem named), older formats converted,
and the encoding of a result's fields to plain JSON values and back."""

from __future__ import annotations

import json
import math
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

from ..config import AuditConfig
from ..exceptions import ConfigError, InputError
from .tables import CORE_TABLES, ModelInfo, ModuleError, Section, Table, column_kinds

FORMAT = "fairness-audit/result"
FORMAT_VERSION = 3
#: format 1 signed some disparities differently (see ``_upgrade_v1``); it is read and converted. Format 3 holds
#: optional modules' output as named sections (format 2 kept training data in an untyped ``extras`` list).


def _is_file(name: str) -> bool:
    try:
        return len(name) < 4096 and Path(name).is_file()
    except (OSError, ValueError):
        return False


_SURROGATE = re.compile("[\ud800-\udfff]")
TASKS = tuple(CORE_TABLES)


def _tables(task: str) -> dict[str, tuple[str, ...]]:
    metrics, disparities, groups = CORE_TABLES[task]
    return {"metrics_table": metrics, "disparities_table": disparities, "groups_table": groups}
_MODEL_FIELDS = {"description": (str,), "method": (str,), "score_kind": (str, type(None)),
                 "fingerprint": (str, type(None)), "deterministic": (bool, type(None))}


def _kind(v: Any) -> str:
    return "null" if v is None else {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(v), "a number" if isinstance(v, (int, float)) else type(v).__name__)


def _check_result(d: dict[str, Any], source: str) -> None:
    """Check every field of a result dict before building it; raise InputError naming the file, key, problem."""
    from .. import registry

    def bad(key: str, want: str, v: Any) -> InputError:
        return InputError(f"{source}: {key} must be {want}; found {_kind(v)} ({str(v)[:60]!r}).",
                          code="malformed_result")

    def need(key: str, ok: bool, want: str, v: Any) -> None:
        if not ok:
            raise bad(key, want, v)

    def is_num(v: Any) -> bool:  # JSON never holds NaN or infinities: an undefined value is null
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    def str_list(key: str, v: Any) -> None:
        need(key, isinstance(v, list) and all(isinstance(x, str) for x in v), "a list of strings", v)

    def is_int(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    kinds = column_kinds()
    section_tables = {m.name: (m.tables, m.later) for m in registry.modules() if not m.core}

    def cell(where: str, c: str, v: Any, text: bool) -> None:
        """One value of a table, by its column's kind (``text``: other columns hold a string or null)."""
        kind = kinds.get(c)
        if kind == "float":
            need(where, v is None or is_num(v), "a number or null", v)
        elif kind == "int":
            need(where, is_int(v), "an integer", v)
        elif kind == "int_or_null":
            need(where, v is None or is_int(v), "an integer or null", v)
        elif kind == "bool":
            need(where, isinstance(v, bool), "true or false", v)
        elif text:
            need(where, v is None or isinstance(v, str), "a string or null", v)

    for key in ("created", "library_version", "label", "data_fingerprint"):
        need(key, isinstance(d.get(key), str), "a string", d.get(key))
    need("favorable", isinstance(d.get("favorable"), bool), "true or false", d.get("favorable"))
    need("n_rows", isinstance(d.get("n_rows"), int) and not isinstance(d.get("n_rows"), bool)
         and d["n_rows"] >= 0, "a non-negative integer", d.get("n_rows"))
    for key in ("positive_label", "negative_label"):
        v = d.get(key)
        need(key, v is None or isinstance(v, (str, int, float, bool)), "a label value", v)
    str_list("protected", d.get("protected"))
    str_list("features", d.get("features", []))
    model = d.get("model")
    need("model", isinstance(model, dict), "an object", model)
    for key, types in _MODEL_FIELDS.items():
        need(f"model.{key}", isinstance(model.get(key), types), " or ".join(
            {str: "a string", bool: "a boolean", type(None): "null"}[t] for t in types), model.get(key))
    need("config", isinstance(d.get("config"), dict), "an object", d.get("config"))
    task = d.get("task", "binary")
    need("task", task in TASKS, f"one of {list(TASKS)}", task)
    target = d.get("target") or []
    need("target", isinstance(target, list) and all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], str)
                                                     for p in target), "a list of [name, value] pairs", target)
    for key, columns in _tables(task).items():
        t = d.get(key)
        need(key, isinstance(t, dict) and isinstance(t.get("rows"), list), 'an object with "columns" and "rows"', t)
        need(f"{key}.columns", t.get("columns") == list(columns), f"the columns {list(columns)}", t.get("columns"))
        for i, row in enumerate(t["rows"]):
            need(f"{key}.rows[{i}]", isinstance(row, list) and len(row) == len(columns),
                 f"a list of {len(columns)} values", row)
            for c, v in zip(columns, row):
                cell(f"{key}.rows[{i}] ({c})", c, v, True)
    for key in ("references", "versions"):
        v = d.get(key) or []
        need(key, isinstance(v, list) and all(isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p)
                                              for p in v), "a list of [name, value] string pairs", v)
    v = d.get("timings") or []
    need("timings", isinstance(v, list) and all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], str)
                                                and is_num(p[1]) for p in v), "a list of [stage, seconds] pairs", v)
    str_list("warnings", d.get("warnings") or [])
    v = d.get("errors") or []
    need("errors", isinstance(v, list) and all(isinstance(e, dict) and set(e) == {"module", "error_type", "message"}
                                               and all(isinstance(x, str) for x in e.values()) for e in v),
         'a list of {"module", "error_type", "message"} objects', v)
    v = d.get("extras") or []
    need("extras", isinstance(v, list) and all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], str)
                                               for p in v), "a list of [name, value] pairs", v)
    sections = d.get("sections") or {}
    need("sections", isinstance(sections, dict), "an object of named sections", sections)
    for name, sec in sections.items():
        need(f"sections.{name}", isinstance(sec, dict) and isinstance(sec.get("tables", {}), dict)
             and isinstance(sec.get("info", {}), dict), 'an object with "tables" and "info"', sec)
        for key, t in sec.get("tables", {}).items():
            where = f"sections.{name}.tables.{key}"
            need(where, isinstance(t, dict) and isinstance(t.get("columns"), list) and isinstance(t.get("rows"), list)
                 and all(isinstance(c, str) for c in t["columns"]), 'an object with "columns" and "rows"', t)
            schema, later = section_tables.get(name, ({}, frozenset()))
            known = schema.get(key)
            if known is not None:  # a table a registered module writes: its columns, each of its type
                cols = list(t["columns"])
                need(f"{where}.columns", set(known) - later <= set(cols) <= set(known)
                     and len(set(cols)) == len(cols), f"the columns {list(known)}", cols)
            for i, row in enumerate(t["rows"]):
                need(f"{where}.rows[{i}]", isinstance(row, list) and len(row) == len(t["columns"])
                     and all(x is None or isinstance(x, (str, int, float, bool)) for x in row),
                     f"a list of {len(t['columns'])} plain values", row)
                for c, v in zip(t["columns"], row):
                    cell(f"{where}.rows[{i}] ({c})", c, v, known is not None)


def _upgrade_v2(d: dict[str, Any]) -> dict[str, Any]:
    """Format 2 -> 3: the training-data summary moves from the untyped ``extras`` list to a section."""
    d = dict(d)
    sections = dict(d.get("sections") or {})
    for name, block in d.pop("extras", None) or []:
        if name == "training_data" and isinstance(block, dict):
            rates = block.get("group_base_rates") or []
            sections["training_data"] = {
                "tables": {"groups": block["groups"], "base_rates": block["base_rates"],
                           "group_base_rates": {"columns": ["attribute", "group", "base_rate"],
                                                "rows": [list(r) for r in rates]}},
                "info": {"n_rows": block.get("n_rows"), "data_fingerprint": block.get("data_fingerprint")}}
    d["sections"] = sections
    return d


_V1_NOTE = "converted from a format-1 result (older sign convention)"


def _upgrade_v1(d: dict[str, Any]) -> dict[str, Any]:
    """Format 1 -> 2. Format 1 computed every disparity in the favourable frame as group minus reference, so
    ``fnr_difference`` was positive when the group fared worse, ``predictive_parity_difference`` was group minus
    reference precision, ``equalized_odds_difference`` was unsigned, and with an unfavourable positive label the
    rows named ``fpr_difference`` / ``fnr_difference`` held the metrics table's FNR / FPR. Rows are re-signed and
    renamed to today's convention (negative = the group fares worse); signed equalized odds is recomputed from
    the converted rows, without an interval (format 1 did not keep what it needs)."""
    d = dict(d)
    table = d.get("disparities_table")
    if not isinstance(table, dict) or "columns" not in table:
        return d
    cols = list(table["columns"])
    ix = {c: i for i, c in enumerate(cols)}
    favorable = bool(d.get("favorable", True))

    def negated(row: list[Any]) -> list[Any]:
        row = list(row)
        lo, hi, v = row[ix["ci_low"]], row[ix["ci_high"]], row[ix["value"]]
        row[ix["value"]] = None if v is None else -v
        row[ix["ci_low"]], row[ix["ci_high"]] = (None if hi is None else -hi), (None if lo is None else -lo)
        return row

    rows = []
    for raw in table["rows"]:
        row = list(raw)
        metric, vs_ref = row[ix["metric"]], row[ix["comparison"]] == "vs_reference"
        if metric in ("fpr_difference", "fnr_difference"):
            # favourable frame: fpr = favourable decisions among the truly unfavourable (better when higher),
            # fnr = 1 - equal opportunity (worse when higher)
            if vs_ref and metric == "fnr_difference":
                row = negated(row)
            if not favorable:  # the positive-label rates are the other way round
                row[ix["metric"]] = "fnr_difference" if metric == "fpr_difference" else "fpr_difference"
        elif metric == "predictive_parity_difference" and vs_ref:
            row = negated(row)
        rows.append(row)
    signed: dict[tuple[Any, Any], dict[str, Any]] = {}
    fav_fpr = "fpr_difference" if favorable else "fnr_difference"  # after renaming
    for row in rows:
        if row[ix["comparison"]] == "vs_reference" and row[ix["metric"]] in ("equal_opportunity_difference", fav_fpr):
            signed.setdefault((row[ix["attribute"]], row[ix["group"]]), {})[row[ix["metric"]]] = row[ix["value"]]
    for row in rows:
        if row[ix["metric"]] == "equalized_odds_difference" and row[ix["comparison"]] == "vs_reference":
            parts = signed.get((row[ix["attribute"]], row[ix["group"]]), {})
            both = [parts.get("equal_opportunity_difference"), parts.get(fav_fpr)]
            row[ix["value"]] = min(both) if None not in both else None
            row[ix["ci_low"]] = row[ix["ci_high"]] = None
            row[ix["reason"]] = "; ".join(x for x in (row[ix["reason"]], _V1_NOTE + ": no interval") if x)
    d["disparities_table"] = {"columns": cols, "rows": rows}
    d["warnings"] = list(d.get("warnings") or []) + [f"this result was {_V1_NOTE}; re-run the audit for intervals "
                                                     "of the signed equalized odds difference"]
    return d


def _plain(v: Any) -> Any:
    return [_plain(x) for x in v] if isinstance(v, (list, tuple)) else v


def _frozen(v: Any) -> Any:
    return tuple(_frozen(x) for x in v) if isinstance(v, list) else v


def encode(result: Any) -> dict[str, Any]:
    """A result's fields as plain JSON values (tables as columns and rows, sections by name)."""
    out: dict[str, Any] = {"format": FORMAT}
    for f in fields(result):
        v = getattr(result, f.name)
        if isinstance(v, Table):
            out[f.name] = v.to_dict()
        elif isinstance(v, AuditConfig):
            out[f.name] = v.to_dict()
        elif isinstance(v, ModelInfo):
            out[f.name] = {g.name: getattr(v, g.name) for g in fields(v)}
        elif f.name == "errors":
            out[f.name] = [{g.name: getattr(e, g.name) for g in fields(e)} for e in v]
        elif f.name in ("references", "timings", "versions"):
            out[f.name] = [list(pair) for pair in v]
        elif f.name == "sections":
            out[f.name] = {sec.name: sec.to_dict() for sec in v}
        elif f.name in ("task", "target"):
            if result.task != "binary":  # a binary result's file stays as it was before other tasks existed
                out[f.name] = v if f.name == "task" else [[k, _plain(x)] for k, x in v]
        elif isinstance(v, tuple):
            out[f.name] = list(v)
        else:
            out[f.name] = v
    return out


def decode(cls: Any, d: dict[str, Any], source: str = "result") -> Any:
    """A result of class ``cls`` from its JSON dict: every field checked first, older formats converted."""
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise InputError(f"{source}: this is not a fairness-audit result (its 'format' field is missing or "
                         "different).", code="not_a_result")
    version = d.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1 or version > FORMAT_VERSION:
        raise InputError(f"{source}: result format_version {version!r} is not one this library reads (1 to "
                         f"{FORMAT_VERSION}); upgrade fairness-audit if it is newer.", code="result_version")
    _check_result(d, source)
    if version == 1:
        d = _upgrade_v1(d)
    if version <= 2:
        d = _upgrade_v2(d)
    kw: dict[str, Any] = {}
    for f in fields(cls):
        v = d[f.name] if f.name in d else None
        if v is None and f.name in ("references", "warnings", "errors", "timings", "versions"):
            v = []
        if f.name.endswith("_table"):
            v = Table.from_dict(v)
        elif f.name == "config":
            try:
                v = AuditConfig.from_dict(v)
            except (ConfigError, TypeError) as exc:
                raise InputError(f"{source}: config: {exc}", code="malformed_result") from None
        elif f.name == "model":
            v = ModelInfo(**v)
        elif f.name == "errors":
            v = tuple(ModuleError(**e) for e in v)
        elif f.name in ("references", "timings", "versions"):
            v = tuple(tuple(pair) for pair in v)
        elif f.name in ("protected", "features", "warnings"):
            v = tuple(v)
        elif f.name == "sections":
            v = tuple(Section.from_dict(name, sec) for name, sec in (v or {}).items())
        elif f.name == "format_version":
            v = FORMAT_VERSION  # converted on load: written back, it is today's format
        elif f.name == "task":
            v = v or "binary"
        elif f.name == "target":
            v = tuple((k, _frozen(x)) for k, x in (v or []))
        kw[f.name] = v
    return cls(**kw)


def dumps(d: dict[str, Any], indent: int | None = 1) -> str:
    """The JSON text of an encoded result (never NaN or Infinity)."""
    text = json.dumps(d, indent=indent, allow_nan=False, ensure_ascii=False)
    # a lone surrogate (possible in a group name) cannot be UTF-8: keep it as a JSON escape, which reads back
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)


def load_json(path_or_text: Any) -> tuple[Any, str]:
    """The JSON value of a result file (a path) or of JSON text (a string that is not an existing file's name and
    starts with ``{``), and the name of where it came from; unreadable or malformed input raises InputError."""
    is_text = (isinstance(path_or_text, str) and path_or_text.lstrip().startswith("{")
               and not _is_file(path_or_text))
    if is_text:
        text, source = str(path_or_text), "result JSON text"
    else:
        source = str(path_or_text)
        try:
            text = Path(path_or_text).read_bytes().decode("utf-8")
        except OSError as exc:
            raise InputError(f"cannot read result file {source!r}: {exc.strerror}.",
                             code="unreadable_result") from None
        except UnicodeDecodeError as exc:
            raise InputError(f"{source}: not UTF-8 text (byte {exc.start}); is it a fairness-audit result JSON?",
                             code="malformed_result") from None
    try:
        return json.loads(text), source
    except json.JSONDecodeError as exc:
        raise InputError(f"{source}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}.",
                         code="malformed_result") from None
    except RecursionError:
        raise InputError(f"{source}: the JSON is nested too deeply to be a fairness-audit result.",
                         code="malformed_result") from None
