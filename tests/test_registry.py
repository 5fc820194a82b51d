"""The module registry: a module registered from this file (one declaration, no other change to the library)
appears in the result, its JSON, the HTML report, the Markdown and text summaries, the config file and a policy."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import audit
from audit import registry
from audit.exceptions import ConfigError, InputError
from audit.registry import Env, GateMetric, Module
from audit.results import AuditResult, Section, Table

SHARE_COLUMNS = ("attribute", "group", "share", "share_low", "share_high", "n")


def _wilson(k: int, n: int, z: float) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _build(value):
    if value in (None, False):
        return None
    if value is True:
        return {"z": 1.96}
    if isinstance(value, dict) and set(value) <= {"z"} and isinstance(value.get("z", 1.96), (int, float)):
        return {"z": float(value.get("z", 1.96))}
    raise ConfigError(f"group_share={value!r} is invalid: give true, false or {{z = <number>}}.",
                      code="invalid_option")


def _run(env: Env) -> Section:
    """Each group's share of the audited rows, with a Wilson interval (a deliberately small module)."""
    rows = []
    total = int(env.ctx.partitions[0].counts.sum())
    for part in env.ctx.partitions[1:]:
        for g, counts in zip(part.groups, part.counts):
            k = int(counts.sum())
            lo, hi = _wilson(k, total, env.options["z"])
            rows.append({"attribute": part.attribute, "group": g, "share": k / total, "share_low": lo,
                         "share_high": hi, "n": k})
    smallest = min(rows, key=lambda r: r["share"])
    return Section("group_share", tables=(("shares", Table.from_records(SHARE_COLUMNS, rows)),),
                   info=(("smallest", f"{smallest['group']} ({smallest['attribute']})"), ("z", env.options["z"])))


def _html(sec, result):
    rows = sec.table("shares").rows
    return [{"title": "Shares of the audited rows", "text": f"Smallest group: {sec.get('smallest')}.",
             "columns": list(SHARE_COLUMNS), "rows": [list(r) for r in rows]}]


SHARE = Module(
    name="group_share", option="group_share", build=_build, run=_run,
    tables={"shares": SHARE_COLUMNS}, kinds={"share": "float", "share_low": "float", "share_high": "float", "n": "int"},
    gate_metrics=(GateMetric("group_share", table="shares", value="share", ci_low="share_low",
                             ci_high="share_high", group="group", better="higher",
                             requires="group_share needs the share module: audit with group_share=True"),),
    title="Group shares", anchor=("shares", "h-shares", "gs"), html=_html,
    headline=lambda sec, result: f"The smallest group is {sec.get('smallest')}.",
    markdown=lambda sec, result: ["\n### Group shares", f"Smallest: {sec.get('smallest')}"],
    text=lambda sec, result: ["", f"Group shares: smallest {sec.get('smallest')}"],
    purposes=((0x5A5E, "none drawn; declared to test uniqueness"),))


@pytest.fixture
def share_module():
    registry.register(SHARE)
    yield SHARE
    registry.unregister("group_share")


def _data(seed: int = 0, n: int = 2000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], n, p=[0.15, 0.85])
    y = rng.integers(0, 2, n)
    return pd.DataFrame({"sex": sex, "y": y, "pred": np.where(rng.random(n) < 0.8, y, 1 - y)})


def _audit(**kw):
    return audit.run_audit(None, _data(), label="y", positive_label=1, protected="sex", predictions="pred",
                           n_bootstrap=100, **kw)


def test_a_registered_module_reaches_every_output(share_module, tmp_path):
    result = _audit(group_share=True)
    shares = result.section("group_share").frame("shares")
    assert list(shares.columns) == list(SHARE_COLUMNS) and shares["share"].dtype == "float64"
    data = _data()
    assert shares.set_index("group")["n"].to_dict() == data["sex"].value_counts().to_dict()
    assert all(r.share_low <= r.share <= r.share_high for r in shares.itertuples())
    assert "group_share" in dict(result.timings)

    # JSON round trip, checked against the module's declared schema
    text = result.to_json()
    assert AuditResult.from_json(text) == result
    bad = json.loads(text)
    bad["sections"]["group_share"]["tables"]["shares"]["rows"][0][2] = "a lot"
    with pytest.raises(InputError, match=r"sections\.group_share\.tables\.shares\.rows\[0\] \(share\) must be a "
                                         "number or null"):
        AuditResult.from_dict(bad)
    bad = json.loads(text)
    bad["sections"]["group_share"]["tables"]["shares"]["columns"][2] = "portion"
    with pytest.raises(InputError, match="the columns"):
        AuditResult.from_dict(bad)

    # the report: a numbered section after the built-in ones, its table of contents entry and headline
    html = result.to_html()
    assert '<section id="shares" aria-labelledby="h-shares">' in html
    assert '<h2 id="h-shares">7. Group shares</h2>' in html and '<a href="#shares">Group shares</a>' in html
    assert "8. Method and definitions" in html and "9. Reproducibility" in html
    assert "The smallest group is F (sex)." in html and "Shares of the audited rows" in html
    assert AuditResult.from_html(_write(tmp_path / "r.html", html)) == result

    from audit.report.markdown import render_markdown

    assert "### Group shares\nSmallest: F (sex)" in render_markdown(result)
    assert "Group shares: smallest F (sex)" in result.summary()


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_a_policy_judges_the_modules_metric(share_module):
    result = _audit(group_share=True)
    rule = {"name": "representation", "metric": "group_share", "min": 0.3, "mode": "point"}
    gate = result.gate({"rules": [rule]})
    verdicts = {c.group: c.verdict for c in gate.rules[0].checks}
    assert verdicts == {"F": "fail", "M": "pass"} and not gate.passed
    assert result.gate({"rules": [{**rule, "min": 0.1}]}).passed
    # the interval counts as for any metric (F's share is about 0.15 with n = 2,000)
    f = result.section("group_share").frame("shares").query("group == 'F'").iloc[0]
    for mode, limit, verdict in (("strict", f.share_low + 0.001, "inconclusive"), ("strict", f.share_low - 0.001,
                                 "pass"), ("significant", f.share + 0.001, "inconclusive"),
                                 ("significant", f.share_high + 0.001, "fail")):
        g = result.gate({"rules": [{**rule, "min": limit, "mode": mode}]})
        assert {c.group: c.verdict for c in g.rules[0].checks}["F"] == verdict, (mode, limit)
    # a rule on the metric of a module that did not run judges nothing and blocks, saying what to run
    plain = _audit()
    g = plain.gate({"rules": [rule]})
    assert not g.passed and g.rules[0].verdict == "insufficient data"
    assert "audit with group_share=True" in g.rules[0].checks[0].message
    # max_worsening against a baseline reads the baseline's section (higher is better)
    worse = audit.run_audit(None, _data(seed=1).assign(sex=lambda d: np.where(d.index < 100, "F", "M")),
                            label="y", positive_label=1, protected="sex", predictions="pred", n_bootstrap=100,
                            group_share=True)
    reg = {"name": "no shrinking", "metric": "group_share", "max_worsening": 0.01, "mode": "point"}
    g = worse.gate({"rules": [reg]}, baseline=result, allow_different_data=True)
    by_group = {c.group: c.verdict for c in g.rules[0].checks}
    assert by_group == {"F": "fail", "M": "pass"}


def test_options_are_validated_and_the_config_file_knows_them(share_module, tmp_path):
    with pytest.raises(ConfigError, match="group_share='yes' is invalid"):
        _audit(group_share="yes")
    assert _audit(group_share=False).section("group_share") is None
    assert _audit(group_share={"z": 3.0}).section("group_share").get("z") == 3.0
    from audit.cli import _read_config

    cfg = tmp_path / "audit.toml"
    cfg.write_text("[audit]\ngroup_share = { z = 2.5 }\n")
    assert _read_config(cfg)["group_share"] == {"z": 2.5}
    cfg.write_text("[audit]\ngroup_share = \"yes\"\n")
    with pytest.raises(ConfigError, match=r"audit.toml, line 2: group_share must be true, false or a table"):
        _read_config(cfg)


def test_registration_refuses_clashes():
    with pytest.raises(ValueError, match="registered already"):
        registry.register(registry.get("explanations"))
    with pytest.raises(ValueError, match="option 'explain' belongs to module 'explanations'"):
        registry.register(Module(name="other", option="explain", build=lambda v: None, run=lambda env: None))
    with pytest.raises(ValueError, match=r"gate metric\(s\) \['proxy_auc'\]"):
        registry.register(Module(name="other", run=lambda env: None, gate_metrics=(GateMetric("proxy_auc", "t", "v"),)))
    with pytest.raises(ValueError, match=r"purpose\(s\) \[11\]"):
        registry.register(Module(name="other", run=lambda env: None, purposes=((11, "x"),)))
    with pytest.raises(ValueError, match="column 'n'"):
        registry.register(Module(name="other", run=lambda env: None, kinds={"n": "float"}))
    with pytest.raises(ValueError, match="column 'value' is float .* declares it text"):  # an undeclared number
        registry.register(Module(name="other", run=lambda env: None, tables={"t": ("value",)}))
    with pytest.raises(ValueError, match="built-in"):
        registry.unregister("bias")
    assert registry.get("other") is None


def test_builtin_declarations_are_consistent():
    mods = registry.modules()
    assert [m.name for m in mods] == ["performance", "bias", "regression", "multiclass", "data_source",
                                      "explanations", "mitigation", "training_data"]
    purposes = [p for m in mods for p, _ in m.purposes]
    assert len(purposes) == len(set(purposes))  # no two modules draw from the same random stream
    kinds = registry.column_kinds()
    for m in mods:  # every declared kind names a column of the module's tables, and later columns exist
        columns = {c for cols in m.tables.values() for c in cols}
        assert set(m.kinds) <= columns, m.name
        assert m.later <= columns, m.name
        for c in columns:  # a column name means one kind in every table (a text column may not reuse a number's)
            assert m.kinds.get(c, "text") == kinds.get(c, "text"), (m.name, c)
    assert registry.options().keys() == {"explain", "mitigate"}
    assert set(registry.gate_metrics()) == {"proxy_auc"}


def test_options_share_one_declarative_format():
    """The audit's options and every module's config are declared constraints refused in one message format:
    "<prefix><name>=<value> is invalid: give <what it accepts>." (audit/params.py)."""
    from audit.config import CONSTRAINTS as AUDIT
    from audit.explain import CONSTRAINTS as EXPLAIN
    from audit.explain import ExplainConfig
    from audit.mitigation import MitigateConfig
    from audit.params import Integer, Number, check

    bad = {Integer: -10**9, Number: float("inf")}
    for constraints, build, prefix in ((AUDIT, lambda k, v: audit.AuditConfig(**{k: v}), ""),
                                       (EXPLAIN, lambda k, v: ExplainConfig(**{k: v}), "explain option ")):
        for name, constraint in constraints.items():
            value = bad.get(type(constraint), object())
            with pytest.raises(ConfigError) as err:
                build(name, value)
            assert str(err.value) == f"{prefix}{name}={value!r} is invalid: give {constraint.describe()}.", name
    with pytest.raises(ConfigError, match=r"^mitigate splits=0 is invalid: give an integer from 1 to 50\.$"):
        MitigateConfig.build({"splits": 0})
    with pytest.raises(ConfigError, match=r"^x=1\.5 is invalid: give an integer of at least 2\.$"):
        check("x", 1.5, Integer(2))


def test_the_command_line_switches_a_registered_module_on(share_module, tmp_path):
    from audit.cli import main

    _data().to_csv(tmp_path / "d.csv", index=False)
    base = ["run", "--data", str(tmp_path / "d.csv"), "--label", "y", "--positive-label", "1", "--protected", "sex",
            "--predictions", "pred", "--n-bootstrap", "0"]
    assert main([*base, "--with", "group_share={z = 2.0}", "--json", str(tmp_path / "r.json")]) == 0
    r = AuditResult.from_json(tmp_path / "r.json")
    assert r.section("group_share").get("z") == 2.0
    assert main([*base, "--with", "group_share=3", "--json", str(tmp_path / "x.json")]) == 2  # refused by build
    assert main([*base, "--with", "group_shares"]) == 2  # no such option (a suggestion is printed)
    assert not (tmp_path / "x.json").exists()


def test_a_failing_view_does_not_sink_the_outputs():
    def broken(*args):
        raise RuntimeError("view bug")

    flaky = Module(name="flaky", option="flaky", build=lambda v: {} if v else None, run=lambda env: Section("flaky"),
                   title="Flaky", html=broken, headline=broken, markdown=broken, text=broken, lost=broken)
    registry.register(flaky)
    try:
        r = _audit(flaky=True)
        html = r.to_html()
        assert "The flaky module&#39;s html view failed (RuntimeError: view bug)." in html
        from audit.report.markdown import render_markdown

        assert "markdown view failed" in render_markdown(r) and "text view failed" in r.summary()
        g = r.gate({"rules": [{"metric": "accuracy", "min": 0.1, "scope": "overall"}]})
        assert any("lost view failed" in n for n in g.notes)
        with pytest.raises(RuntimeError):
            registry.view(flaky, "text", r.section("flaky"), r, strict=True)
    finally:
        registry.unregister("flaky")
