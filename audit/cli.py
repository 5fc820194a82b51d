"""Command line: parses arguments, calls the library, maps outcomes to exit codes. No audit logic here.

Exit codes: 0 success (gate passed), 1 the gate failed, 2 usage, configuration, data or model error, 130 interrupted.
``audit --help`` imports neither pandas nor any heavy library.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Sequence

import click

EXIT_OK, EXIT_GATE_FAILED, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130

EXIT_CODES_HELP = """\b
Exit codes:
  0  success (and the gate passed, when a policy is given)
  1  the gate failed (a rule failed, or an inconclusive / insufficient-data
     verdict that the policy says should fail)
  2  usage, configuration, data or model error (one-line message; --debug
     shows the traceback). Unexpected internal errors also exit 2.
  130  interrupted (Ctrl-C): a scan in progress is cancelled at once and no
     output file is written.
"""


class GateFailed(Exception):
    """Raised inside a command to exit 1 after all outputs are written."""


def _progress(msg: str) -> None:
    """One line on stderr, whatever the message holds: user strings may contain newlines, terminal escapes or
    bidi controls, which are shown as escapes (a group name cannot write a CI workflow command)."""
    from .report.format import visible

    click.echo(visible(msg), err=True)


_error = _progress


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES_HELP)
@click.version_option(package_name="fairness-audit", prog_name="audit")
@click.option("--debug", is_flag=True, help="Show tracebacks of errors.")
def cli(debug: bool) -> None:
    """Audit a trained classifier for performance and fairness by group, and gate releases on a policy."""


def _out_options(f: Any) -> Any:
    for opt in reversed([
        click.option("--json", "json_out", metavar="PATH", help="Write the JSON result ('-' for stdout)."),
        click.option("--html", "html_out", type=click.Path(dir_okay=False, path_type=Path),
                     help="Write the HTML report."),
        click.option("--junit", "junit_out", type=click.Path(dir_okay=False, path_type=Path),
                     help="Write JUnit XML, one test case per policy rule (needs --policy)."),
        click.option("--markdown", "markdown_out", metavar="PATH",
                     help="Write a Markdown summary ('-' for stdout), e.g. to $GITHUB_STEP_SUMMARY."),
        click.option("--policy", type=click.Path(dir_okay=False, path_type=Path), help="Policy file (TOML)."),
        click.option("--baseline", type=click.Path(dir_okay=False, path_type=Path),
                     help="A stored audit (JSON) of the previous model, for max_worsening rules."),
        click.option("--allow-different-data", is_flag=True,
                     help="Compare with a baseline audited on different data."),
        click.option("--manifest", "manifest_out", type=click.Path(dir_okay=False, path_type=Path),
                     help="Write an evidence manifest (sha256 of every output, the model, policy and data files, "
                          "the data fingerprint, versions, seed); check it later with `audit verify`."),
    ]):
        f = opt(f)
    return f


def _write_rendered(rendered: list[tuple[str, str]]) -> None:
    """Each rendered output to stdout ("-") or its file, written atomically (all rendered before any is written)."""
    from .record.atomic import write_atomic

    for target, text in rendered:
        if target == "-":
            click.echo(text, nl=not text.endswith("\n"))
        else:
            write_atomic(target, text)
            _progress(f"wrote {target}")


def _emit(result: Any, *, json_out: str | None, html_out: Path | None, junit_out: Path | None,
          markdown_out: str | None, policy: Path | None, baseline: Path | None, allow_different_data: bool,
          quiet_summary: bool = False, manifest: Any = None, pdf_out: Path | None = None) -> None:
    """Gate (pure), render everything in memory, then write each output atomically (then the report printed to
    ``pdf_out``, then the evidence manifest: ``manifest`` is ``(path, [(role, input path), ...])``)."""
    from .gate import Policy, evaluate
    from .results import AuditResult

    _check_outputs(junit_out, policy, baseline)
    gate = None
    if policy is not None:
        pol = Policy.from_toml(policy)
        base = AuditResult.from_json(baseline) if baseline else None
        gate = evaluate(result, pol, base, allow_different_data=allow_different_data)
    rendered: list[tuple[str, str]] = []
    if json_out:
        rendered.append((json_out, result.to_json()))
    page = None
    if html_out or pdf_out:
        from .report.html import render_html

        page = render_html(result, gate)
    if html_out:
        rendered.append((str(html_out), page))
    if junit_out:
        from .report.junit import render_junit

        rendered.append((str(junit_out), render_junit(result, gate)))
    if markdown_out:
        from .report.markdown import render_markdown

        rendered.append((markdown_out, render_markdown(result, gate)))
    _write_rendered(rendered)
    if pdf_out is not None:
        _write_pdf(page, pdf_out)
    if manifest is not None:
        inputs = list(manifest[1]) + ([("policy", policy)] if policy else []) + \
            ([("input", baseline)] if baseline else [])
        outputs = [t for t, _ in rendered if t != "-"] + ([pdf_out] if pdf_out is not None else [])
        _write_manifest(manifest[0], inputs + [("output", t) for t in outputs], result)
    to_stdout = any(t == "-" for t, _ in rendered)
    if not quiet_summary:
        click.echo(result.summary(), err=to_stdout)
    if gate is not None:
        counts = gate.counts()
        line = ", ".join(f"{v} {k}" for k, v in counts.items() if v)
        _progress(f"gate {'passed' if gate.passed else 'FAILED'}: {line}")
        for r in gate.rules:
            if r.verdict != "pass":
                c = r.failing_checks[0] if r.failing_checks else r.checks[0]
                where = f"{c.attribute} {c.group}: " if c.attribute or c.group else ""
                _progress(f"  {r.verdict}{' (blocks)' if r.blocking else ''}: {r.rule.name}: {where}{c.message}")
        if not gate.passed:
            raise GateFailed()


def _write_manifest(path: Any, files: list[tuple[str, Any]], result: Any) -> None:
    from .manifest import write_manifest

    body = write_manifest(path, [(role, p) for role, p in files if p], result=result)
    _progress(f"wrote {path} ({len(body['files'])} files; manifest sha256 {body['manifest_sha256']})")


def _manifest_inputs(data_path: Any, model_path: Any) -> list[tuple[str, Any]]:
    """The data file (when it is one file) and the model file, for the evidence manifest."""
    out: list[tuple[str, Any]] = []
    if data_path and Path(str(data_path)).is_file():
        out.append(("data", data_path))
    if model_path:
        out.append(("model", model_path))
    return out


def _label_kind(data: Any, source: Any, label: str) -> str:
    """numpy kind letter of the label column ("" when unknown), in memory or from the engine's schema."""
    if source is None:
        return data[label].dtype.kind if label in data.columns else ""
    import narwhals as nw

    try:
        dtype = source.frame.collect_schema()[label]
    except Exception:  # noqa: BLE001 - a missing column is reported by the audit itself
        return ""
    if dtype == nw.Boolean:
        return "b"
    if dtype.is_integer():
        return "i"
    return "f" if dtype.is_float() else ""


def _check_outputs(junit_out: Any, policy: Any, baseline: Any, targets: dict[str, Any] | None = None) -> None:
    """Usage errors and output files that cannot be written, before any work (an audit can take minutes)."""
    import os

    if junit_out and not policy:
        raise click.UsageError("--junit needs --policy (one test case per policy rule).")
    if baseline and not policy:
        raise click.UsageError("--baseline needs --policy (max_worsening rules say what may worsen).")
    for option, target in (targets or {}).items():
        if not target or str(target) == "-":
            continue
        path = Path(target)
        folder = path.parent if str(path.parent) else Path(".")
        if path.is_dir():
            why = "it is a folder"
        elif not folder.is_dir():
            why = f"its folder {str(folder)!r} does not exist"
        elif not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
            why = "permission denied"
        else:
            continue
        raise click.UsageError(f"cannot write {option} {str(path)!r}: {why}.")


_STR, _BOOL, _INT, _NUM, _LABEL = "a string", "true or false", "an integer", "a number", "a label value"
_CONFIG_TYPES: dict[str, str] = {
    "model": _STR, "data": _STR, "train_data": _STR, "label": _STR, "positive_label": _LABEL,
    "favorable": "true, false, or (a regression model) \"higher\" or \"lower\"",
    "task": "one of \"auto\", \"binary\", \"multiclass\", \"regression\"",
    "favorable_classes": "a list of class labels", "scoring_cut": _NUM,
    "protected": "a column name or a list of column names", "features": "a list of column names",
    "predictions": _STR, "scores": _STR, "reference": "a table of attribute = group", "threshold": _NUM,
    "seed": _INT, "n_bootstrap": _INT, "confidence": _NUM, "options": "a table of audit options", "json": _STR,
    "html": _STR, "junit": _STR, "markdown": _STR, "manifest": _STR, "policy": _STR, "baseline": _STR, "trust_model": _BOOL,
    "intersections": _BOOL, "strict": _BOOL, "engine": "one of auto, pandas, duckdb, spark",
}


def _config_types() -> dict[str, str]:
    """Every key of the config file: the audit's own, and each registered module's option (explain, mitigate...)."""
    from . import registry

    return {**_CONFIG_TYPES, **{opt: m.option_help or f"true, false or a table of {opt} options"
                                for opt, m in registry.options().items()}}


def _type_ok(kind: str, v: Any) -> bool:
    if kind == _STR:
        return isinstance(v, str) and v != ""
    if kind == _BOOL:
        return isinstance(v, bool)
    if kind == _INT:
        return isinstance(v, int) and not isinstance(v, bool)
    if kind == _NUM:
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if kind == _LABEL:
        return isinstance(v, (str, int, float, bool))
    if kind.startswith("a column name or"):
        return (isinstance(v, str) and v != "") or (isinstance(v, list) and bool(v)
                                                    and all(isinstance(x, str) for x in v))
    if kind.startswith("a list of"):
        return isinstance(v, list) and all(isinstance(x, str) for x in v)
    if kind.startswith("true, false or a table"):  # a module's option (explain, mitigate, ...)
        return isinstance(v, (bool, dict))
    if kind.startswith("one of auto"):
        return v in ("auto", "pandas", "duckdb", "spark")
    if kind.startswith("true, false, or"):
        return isinstance(v, bool) or v in ("higher", "lower")
    if kind.startswith('one of "auto"'):
        return v in ("auto", "binary", "multiclass", "regression")
    if kind.startswith("a list of class"):
        return isinstance(v, list) and bool(v) and all(isinstance(x, (str, int, float, bool)) for x in v)
    if kind.startswith("a table of attribute"):
        return isinstance(v, dict) and all(isinstance(x, (str, int, float, bool)) for x in v.values())
    return isinstance(v, dict)


def _class_values(data: Any, source: Any, label: str, classes: Any) -> Any:
    """Favourable classes as the label holds them: text from the command line parsed as numbers when the label
    is numeric."""
    if not classes:
        return None
    kind = _label_kind(data, source, label)
    out = []
    for c in classes:
        if isinstance(c, str) and kind in ("i", "u", "f"):
            try:
                c = int(c) if kind in "iu" else float(c)
            except ValueError:
                pass
        out.append(c)
    return out


def _config_line(text: str, key: str) -> str:
    import re

    for i, line in enumerate(text.splitlines(), 1):
        if re.match(rf"\s*\"?{re.escape(key)}\"?\s*=", line):
            return f", line {i}"
    return ""


def _read_config(path: Path | None) -> dict[str, Any]:
    """The [audit] table of a config file, every key type-checked (a string where a boolean belongs must not
    quietly turn an option on), with the file, key and line of any problem."""
    if path is None:
        return {}
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    from .exceptions import ConfigError

    try:
        text = path.read_bytes().decode("utf-8")
        data = tomllib.loads(text)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {str(path)!r}: {exc.strerror}.", code="config_missing") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}): save the config file as UTF-8.",
                          code="config_syntax") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}", code="config_syntax") from None
    section = data.get("audit", data)
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [audit] must be a table.", code="config_type")
    types = _config_types()
    known = set(types)
    unknown = sorted(set(section) - known)
    if unknown:
        import difflib

        hint = difflib.get_close_matches(unknown[0], sorted(known), n=1)
        raise ConfigError(f"{path}{_config_line(text, unknown[0])}: unknown key {unknown[0]!r} in [audit]"
                          + (f" (did you mean {hint[0]!r}?)" if hint else "")
                          + f"; known keys: {', '.join(sorted(known))}.", code="config_key")
    for key, value in section.items():
        if not _type_ok(types[key], value):
            raise ConfigError(f"{path}{_config_line(text, key)}: {key} must be {types[key]}; got "
                              f"{value!r} ({type(value).__name__}).", code="config_type")
    if "options" in section:
        from .config import AuditConfig

        try:
            AuditConfig.from_dict(dict(section["options"]))
        except ConfigError as exc:
            raise ConfigError(f"{path}, [audit.options]: {exc}", code=exc.code) from None
    from . import registry

    for opt, module in registry.options().items():  # each module's options, checked before anything runs
        if opt in section:
            try:
                module.build(section[opt])
            except (ConfigError, TypeError) as exc:
                raise ConfigError(f"{path}{_config_line(text, opt)}: {opt}: {exc}", code="config_type") from None
    base = path.parent
    for key in ("model", "data", "train_data", "policy", "baseline", "json", "html", "junit", "markdown", "manifest"):
        if isinstance(section.get(key), str) and section[key] != "-" and not Path(section[key]).is_absolute():
            section[key] = str(base / section[key])
    return section


def _module_switches(values: Sequence[str]) -> dict[str, Any]:
    """``--with NAME[=VALUE]``: a registered module's option (the key it has in the config file), its value TOML
    (true when omitted), validated by the module before anything runs."""
    from . import registry
    from .exceptions import ConfigError

    out: dict[str, Any] = {}
    switches = registry.options()
    for item in values:
        name, eq, raw = item.partition("=")
        name = name.strip()
        if name not in switches:
            import difflib

            close = difflib.get_close_matches(name, list(switches), n=1)
            raise click.UsageError(f"--with {name}: no registered module has this option"
                                   + (f" (did you mean {close[0]!r}?)" if close else "")
                                   + f"; options: {', '.join(sorted(switches))}.")
        value: Any = True
        if eq:
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                import tomli as tomllib  # type: ignore[no-redef]
            try:
                value = tomllib.loads(f"v = {raw}")["v"]
            except tomllib.TOMLDecodeError as exc:
                raise click.UsageError(f"--with {name}={raw}: not a TOML value ({exc}); give true, false or a "
                                       "table such as {rows = 500}.") from None
        try:
            switches[name].build(value)
        except ConfigError as exc:
            raise click.UsageError(f"--with {name}: {exc}") from None
        out[name] = value
    return out


def _split(values: Sequence[str]) -> list[str]:
    out: list[str] = []
    for v in values:
        out.extend(x.strip() for x in v.split(",") if x.strip())
    return out


@cli.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Config file (TOML, [audit] table) with any of these options; flags override it.")
@click.option("--model", "model_path", help="Fitted model: .joblib/.pkl (runs code: trusted files only) or .skops.")
@click.option("--trust-model", is_flag=True, default=None, help="Load a .skops model with types skops does not trust.")
@click.option("--data", "data_path", help="Data to audit: CSV or Parquet with features, label and protected columns.")
@click.option("--train-data", "train_path", help="Optional training data (CSV/Parquet): its label base rates by group "
              "are reported beside the audited data's.")
@click.option("--label", help="True-label column.")
@click.option("--positive-label", help="The predicted (positive) class; numbers are parsed when the label is numeric.")
@click.option("--favorable/--unfavorable", default=None,
              help="Is the positive label the favourable outcome? (default: favourable)")
@click.option("--protected", multiple=True, help="Protected column(s); repeat or comma-separate.")
@click.option("--features", multiple=True, help="Model input columns (default: the model's, else all but the label).")
@click.option("--predictions", "pred_col", help="Column of precomputed predictions (instead of --model).")
@click.option("--scores", "score_col", help="Column of precomputed positive-class probabilities.")
@click.option("--reference", multiple=True, metavar="ATTR=GROUP", help="Reference group of an attribute.")
@click.option("--threshold", type=float, help="Probability threshold of a positive prediction (default 0.5).")
@click.option("--seed", type=int, help="Seed of every random step (default 0).")
@click.option("--n-bootstrap", type=int, help="Bootstrap resamples (default 1000; 0: no intervals).")
@click.option("--confidence", type=float, help="Confidence level (default 0.95).")
@click.option("--no-intersections", is_flag=True, default=None, help="Do not audit intersections of attributes.")
@click.option("--explain/--no-explain", default=None,
              help="Add explanations: SHAP importance, by group and gap attribution, LIME cases, proxy scan.")
@click.option("--explain-rows", type=int, help="Rows explained with SHAP (default 1000).")
@click.option("--lime-cases", type=int, help="LIME cases chosen automatically (default 3).")
@click.option("--mitigate/--no-mitigate", default=None,
              help="Reweighing: weights from --train-data, a reweighed refit of the model, paired before/after.")
@click.option("--with", "with_modules", multiple=True, metavar="MODULE[=VALUE]",
              help="Switch on a registered module by its option name, with a TOML value for its options "
                   "(e.g. --with mitigate, --with 'explain={rows=500}'); repeatable.")
@click.option("--strict/--no-strict", default=None,
              help="A module that fails or cannot run as asked (an explanation part, --mitigate without "
                   "--train-data) is an error (exit 2), not a warning.")
@click.option("--engine", type=click.Choice(["auto", "pandas", "duckdb", "spark"]), default=None,
              help="Where the rows are scanned: auto (default: files of up to 2 million rows in memory, larger ones "
                   "with DuckDB), pandas (in memory), duckdb or spark (a local session unless one is configured).")
@click.option("--task", type=click.Choice(["auto", "binary", "multiclass", "regression"]), default=None,
              help="What the model decides (default auto: from the label and the model). For a regression model "
                   "--favorable means higher predictions help the person, --unfavorable lower ones.")
@click.option("--favorable-classes", multiple=True, metavar="CLASS",
              help="Multiclass: the classes that help the person; repeat or comma-separate.")
@click.option("--scoring-cut", type=float, help="Regression: the prediction above which a row is scored high "
                                                "(default: the median prediction, as NYC Local Law 144).")
@_out_options
def run(config_path: Path | None, model_path: str | None, trust_model: bool | None, data_path: str | None,
        train_path: str | None, label: str | None, positive_label: str | None, favorable: bool | None, protected: tuple[str, ...],
        features: tuple[str, ...], pred_col: str | None, score_col: str | None, reference: tuple[str, ...],
        threshold: float | None, seed: int | None, n_bootstrap: int | None, confidence: float | None,
        no_intersections: bool | None, explain: bool | None, explain_rows: int | None, lime_cases: int | None,
        mitigate: bool | None, with_modules: tuple[str, ...], strict: bool | None, engine: str | None,
        task: str | None, favorable_classes: tuple[str, ...], scoring_cut: float | None, json_out: str | None,
        html_out: Path | None, junit_out: Path | None,
        markdown_out: str | None, policy: Path | None, baseline: Path | None, allow_different_data: bool,
        manifest_out: Path | None) -> None:
    """Audit a model (or precomputed predictions) on a data file."""
    cfg = _read_config(config_path)
    if strict is not None:
        cfg["strict"] = strict
    cfg.update(_module_switches(with_modules))

    def pick(flag: Any, key: str, default: Any = None) -> Any:
        return flag if flag not in (None, ()) else cfg.get(key, default)

    model_path = pick(model_path, "model")
    data_path = pick(data_path, "data")
    label = pick(label, "label")
    protected_list = _split(protected) if protected else cfg.get("protected", [])
    if isinstance(protected_list, str):
        protected_list = [protected_list]
    if not data_path:
        raise click.UsageError("give the data to audit: --data FILE (or data = ... in --config).")
    if not label:
        raise click.UsageError("give the label column: --label NAME.")
    if not protected_list:
        raise click.UsageError("give at least one protected column: --protected NAME.")
    pred_col, score_col = pick(pred_col, "predictions"), pick(score_col, "scores")
    if not model_path and not pred_col and not score_col:
        raise click.UsageError("give a model (--model FILE) or precomputed --predictions / --scores columns.")
    refs = dict(cfg.get("reference", {}))
    for item in reference:
        if "=" not in item:
            raise click.UsageError(f"--reference {item!r}: write ATTRIBUTE=GROUP, e.g. --reference sex=Male.")
        k, v = item.split("=", 1)
        refs[k.strip()] = v.strip()
    json_out, html_out = pick(json_out, "json"), pick(html_out, "html")
    junit_out, markdown_out = pick(junit_out, "junit"), pick(markdown_out, "markdown")
    policy, baseline = pick(policy, "policy"), pick(baseline, "baseline")
    manifest_out = pick(manifest_out, "manifest")
    # before any work: a usage error or an output that cannot be written should not cost an audit
    _check_outputs(junit_out, policy, baseline, {"--json": json_out, "--html": html_out, "--junit": junit_out,
                                                 "--markdown": markdown_out, "--manifest": manifest_out})
    if explain is False and (explain_rows is not None or lime_cases is not None):
        given = " and ".join(o for o, v in (("--explain-rows", explain_rows), ("--lime-cases", lime_cases))
                             if v is not None)
        raise click.UsageError(f"--no-explain contradicts {given}: drop one of them.")

    from ._scale.sources import check_engine, open_source

    engine = check_engine(pick(engine, "engine", "auto"))
    if model_path:  # a model file that cannot be loaded should not cost reading the data first
        from ._io import check_model_file

        check_model_file(model_path, trust=bool(pick(trust_model, "trust_model", False)))
    _progress(f"reading {data_path} ...")
    data, source = open_source(data_path, engine)
    cfg["task"] = pick(task, "task", "auto")
    if favorable_classes:
        cfg["favorable_classes"] = _split(favorable_classes)
    cfg["scoring_cut"] = pick(scoring_cut, "scoring_cut")
    try:
        _run_opened(cfg, pick, data, source, engine, model_path, trust_model, label, protected_list, positive_label,
                    favorable, features, pred_col, score_col, refs, threshold, seed, n_bootstrap, confidence,
                    no_intersections, train_path, explain, explain_rows, lime_cases, mitigate, json_out, html_out,
                    junit_out, markdown_out, policy, baseline, allow_different_data, data_path, manifest_out)
    finally:
        if source is not None:
            source.close()


def _run_opened(cfg: dict[str, Any], pick: Any, data: Any, source: Any, engine: str, model_path: Any,
                trust_model: Any, label: str, protected_list: list[str], positive_label: Any, favorable: Any,
                features: Any, pred_col: Any, score_col: Any, refs: dict[str, Any], threshold: Any, seed: Any,
                n_bootstrap: Any, confidence: Any, no_intersections: Any, train_path: Any, explain: Any,
                explain_rows: Any, lime_cases: Any, mitigate: Any, json_out: Any, html_out: Any, junit_out: Any,
                markdown_out: Any, policy: Any, baseline: Any, allow_different_data: bool, data_path: str,
                manifest_out: Any = None) -> None:
    import sys
    import warnings

    from . import registry
    from ._engine import run_audit
    from ._io import load_data, load_model
    model = None
    if model_path:
        from ._io import pickle_warning

        caution = pickle_warning(model_path)
        if caution:  # said before the file's code runs, not after
            _progress(f"warning: {caution}")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = load_model(model_path, trust=bool(pick(trust_model, "trust_model", False)), warn=False)
        for w in caught:
            _progress(f"warning: {w.message}")
    pos: Any = pick(positive_label, "positive_label")
    kind = _label_kind(data, source, label)
    if isinstance(pos, str) and kind in ("i", "u", "f", "b"):
        try:
            pos = int(pos) if kind in "iu" else (pos.lower() == "true" if kind == "b" else float(pos))
        except ValueError:
            pass
    options = dict(cfg.get("options", {}))
    if pick(no_intersections, "intersections") is not None:
        options["intersections"] = not no_intersections if no_intersections is not None else bool(cfg["intersections"])
    feats = _split(features) if features else cfg.get("features")
    train_path = pick(train_path, "train_data")
    train = (train_path if source is not None else load_data(train_path, "training data")) if train_path else None
    explain_opts: Any = cfg.get("explain", False)
    if explain is not None:
        explain_opts = explain and (explain_opts if isinstance(explain_opts, dict) else True)
    if explain_rows is not None or lime_cases is not None:
        explain_opts = dict(explain_opts) if isinstance(explain_opts, dict) else {}
        explain_opts.update({k: v for k, v in (("rows", explain_rows), ("lime_cases", lime_cases)) if v is not None})
    what = f"{len(data):,} rows" if source is None else f"{source.description} with {source.kind}"
    _progress(f"auditing {what}" + (" with explanations" if explain_opts else "") + " ...")
    result = run_audit(
        model, data if source is None else data_path, label=label, positive_label=pos, favorable=pick(favorable, "favorable", True),
        protected=protected_list, reference=refs or None, features=feats,
        predictions=pred_col, scores=score_col,
        threshold=pick(threshold, "threshold", 0.5), seed=pick(seed, "seed", 0),
        n_bootstrap=pick(n_bootstrap, "n_bootstrap", 1000), confidence=pick(confidence, "confidence", 0.95),
        train_data=train, explain=explain_opts, mitigate=pick(mitigate, "mitigate", False),
        engine=engine if source is not None else "pandas", progress=sys.stderr.isatty(),
        strict=bool(cfg.get("strict", False)), task=cfg.get("task", "auto"),
        favorable_classes=_class_values(data, source, label, cfg.get("favorable_classes")),
        scoring_cut=cfg.get("scoring_cut"), **options,
        **{opt: cfg[opt] for opt in registry.options() if opt in cfg and opt not in ("explain", "mitigate")})
    _emit(result, json_out=json_out, html_out=Path(html_out) if html_out else None,
          junit_out=Path(junit_out) if junit_out else None, markdown_out=markdown_out,
          policy=Path(policy) if policy else None, baseline=Path(baseline) if baseline else None,
          allow_different_data=allow_different_data,
          manifest=(manifest_out, _manifest_inputs(data_path, model_path)) if manifest_out else None)


@cli.command()
@click.argument("result_json", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--policy", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Policy file (TOML).")
@click.option("--baseline", type=click.Path(dir_okay=False, path_type=Path), help="Stored audit of the previous model.")
@click.option("--allow-different-data", is_flag=True, help="Compare with a baseline audited on different data.")
@click.option("--junit", "junit_out", type=click.Path(dir_okay=False, path_type=Path), help="Write JUnit XML.")
@click.option("--markdown", "markdown_out", metavar="PATH", help="Write a Markdown summary ('-' for stdout).")
def gate(result_json: Path, policy: Path, baseline: Path | None, allow_different_data: bool, junit_out: Path | None,
         markdown_out: str | None) -> None:
    """Re-gate a stored result against a policy, without recomputing."""
    from .results import AuditResult

    result = AuditResult.from_json(result_json)
    _emit(result, json_out=None, html_out=None, junit_out=junit_out, markdown_out=markdown_out, policy=policy,
          baseline=baseline, allow_different_data=allow_different_data, quiet_summary=True)


@cli.command()
@click.argument("result_json", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "doc_format", type=click.Choice(["report", "ll144", "model-card"]), default="report",
              show_default=True,
              help="report: the audit report; ll144: the NYC Local Law 144 bias-audit tables (needs --ll144-map); "
                   "model-card: a model card (the owner's prose from --card).")
@click.option("--ll144-map", "ll144_map", type=click.Path(dir_okay=False, path_type=Path),
              help="TOML mapping the audit's columns to the law's categories (see the guide).")
@click.option("--card", "card_text", type=click.Path(dir_okay=False, path_type=Path),
              help="TOML of the model card's prose (intended use, training data, ...); see the guide.")
@click.option("--pdf", "pdf_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also print the HTML document to this PDF with headless Chromium.")
@_out_options
def report(result_json: Path, doc_format: str, ll144_map: Path | None, card_text: Path | None, pdf_out: Path | None,
           json_out: str | None, html_out: Path | None, junit_out: Path | None, markdown_out: str | None,
           policy: Path | None, baseline: Path | None, allow_different_data: bool, manifest_out: Path | None) -> None:
    """Re-render a stored result (HTML, Markdown, JUnit, JSON, PDF) without recomputing; or one of the documents
    for regulators made from it: its LL144 tables, or its model card."""
    from .results import AuditResult

    targets = {"--json": json_out, "--html": html_out, "--junit": junit_out, "--markdown": markdown_out,
               "--pdf": pdf_out, "--manifest": manifest_out}
    if ll144_map is not None and doc_format != "ll144":
        raise click.UsageError("--ll144-map goes with --format ll144.")
    if card_text is not None and doc_format != "model-card":
        raise click.UsageError("--card goes with --format model-card.")
    if doc_format == "report":
        if not any((json_out, html_out, junit_out, markdown_out, pdf_out)):
            raise click.UsageError("say what to write: --html, --markdown, --junit, --json or --pdf.")
        _check_outputs(junit_out, policy, baseline, targets)
        if pdf_out is not None:
            _pdf_ready()
        result = AuditResult.from_json(result_json)
        _emit(result, json_out=json_out, html_out=html_out, junit_out=junit_out, markdown_out=markdown_out,
              policy=policy, baseline=baseline, allow_different_data=allow_different_data, quiet_summary=True,
              manifest=(manifest_out, [("result", result_json)]) if manifest_out else None, pdf_out=pdf_out)
        return
    if json_out or junit_out or policy or baseline:
        raise click.UsageError(f"--format {doc_format} writes --html, --markdown (model-card) and --pdf; --json, "
                               "--junit, --policy and --baseline go with --format report.")
    if markdown_out and doc_format == "ll144":
        raise click.UsageError("--format ll144 writes --html and --pdf (its tables are in result.ll144_tables()).")
    if doc_format == "ll144" and ll144_map is None:
        raise click.UsageError("--format ll144 needs --ll144-map FILE.")
    if not any((html_out, markdown_out, pdf_out)):
        raise click.UsageError(f"say what to write for --format {doc_format}: --html, "
                               + ("--markdown " if doc_format == "model-card" else "") + "or --pdf.")
    _check_outputs(None, None, None, targets)
    if pdf_out is not None:
        _pdf_ready()
    inputs = [("result", result_json)]
    rendered: list[tuple[str, str]] = []
    if doc_format == "ll144":
        from .ll144 import LL144Map
        from .report.ll144_view import render_ll144

        mapping = LL144Map.from_toml(ll144_map)
        result = AuditResult.from_json(result_json)
        page = render_ll144(result.ll144_tables(mapping), result.label, result.config.confidence,
                            mapping.exclude_small)
        inputs.append(("input", ll144_map))
    else:
        from .model_card import CardText

        text = CardText.from_toml(card_text) if card_text is not None else CardText()
        result = AuditResult.from_json(result_json)
        card = result.model_card(text)
        page = card.to_html()
        if markdown_out:
            rendered.append((markdown_out, card.to_markdown()))
        if card_text is not None:
            inputs.append(("input", card_text))
        if card.missing:
            _progress(f"note: the model card leaves {len(card.missing)} required field(s) of prose not stated: "
                      + ", ".join(card.missing) + (" (give them in --card)" if card_text else
                                                   " (give them in a --card TOML)"))
    if html_out:
        rendered.append((str(html_out), page))
    _write_rendered(rendered)
    if pdf_out is not None:
        _write_pdf(page, pdf_out)
    if manifest_out:
        outs = [t for t, _ in rendered if t != "-"] + ([pdf_out] if pdf_out else [])
        _write_manifest(manifest_out, inputs + [("output", t) for t in outs], result)


def _pdf_ready() -> None:
    """Before any work: --pdf without Chromium is a usage error that says how to install it."""
    from .report.pdf import INSTALL, find_chromium

    if find_chromium() is None:
        raise click.UsageError(f"--pdf needs headless Chromium, which was not found: {INSTALL}.")


def _write_pdf(html: str, pdf_out: Path) -> None:
    from .report.pdf import html_to_pdf

    size = html_to_pdf(html, pdf_out)
    _progress(f"wrote {pdf_out} ({size:,} bytes)")


@cli.command()
@click.option("--model", "model_path", required=True,
              help="Fitted binary classifier: .joblib/.pkl (runs code: trusted files only) or .skops.")
@click.option("--trust-model", is_flag=True, default=False, help="Load a .skops model with types skops does not trust.")
@click.option("--data", "data_path", required=True, help="CSV or Parquet file of the decided rows.")
@click.option("--result", "result_json", type=click.Path(dir_okay=False, path_type=Path),
              help="The model's stored audit: its protected attributes, positive label and its meaning, threshold, "
                   "features, seed and proxy scan are used (recommended).")
@click.option("--protected", multiple=True, help="Protected columns (without --result); repeat or comma-separate.")
@click.option("--positive-label", help="The model's positive class (without --result).")
@click.option("--favorable/--unfavorable", default=None,
              help="Whether the positive label is the favourable outcome (without --result; default favourable).")
@click.option("--features", multiple=True, help="The model's input columns (default: the model's own list).")
@click.option("--threshold", type=float, help="Decision threshold on the positive-class probability (default 0.5).")
@click.option("-k", "k", type=int, default=4, show_default=True, help="Reasons per adverse decision, at most.")
@click.option("--reasons-map", type=click.Path(dir_okay=False, path_type=Path),
              help="TOML of reason text per feature (see the guide).")
@click.option("--exclude", multiple=True, help="More features never given as reasons; repeat or comma-separate.")
@click.option("--id-column", help="A column identifying each row (e.g. the application number).")
@click.option("--out", "out_csv", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Write the reasons as CSV (one line per reason).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the reasons and how they were found (excluded features, explainer) as JSON.")
@click.option("--manifest", "manifest_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write an evidence manifest of the inputs and outputs.")
def reasons(model_path: str, trust_model: bool, data_path: str, result_json: Path | None, protected: tuple[str, ...],
            positive_label: str | None, favorable: bool | None, features: tuple[str, ...], threshold: float | None,
            k: int, reasons_map: Path | None, exclude: tuple[str, ...], id_column: str | None, out_csv: Path,
            json_out: Path | None, manifest_out: Path | None) -> None:
    """Principal reasons for adverse decisions (adverse-action notices): for each row the model gives the
    unfavourable outcome, the features that pushed it there most, from exact SHAP of the model's margin; never a
    protected attribute nor a flagged proxy. Not legal advice."""
    if result_json is not None:
        given = [o for o, v in (("--protected", protected), ("--positive-label", positive_label),
                                ("--favorable/--unfavorable", favorable), ("--threshold", threshold),
                                ("--features", features)) if v not in (None, ())]
        if given:
            raise click.UsageError(f"{', '.join(given)} come(s) from --result; drop them, or drop --result.")
    else:
        if not protected:
            raise click.UsageError("give the protected columns (--protected NAME) or the model's audit (--result).")
        if positive_label is None:
            raise click.UsageError("give the model's positive class (--positive-label) or its audit (--result).")
    _check_outputs(None, None, None, {"--out": out_csv, "--json": json_out, "--manifest": manifest_out})
    import json

    from ._io import check_model_file, load_data, load_model
    from .record.atomic import write_atomic
    from .reasons import reason_codes

    check_model_file(model_path, trust=trust_model)
    result = None
    if result_json is not None:
        from .results import AuditResult

        result = AuditResult.from_json(result_json)
    data = load_data(data_path)
    from ._io import pickle_warning

    caution = pickle_warning(model_path)
    if caution:  # said before the file's code runs
        _progress(f"warning: {caution}")
    model = load_model(model_path, trust=trust_model, warn=False)
    if result is not None:
        codes = result.reason_codes(model, data, k=k, reasons=reasons_map, exclude=_split(exclude), id_column=id_column,
                                    progress=sys.stderr.isatty())
    else:
        codes = reason_codes(model, data, protected=_split(protected), positive_label=_model_label(model,
                             positive_label), favorable=True if favorable is None else favorable,
                             features=_split(features) or None, threshold=0.5 if threshold is None else threshold,
                             k=k, reasons=reasons_map, exclude=_split(exclude), id_column=id_column,
                             progress=sys.stderr.isatty())
    rendered = [(str(out_csv), codes.to_csv())]
    if json_out is not None:
        rendered.append((str(json_out), json.dumps(codes.to_dict(), indent=1, ensure_ascii=True) + "\n"))
    for target, text in rendered:
        write_atomic(target, text)
        _progress(f"wrote {target}")
    for line in codes.statement().splitlines():
        _progress(line)
    if manifest_out:
        inputs = _manifest_inputs(data_path, model_path) + ([("result", result_json)] if result_json else []) + \
            ([("input", reasons_map)] if reasons_map else [])
        _write_manifest(manifest_out, inputs + [("output", t) for t, _ in rendered], result)


def _model_label(model: Any, text: str) -> Any:
    """A positive label given as text, as the model's classes hold it (1 for "1" when they are numbers)."""
    import numpy as np

    classes = getattr(model, "classes_", None)
    if classes is None:
        return text
    from ._validation import py_value

    for c in np.asarray(classes).tolist():
        if str(py_value(c)) == text or (isinstance(py_value(c), bool) and text.lower() == str(c).lower()):
            return py_value(c)
    return text


@cli.command()
@click.argument("manifest", type=click.Path(dir_okay=False, path_type=Path))
def verify(manifest: Path) -> None:
    """Check that no file an evidence manifest lists has changed since it was written (exit 1 naming each one that
    changed or is missing)."""
    from .manifest import verify_manifest

    found = verify_manifest(manifest)
    for line in found.text().splitlines():
        _progress(line)
    if not found.ok:
        raise GateFailed()


STARTER_CONFIG = """# fairness-audit configuration: `audit run --config audit.toml`
# Paths are relative to this file. Command-line flags override these values.
[audit]
data = "data.csv"                 # CSV or Parquet: features, label and protected columns
model = "model.skops"             # .skops (safe) or .joblib/.pkl (runs code: trusted files only)
# predictions = "pred"            # or a column of precomputed predictions instead of a model
# scores = "score"                # and/or a column of positive-class probabilities
label = "label"
positive_label = 1                # the predicted class
favorable = true                  # false when the positive label harms the person (e.g. flagged as high risk)
protected = ["sex", "race"]       # intersections (sex & race) are audited too
# reference = { sex = "Male" }    # default: the group with the highest rate of favourable predictions
# train_data = "train.csv"        # the training rows: label base rates by group before any model; mitigate needs it
# mitigate = true                 # reweighing (needs train_data): weights, a reweighed refit, before and after, and
#                                 # what-if remedies; or a table: mitigate = { attributes = ["sex"] }
seed = 0
n_bootstrap = 1000
confidence = 0.95
policy = "policy.toml"
json = "audit-result.json"
html = "audit-report.html"
junit = "audit-junit.xml"
markdown = "audit-summary.md"

[audit.explain]                   # explanations (or: explain = true); delete the table to skip them
rows = 1000                       # rows explained with SHAP
lime_cases = 3

[audit.options]                   # any other audit option
min_group_size = 30
correction = "holm"               # holm | bonferroni | fdr_bh | none
"""


@cli.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Where to write audit.toml and policy.toml.")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
def init(directory: Path, force: bool) -> None:
    """Write a commented starter config (audit.toml) and policy (policy.toml)."""
    from .gate import STARTER_POLICY
    from .results import write_atomic

    directory.mkdir(parents=True, exist_ok=True)
    for name, text in (("audit.toml", STARTER_CONFIG), ("policy.toml", STARTER_POLICY)):
        target = directory / name
        if target.exists() and not force:
            raise click.UsageError(f"{target} exists; pass --force to overwrite it.")
        write_atomic(target, text)
        _progress(f"wrote {target}")


@cli.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("audit-demo"),
              show_default=True, help="Folder for the outputs.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every random step.")
@click.option("--n-bootstrap", type=int, default=1000, show_default=True, help="Bootstrap resamples for intervals.")
@click.option("--explain/--no-explain", default=True, show_default=True, help="Include the explanations.")
def demo(out_dir: Path, seed: int, n_bootstrap: int, explain: bool) -> None:
    """Train a model on the bundled Adult data, audit it, print a summary and write the report and JSON."""
    from ._demo import run_demo

    _progress("training a logistic-regression pipeline on Adult (train split, 32,561 rows) ...")
    result = run_demo(seed=seed, n_bootstrap=n_bootstrap, explain=explain)
    out_dir.mkdir(parents=True, exist_ok=True)
    _emit(result, json_out=str(out_dir / "adult-audit.json"), html_out=out_dir / "adult-audit.html", junit_out=None,
          markdown_out=None, policy=None, baseline=None, allow_different_data=False)


@cli.command()
@click.option("--data", "data_path", required=True, help="Decisions to add (CSV or Parquet): time, label (may be empty "
              "while labels are late), protected columns, and the model's features or its predictions/scores.")
@click.option("--state", "state_path", help="State file (.parquet or .json): created on the first run, then each run "
              "adds --data to it without rescanning the history. Without it, --data is audited whole.")
@click.option("--model", "model_path", help="Fitted model: .joblib/.pkl (runs code: trusted files only) or .skops.")
@click.option("--trust-model", is_flag=True, default=False, help="Load a .skops model with types skops does not trust.")
@click.option("--predictions", "pred_col", help="Column of precomputed predictions (instead of --model).")
@click.option("--scores", "score_col", help="Column of precomputed positive-class probabilities.")
@click.option("--time", "time_col", help="Column holding each decision's time.")
@click.option("--every", help="Window: a pandas frequency (1D, 7D, W-MON, 1MS) or a number of rows.")
@click.option("--label", help="True-label column (missing values: labels not arrived yet).")
@click.option("--positive-label", help="The predicted (positive) class; numbers are parsed when the label is numeric.")
@click.option("--favorable/--unfavorable", default=None, help="Is the positive label the favourable outcome?")
@click.option("--protected", multiple=True, help="Protected column(s); repeat or comma-separate.")
@click.option("--features", multiple=True, help="Model input columns (default: the model's).")
@click.option("--reference", "reference_mode", type=click.Choice(["first", "previous"]), default=None,
              help="What each window is compared with (default: first).")
@click.option("--group-reference", multiple=True, metavar="ATTR=GROUP", help="Reference group of an attribute.")
@click.option("--persistence", type=int, help="Alert after this many consecutive significant windows (default 1).")
@click.option("--min-rows", type=int, help="Windows with fewer rows are too small to judge (default 30).")
@click.option("--threshold", type=float, help="Probability threshold of a positive prediction (default 0.5).")
@click.option("--seed", type=int, help="Seed of every random step (default 0).")
@click.option("--n-bootstrap", type=int, help="Bootstrap resamples (default 1000).")
@click.option("--confidence", type=float, help="Confidence level (default 0.95).")
@click.option("--json", "json_out", metavar="PATH", help="Write the windowed audit JSON ('-' for stdout).")
@click.option("--html", "html_out", type=click.Path(dir_okay=False, path_type=Path), help="Write the monitoring report.")
@click.option("--junit", "junit_out", type=click.Path(dir_okay=False, path_type=Path), help="Write JUnit XML (needs --policy).")
@click.option("--markdown", "markdown_out", metavar="PATH", help="Write a Markdown summary ('-' for stdout).")
@click.option("--policy", type=click.Path(dir_okay=False, path_type=Path),
              help="Policy (TOML): rules judged on the windows of its [monitor] scope, and max_drift; exit 1 when it "
                   "fails.")
@click.option("--engine", type=click.Choice(["auto", "pandas", "duckdb", "spark"]), default="auto",
              help="Where a whole file is scanned without --state (auto: files of up to 2 million rows in memory, "
                   "larger ones with DuckDB, the window one more key of the grouped scan).")
def monitor(data_path: str, state_path: str | None, model_path: str | None, trust_model: bool, pred_col: str | None,
            score_col: str | None, time_col: str | None, every: str | None, label: str | None,
            positive_label: str | None, favorable: bool | None, protected: tuple[str, ...], features: tuple[str, ...],
            reference_mode: str | None, group_reference: tuple[str, ...], persistence: int | None,
            min_rows: int | None, threshold: float | None, seed: int | None, n_bootstrap: int | None,
            confidence: float | None, json_out: str | None, html_out: Path | None, junit_out: Path | None,
            markdown_out: str | None, policy: Path | None, engine: str) -> None:
    """Watch a running model: add decisions to a state file (or audit a whole file), alert on drift, gate."""
    from ._io import load_data
    from .gate import Policy
    from .monitor import WindowAccumulator, audit_windows

    _check_outputs(junit_out, policy, None, {"--json": json_out, "--html": html_out, "--junit": junit_out,
                                             "--markdown": markdown_out, "--state": state_path})
    pol = Policy.from_toml(policy) if policy else None  # a bad policy costs nothing
    refs: dict[str, str] = {}
    for item in group_reference:
        if "=" not in item:
            raise click.UsageError(f"--group-reference {item!r}: write ATTRIBUTE=GROUP, e.g. --group-reference sex=Male.")
        k, v = item.split("=", 1)
        refs[k.strip()] = v.strip()
    every_value: Any = every
    if every is not None and every.strip().isdigit():
        every_value = int(every)
    model = None
    if model_path:
        from ._io import check_model_file, load_model

        check_model_file(model_path, trust=trust_model)
        model = load_model(model_path, trust=trust_model)
    _progress(f"reading {data_path} ...")
    source = None
    if state_path:
        data = load_data(data_path)
    else:  # a whole file: in memory when small, else scanned by the engine (the window a key of its scan)
        from ._scale.sources import open_source

        data, source = open_source(data_path, engine)
    pos: Any = positive_label
    try:
        kind = _label_kind(data, source, label) if label else ""
    finally:
        if source is not None:
            source.close()
    if isinstance(pos, str) and kind in ("i", "u", "f", "b"):
        try:
            pos = int(pos) if kind in "iu" else (pos.lower() == "true" if kind == "b" else float(pos))
        except ValueError:
            pass
    given = {k: v for k, v in {
        "time": time_col, "every": every_value, "label": label, "protected": _split(protected) or None,
        "positive_label": pos, "favorable": favorable, "features": _split(features) or None,
        "predictions": pred_col, "scores": score_col, "reference": reference_mode,
        "group_reference": refs or None, "persistence": persistence, "min_rows": min_rows, "threshold": threshold,
        "seed": seed, "n_bootstrap": n_bootstrap, "confidence": confidence}.items() if v is not None}
    if state_path and Path(state_path).is_file():
        acc = WindowAccumulator.load(state_path, model, **given)
        _progress(f"adding {len(data):,} rows to {state_path} ...")
        acc.add(data)
        windowed = acc.result()
    else:
        missing = [f"--{k}" for k in ("time", "every", "label", "protected") if k not in given]
        if missing:
            raise click.UsageError(f"give {', '.join(missing)} (a new monitor needs them; later runs read them from "
                                   "the state file).")
        if not model and not pred_col and not score_col:
            raise click.UsageError("give a model (--model FILE) or precomputed --predictions / --scores columns.")
        if state_path:
            acc = WindowAccumulator(model, **given)
            _progress(f"starting {state_path} with {len(data):,} rows ...")
            acc.add(data)
            windowed = acc.result()
        else:
            _progress(f"auditing {data_path} in windows of {every} ...")
            windowed = audit_windows(model, data if source is None else data_path, engine=engine, **given)
    gate = windowed.gate(pol) if pol is not None else None
    rendered: list[tuple[str, str]] = []
    if json_out:
        rendered.append((json_out, windowed.to_json()))
    if html_out:
        rendered.append((str(html_out), windowed.to_html(gate=gate)))
    if junit_out:
        rendered.append((str(junit_out), windowed.to_junit(gate)))
    if markdown_out:
        rendered.append((markdown_out, windowed.to_markdown(gate)))
    if state_path:
        acc.save(state_path)
        _progress(f"wrote {state_path}")
    _write_rendered(rendered)
    info = windowed.info
    drift = windowed.drift()
    _progress(f"{info['n_windows']} windows, {info['n_rows']:,} rows; {len(drift)} drift alert(s) of "
              f"{info['family_size']} tested (Holm)")
    for a in drift[:10]:
        _progress(f"  drift: {a['window_start'][:10]} {visible_text(a['attribute'])}={visible_text(a['group'])} "
                  f"{a['metric']}: {a['reference_value']:.3f} -> {a['value']:.3f}")
    if gate is not None:
        _progress(f"gate {'passed' if gate.passed else 'FAILED'}: drift {gate.drift_verdict} ({len(gate.drift)} of "
                  f"at most {gate.max_drift}, scope {gate.scope})"
                  + "".join(f"; {s[:10]} {'passed' if g.passed else 'FAILED'}" for s, g in gate.windows))
        for note in gate.notes:
            _progress(f"  note: {visible_text(note)}")
        if not gate.passed:
            raise GateFailed()


def visible_text(s: Any) -> str:
    from .report.format import visible

    return visible(str(s))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: returns the exit code (never raises for audit errors). ``--debug`` adds tracebacks; it never
    changes an exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args  # accepted anywhere on the line
    args = [a for a in args if a != "--debug"]
    try:
        rv = cli.main(args=args, prog_name="audit", standalone_mode=False)
        return rv if isinstance(rv, int) else EXIT_OK
    except GateFailed:
        return EXIT_GATE_FAILED
    except click.exceptions.Exit as exc:
        return int(exc.exit_code or 0)
    except click.Abort as exc:
        if isinstance(exc.__cause__ or exc.__context__, KeyboardInterrupt):  # click 8.1 raises it "from None"
            _error("interrupted: the audit stopped (its scan cancelled); no output was written")
            return EXIT_INTERRUPTED
        click.echo("aborted", err=True)
        return EXIT_ERROR
    except KeyboardInterrupt:
        _error("interrupted: the audit stopped (its scan cancelled); no output was written")
        return EXIT_INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        return EXIT_ERROR
    except (Exception, SystemExit) as exc:  # SystemExit: code loaded from a file (a pickled model) called exit()
        from .exceptions import AuditError

        if debug:
            import traceback

            traceback.print_exc()
        if isinstance(exc, SystemExit):
            _error(f"error: code loaded by the audit called sys.exit({exc.code!r}); nothing was judged")
        elif isinstance(exc, AuditError):
            _error(f"error: {exc}")
        elif isinstance(exc, OSError):
            where = getattr(exc, "filename", "") or ""
            _error(f"error: {exc.strerror or exc}" + (f": {where}" if where else ""))
        else:
            _error(f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)")
        return EXIT_ERROR
