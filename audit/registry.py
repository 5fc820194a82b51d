"""The module registry: every part of an audit declares itself here once, and the engine, the result codec, the
gate, the renderers and the CLI's config file iterate over the declarations.

A module is one file that builds a :class:`Module`: its name, the option that switches it on (``run_audit``
keyword and config-file key, validated by ``build``), ``run(env)`` returning its typed :class:`~audit.results.Section`
(schema in ``tables``, column kinds in ``kinds``), an optional engine variant, the metrics it exports to the gate,
its views for each renderer and its random-stream purposes. The built-in modules are found by import path, like
plugins (:data:`BUILTIN`); others are added with :func:`register` (``audit.register_module``)::

    import audit
    from audit.registry import Module

    audit.register_module(Module(name="spread", option="spread", run=my_run, tables={"spread": (...)}, ...))
    audit.run_audit(model, data, label="y", protected=["sex"], spread=True)   # result.section("spread")

Nothing here imports the rest of the library: the declarations point to their own code.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

#: built-in modules, in the order they run and appear in the result (core modules first)
BUILTIN = ("audit.modules.performance", "audit.modules.bias", "audit.modules.regression", "audit.modules.multiclass",
           "audit._scale.run",
           "audit.modules.explanations", "audit.modules.mitigate", "audit.modules.training")
KINDS = ("float", "int", "bool", "int_or_null")  # a column's kind; other columns hold text (or null)


@dataclass(frozen=True)
class GateMetric:
    """A metric a module's section exports to the gate: policy rules name it like any catalogue metric.

    Each row of ``table`` is one check: its ``value``, interval (``ci_low``/``ci_high``), ``attribute`` and group
    (the ``group`` column, or ``group_label`` for every row); ``better`` orders ``max_worsening`` rules."""

    name: str
    table: str
    value: str
    ci_low: str = "ci_low"
    ci_high: str = "ci_high"
    attribute: str = "attribute"
    group: str | None = None
    group_label: str = ""
    reason: str = "reason"
    undefined: str = "the value is undefined"
    requires: str = ""  # what to run when the section is missing (the gate's message)
    better: str | None = None  # "higher", "lower" or None (size of the value)


@dataclass
class Env:
    """What a module's ``run`` receives: the audit context (``ctx``) and what the caller gave.

    ``options`` is the module's own validated config (what ``build`` returned); ``scaled`` and ``source`` are set
    for data an engine scanned; ``audit`` re-runs an audit (``run_audit``) for modules that audit other rows;
    ``training()`` gives the training rows validated once for the whole audit (rows in memory)."""

    ctx: Any
    cfg: Any
    model: Any = None
    options: Any = None
    strict: bool = False
    train_data: Any = None
    reference: Any = None
    scaled: Any = None
    source: Any = None
    audit: Callable[..., Any] | None = None
    training: Callable[[], Any] | None = None  # the training rows validated once per audit (in memory), shared


@dataclass(frozen=True)
class Module:
    """One module's declaration.

    Parameters
    ----------
    name : str
        The section's name in the result and JSON (core modules: the name of their error entry and timing).
    run : callable
        ``run(env) -> Section`` (core modules: a dict of table records).
    core : bool
        Core modules (performance, bias) fill the result's main tables; they always run, first.
    option : str, optional
        The ``run_audit`` keyword and config-file key that switches the module on.
    build : callable, optional
        ``build(value) -> config or None``: the option as given (True, a dict) validated into the module's
        config; None leaves the module off. Raises ConfigError naming the option.
    wanted : callable, optional
        ``wanted(env) -> bool`` for modules switched on by something else than an option (training data given,
        an engine scan).
    run_engine : callable, optional
        The variant for data an engine scanned (default: ``run``).
    failure : {"record", "raise"}
        A failure is recorded in ``result.errors`` (the audit completes) or raised.
    tables, kinds : dict
        The section's tables and their columns; the kind of each non-text column (float, int, bool, int_or_null).
    gate_metrics : tuple of GateMetric
        Metrics policy rules may judge.
    title : str
        Heading of the module's report section.
    html : callable, optional
        ``html(section, result)``: blocks (``title``, ``text``, ``chart``/``scatter``, ``columns``/``rows``) of
        the module's report section; ``html_place="data"`` hands the view to the Data section's own markup.
    headline : callable, optional
        ``headline(section, result) -> str or None``: one sentence for the report's top findings.
    markdown, text : callable, optional
        ``(section, result) -> list of lines`` for the Markdown summary and the plain-text summary.
    lost : callable, optional
        ``lost(section) -> list of str``: output the user asked for and did not get (the gate's notes).
    purposes : tuple of (int, str)
        Random-stream purposes the module draws with (numbers unique across modules; a test checks).
    tasks : tuple of str
        The tasks the module audits (``binary``, ``multiclass``, ``regression``): a core module runs for those; an
        optional module asked for on another task is refused naming its option.
    """

    name: str
    run: Callable[[Env], Any] | None = None
    core: bool = False
    option: str | None = None
    option_help: str = ""
    build: Callable[[Any], Any] | None = None
    wanted: Callable[[Env], bool] | None = None
    run_engine: Callable[[Env], Any] | None = None
    failure: str = "record"
    timed: bool = True
    tables: dict[str, tuple[str, ...]] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    later: frozenset[str] = frozenset()  # columns added after results were first stored: a stored table may lack them
    gate_metrics: tuple[GateMetric, ...] = ()
    title: str = ""
    nav: str = ""  # its name in the report's table of contents (default: title)
    anchor: tuple[str, str, str] = ("", "", "")  # report section id, heading id, chart id prefix
    html: Callable[[Any, Any], Any] | None = None
    html_place: str = "section"
    headline: Callable[[Any, Any], str | None] | None = None
    markdown: Callable[[Any, Any], list[str]] | None = None
    text: Callable[[Any, Any], list[str]] | None = None
    lost: Callable[[Any], list[str]] | None = None
    purposes: tuple[tuple[int, str], ...] = ()
    tasks: tuple[str, ...] = ("binary",)

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"module name {self.name!r} must be an identifier (it names a JSON section).")
        if self.failure not in ("record", "raise"):
            raise ValueError(f"module {self.name!r}: failure={self.failure!r}; choose record or raise.")
        bad = {c: k for c, k in self.kinds.items() if k not in KINDS}
        if bad:
            raise ValueError(f"module {self.name!r}: column kinds {bad} are not among {KINDS}.")
        if self.option is not None and self.build is None:
            raise ValueError(f"module {self.name!r}: option {self.option!r} needs build(value) -> config or None.")


_lock = threading.RLock()
_modules: dict[str, Module] = {}
_loaded = False


def _load_builtins() -> None:
    global _loaded
    if _loaded:
        return
    with _lock:
        if _loaded:
            return
        found = {}
        for path in BUILTIN:  # each built-in module file declares MODULE (the plugin mechanism, by name)
            found[path] = importlib.import_module(path).MODULE
        extra = dict(_modules)  # registered before the built-ins were loaded
        _modules.clear()
        for m in found.values():
            _modules[m.name] = m
        _modules.update(extra)
        _loaded = True


def register(module: Module, *, replace: bool = False) -> Module:
    """Add a module to every audit in this process (after the built-ins, in registration order).

    Raises ValueError when the name, option, a gate metric or a random-stream purpose is taken (``replace=True``
    swaps a module of the same name)."""
    if not isinstance(module, Module):
        raise TypeError(f"register() takes an audit.registry.Module; got {type(module).__name__}.")
    _load_builtins()
    with _lock:
        others = [m for m in _modules.values() if m.name != module.name]
        if module.name in _modules and not replace:
            raise ValueError(f"a module named {module.name!r} is registered already (replace=True swaps it).")
        for m in others:
            if module.option is not None and module.option == m.option:
                raise ValueError(f"option {module.option!r} belongs to module {m.name!r}.")
            taken = {g.name for g in m.gate_metrics} & {g.name for g in module.gate_metrics}
            if taken:
                raise ValueError(f"gate metric(s) {sorted(taken)} belong to module {m.name!r}.")
            clash = {p for p, _ in m.purposes} & {p for p, _ in module.purposes}
            if clash:
                raise ValueError(f"random-stream purpose(s) {sorted(clash)} belong to module {m.name!r}.")
            columns = {c for cols in module.tables.values() for c in cols}
            for c in columns | set(module.kinds):  # a column name has one kind in every table (JSON checks, frames)
                kind = module.kinds.get(c, "text")
                if c in m.kinds and m.kinds[c] != kind:
                    raise ValueError(f"column {c!r} is {m.kinds[c]} in module {m.name!r}; {module.name!r} declares "
                                     f"it {kind}: rename the column.")
        _modules[module.name] = module
    return module


def unregister(name: str) -> None:
    """Remove a module added with :func:`register` (built-in modules cannot be removed)."""
    _load_builtins()
    with _lock:
        m = _modules.get(name)
        if m is None:
            raise KeyError(f"no module named {name!r} is registered.")
        if any(m is importlib.import_module(p).MODULE for p in BUILTIN):
            raise ValueError(f"{name!r} is a built-in module.")
        del _modules[name]


def modules() -> tuple[Module, ...]:
    """Every registered module: core modules first, then the others in registration order."""
    _load_builtins()
    with _lock:
        ms = tuple(_modules.values())
    return tuple(m for m in ms if m.core) + tuple(m for m in ms if not m.core)


def get(name: str) -> Module | None:
    _load_builtins()
    return _modules.get(name)


def view(module: Module, kind: str, *args: Any, strict: bool = False) -> Any:
    """A module's view (``html``, ``headline``, ``markdown``, ``text``, ``lost``) of its section, or what stands in
    for it when the view itself fails: one renderer's output never dies of one module's view (``strict`` re-raises).
    A failed view yields a sentence saying so, in the shape that view returns."""
    fn = getattr(module, kind)
    if fn is None:
        return None
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 - a module's view is not allowed to sink the whole output
        if strict:
            raise
        why = " ".join(str(exc).split())[:200]
        note = f"The {module.name} module's {kind} view failed ({type(exc).__name__}: {why})."
        if kind == "html":
            return [{"title": "Not shown", "text": note, "columns": [], "rows": []}] if module.html_place == "section" \
                else None
        return [note] if kind in ("markdown", "text", "lost") else note


def section_tables() -> dict[str, dict[str, tuple[str, ...]]]:
    """The tables (and columns) of every module's section: what a stored result is checked against."""
    return {m.name: dict(m.tables) for m in modules() if not m.core}


def column_kinds() -> dict[str, str]:
    """The kind of every non-text column of every module's tables (one kind per column name across modules)."""
    out: dict[str, str] = {}
    for m in modules():
        out.update(m.kinds)
    return out


def gate_metrics() -> dict[str, tuple[Module, GateMetric]]:
    """Every metric the modules' sections export to the gate, by name."""
    return {g.name: (m, g) for m in modules() for g in m.gate_metrics}


def options() -> dict[str, Module]:
    """The modules switched on by an option, by option name (``run_audit`` keyword and config-file key)."""
    return {m.option: m for m in modules() if m.option is not None}
