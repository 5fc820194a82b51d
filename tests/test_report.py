"""HTML report: escaping of hostile input, embedded result, golden file, atomic writes, the wheel."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import audit
from audit.results import AuditResult

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden" / "report.html"

HOSTILE = [
    "<script>alert('x')</script>",
    "</script><script>alert(1)</script>",
    "<img src=x onerror=alert(2)>",
    "\"' onmouseover=\"alert(3)",
    "javascript:alert(4)",
    "-->&lt;<!--",
    "x" * 300,
    "ctrl\x01\x07\x1b[31mred",
]


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def hostile_result() -> AuditResult:
    rng = np.random.default_rng(1)
    n = 400
    groups = np.array(HOSTILE[:4])
    col = HOSTILE[0]
    df = pd.DataFrame({
        col: groups[rng.integers(0, 4, n)],
        HOSTILE[2]: np.array(HOSTILE[4:])[rng.integers(0, 4, n)],
        "label </script>": rng.choice(["<b>yes</b>", "no"], n),
        "score": rng.random(n),
    })

    def model(X):  # a callable whose name is hostile too
        return X["score"].to_numpy()

    model.__qualname__ = "<script>alert('model')</script>"
    return audit.run_audit(model, df, label="label </script>", positive_label="<b>yes</b>",
                           protected=[col, HOSTILE[2]], features=["score"], n_bootstrap=100)


@pytest.fixture(scope="module")
def hostile_html() -> str:
    return hostile_result().to_html()


def test_hostile_strings_appear_only_as_text(hostile_html):
    p = Tags()
    p.feed(hostile_html)
    scripts = [a for t, a in p.tags if t == "script"]
    assert scripts == [{"type": "application/json", "id": "audit-result"}]
    assert not [t for t, a in p.tags if t == "img"]
    for tag, attrs in p.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            assert not (value or "").strip().lower().startswith("javascript:"), (tag, name, value)
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in hostile_html
    assert "&lt;img src=x onerror=alert(2)&gt;" in hostile_html
    # exactly one closing script tag: the embedded JSON cannot be broken out of
    assert hostile_html.count("</script>") == 1
    assert "\x01" not in hostile_html and "\x1b" not in hostile_html  # control characters are replaced


def test_embedded_result_round_trips(tmp_path):
    r = hostile_result()
    path = tmp_path / "r.html"
    r.to_html(path)
    assert AuditResult.from_html(path) == r
    text = path.read_text()
    assert re.search(r"<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'", text)
    assert "http://" not in text.replace("http://www.w3.org/2000/svg", "") and "https://" not in text


def test_no_remote_resources_and_sections(adult_report_html):
    html = adult_report_html
    for pattern in (r"<link\b", r"\bsrc=", r"@import", r"url\("):
        assert not re.search(pattern, html), pattern
    for section in ("Summary", "Data", "Performance by group", "Fairness", "Method and definitions",
                    "Reproducibility"):
        assert section in html
    assert "<caption>" in html and "<title" in html and "<desc" in html
    assert len(html.encode()) < 1_500_000


@pytest.fixture(scope="module")
def adult_report_html(adult_scored) -> str:
    r = audit.run_audit(None, adult_scored, label="income", positive_label=">50K", protected=["sex", "race"],
                        scores="score")
    return r.to_html()


def _golden_result() -> AuditResult:
    rng = np.random.default_rng(7)
    n = 600
    df = pd.DataFrame({"group": rng.choice(["alpha", "beta", "gamma"], n, p=[0.5, 0.4, 0.1]),
                       "region": rng.choice(["north", "south"], n), "y": rng.integers(0, 2, n)})
    df["score"] = np.clip(0.35 * df["y"] + rng.random(n) * 0.65 - 0.1 * (df["group"] == "beta"), 0, 1).round(4)
    r = audit.run_audit(None, df, label="y", protected=["group", "region"], scores="score", n_bootstrap=0)
    return dataclasses.replace(r, created="2000-01-01T00:00:00+00:00", library_version="X", timings=(("total", 0.0),),
                               versions=(("python", "X"),))


def scrub(html: str) -> str:
    html = re.sub(r"fairness-audit \d+\.\d+\.\d+\S*", "fairness-audit X", html)
    return re.sub(r'"(created|library_version)": "[^"]*"', r'"\1": "X"', html)


def _numbers(text: str) -> str:
    """Full-precision numbers at 10 significant digits: the last bits of np.log and friends differ between
    numpy versions, and the golden file must not care (rendered numbers have 3 decimals anyway)."""
    return re.sub(r"-?\d+\.\d{6,}(?:e-?\d+)?", lambda m: f"{float(m.group(0)):.10g}", text)


def test_golden_html():
    html = scrub(_golden_result().to_html())
    if os.environ.get("UPDATE_GOLDEN") or not GOLDEN.exists():
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(html, encoding="utf-8")
        if not os.environ.get("UPDATE_GOLDEN"):
            pytest.fail("golden file was missing and has been written; re-run")
    assert _numbers(html) == _numbers(GOLDEN.read_text(encoding="utf-8")), \
        "report changed: inspect, then UPDATE_GOLDEN=1 to accept"


def test_write_is_atomic(tmp_path, monkeypatch):
    r = _golden_result()
    target = tmp_path / "report.html"

    def fail(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        r.to_html(target)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_wheel_ships_templates_and_renders(tmp_path):
    root = HERE.parent
    wheel_dir = tmp_path / "wheel"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheel_dir), str(root)],
                   check=True)
    wheel = next(wheel_dir.glob("fairness_audit-*.whl"))
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert "audit/templates/report.html.j2" in names and "audit/datasets/data/adult.csv.gz" in names
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True)
    # the dependencies come from this environment, after the venv's own site-packages (so `audit` is the
    # wheel's; this environment's editable install is not activated by a plain path entry)
    import sysconfig

    site = next((venv / "lib").glob("python*/site-packages"))
    paths = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (site / "_outer_env.pth").write_text("\n".join(paths) + "\n")
    result_json = tmp_path / "r.json"
    _golden_result().to_json(result_json)
    code = ("import audit, sys; from pathlib import Path; assert 'site-packages' in audit.__file__, audit.__file__; "
            f"r = audit.AuditResult.from_json({str(result_json)!r}); r.to_html({str(tmp_path / 'out.html')!r})")
    subprocess.run([str(py), "-c", code], check=True, cwd=tmp_path)
    assert "Fairness audit report" in (tmp_path / "out.html").read_text()


def test_the_glossary_states_the_configured_calibration_bins():
    from audit.datasets import load_compas

    data = load_compas()
    data["score"] = data["decile_score"] / 10
    kw = dict(label="two_year_recid", positive_label=1, favorable=False, protected=["sex"], scores="score",
              n_bootstrap=0)
    assert "over 10 equal-width bins" in audit.run_audit(None, data, **kw).to_html()
    html = audit.run_audit(None, data, calibration_bins=20, **kw).to_html()
    assert "over 20 equal-width bins" in html and "over 10 equal-width bins" not in html


def test_badges_match_what_the_numbers_mean():
    """A significant disparity is styled as a warning only when the group fares worse; a group below four-fifths
    never gets the all-clear tick; the before/after table uses the same badges."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(4)
    n = 4000
    g = rng.choice(["a", "b", "c"], n, p=[0.6, 0.39, 0.01])
    y = rng.integers(0, 2, n)
    # b: predicted favourably less often (worse on demographic parity) but more accurately (better on accuracy)
    flip = rng.random(n) < np.where(g == "b", 0.05, 0.3)
    pred = np.where(flip, 1 - y, y)
    pred = np.where((g == "b") & (rng.random(n) < 0.3), 0, pred)
    pred = np.where((g == "c"), (rng.random(n) < 0.15).astype(int), pred)  # c: tiny, far below four-fifths
    df = pd.DataFrame({"g": g, "y": y, "p": pred})
    r = audit.run_audit(None, df, label="y", positive_label=1, protected="g", predictions="p", n_bootstrap=200,
                        min_group_size=10)
    html = r.to_html()
    d = r.disparities.set_index(["group", "metric"])
    assert d.loc[("b", "accuracy_difference"), "verdict"] == "significant" and d.loc[("b", "accuracy_difference"),
                                                                                       "value"] > 0
    assert d.loc[("b", "demographic_parity_difference"), "verdict"] == "significant"
    rows = re.findall(r"<td>([a-z ]+)</td><th scope=\"row\"><bdi>(\w+)</bdi></th>.*?<span class=\"v ([\w-]+)\">",
                      html, re.S)
    badge = {(m, grp): cls for m, grp, cls in rows}
    assert badge[("accuracy difference", "b")] == "v-better"
    assert badge[("demographic parity difference", "b")] == "v-significant"
    flagged = r.disparities.query("metric == 'demographic_parity_ratio' and flag != '' and comparison == 'vs_reference'")
    assert "not significant" in set(flagged.verdict)  # c: far below four-fifths, too few rows to establish it
    for grp, verdict in zip(flagged.group, flagged.verdict):
        assert badge[("demographic parity ratio", grp)] != "v-not-significant", (grp, verdict)


def test_notebook_charts_draw_what_the_result_holds():
    """result.chart(...) draws the report's own SVG (escaped like the report) for a metric, a disparity, a gap
    attribution and the before/after of reweighing; asking for what the result lacks says what is needed."""
    r = hostile_result()
    c = r.chart("metric", "accuracy", attribute=r.protected[0])
    text = c._repr_html_()
    assert text.count("<svg") == 1 and "<style>" in text and "<script" not in text
    styles = re.search(r"<style>(.*?)</style>", text, re.S).group(1)  # scoped: the notebook keeps its own look
    assert all(rule.strip().startswith(".fairness-audit-chart") for rule in styles.split("}") if rule.strip())
    assert "--blue:#0072B2" in text  # the colours the chart's strokes use are defined on the chart
    assert "<script>alert" not in text  # hostile group names are escaped, as in the report
    d = r.chart("disparity", attribute=r.protected[0])
    assert "demographic parity difference by" in d.html
    with pytest.raises(ValueError, match="explain=True|nothing to draw"):
        r.chart("gap")
    with pytest.raises(ValueError, match="not one of"):
        r.chart("pie")
