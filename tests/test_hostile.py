"""One corpus of hostile strings, as group names and column names, through every output: HTML, Markdown, JUnit,
the text summary and the CLI's stderr. None of them may bend the output: no markup, link, table break,
workflow command, terminal escape or reordered sentence."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

import audit
from audit.cli import main
from audit.gate import Policy, evaluate
from audit.report.junit import render_junit
from audit.report.markdown import render_markdown

CORPUS = {
    "script": "<script>alert('x')</script>",
    "img": "<img src=x onerror=alert(2)>",
    "quote": "\"' onmouseover=\"alert(3)",
    "md_link_escaped": "\\[click\\](http://evil)",
    "md_link": "[click](http://evil.example)",
    "md_image": "![i](http://evil.example/x.png)",
    "autolink": "<http://evil.example>",
    "entity": "&gt;50K",
    "pipe": "a | b | c",
    "emphasis": "*bold* _it_ `code`",
    "workflow": "x\n::error title=x::injected",
    "esc": "ctrl\x1b[31mred\x1b]0;title\x07",
    "c1": "c1\x9b31m",
    "rlo": "a\u202eb 0.33",
    "lone_surrogate": "s\ud800t",
    "long": "L" * 3000,
    "ampersand": "x & y",
}
INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _result(name: str, group: str):
    rng = np.random.default_rng(0)
    n = 300
    groups = pd.Series(np.where(rng.random(n) < 0.5, group, "plain").tolist(), dtype=object)  # object: pyarrow
    df = pd.DataFrame({"g": groups, "y": rng.integers(0, 2, n), "s": rng.random(n)})  # strings refuse surrogates
    df.columns = pd.Index([name, "y", "s"], dtype=object)
    return audit.run_audit(None, df, label="y", positive_label=1, protected=[name], scores="s", seed=0,
                           n_bootstrap=100, reference={name: "plain"})


POLICY = Policy.from_toml('[[rules]]\nmetric = "demographic_parity_ratio"\nmin = 0.99\nmode = "point"\n'
                          '[[rules]]\nmetric = "accuracy"\nscope = "each_group"\nmin = 0.99\nmode = "point"\n')


@pytest.fixture(scope="module", params=sorted(CORPUS))
def hostile(request):
    s = CORPUS[request.param]
    r = _result(f"col {s}", s)
    return request.param, s, r, evaluate(r, POLICY)


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_html(hostile):
    key, s, r, gate = hostile
    html = r.to_html(gate=gate)
    p = _Tags()
    p.feed(html)
    allowed = {"html", "head", "meta", "title", "style", "body", "header", "h1", "p", "code", "nav", "ol", "li", "a",
               "main", "section", "h2", "ul", "span", "strong", "h3", "div", "table", "caption", "thead", "tr", "th",
               "tbody", "td", "details", "summary", "figure", "svg", "desc", "text", "line", "g", "circle", "rect",
               "path", "polygon", "figcaption", "dl", "dt", "dd", "footer", "script", "bdi"}
    assert {t for t, _ in p.tags} <= allowed
    assert [a for t, a in p.tags if t == "script"] == [{"type": "application/json", "id": "audit-result"}]
    for tag, attrs in p.tags:
        assert not any(n.startswith("on") for n in attrs), (tag, attrs)
        if tag == "a":
            assert attrs["href"].startswith("#")
    assert not INVISIBLE.search(html), key  # shown as escapes, never raw (no reordering, no terminal tricks)
    if key == "rlo":
        assert "a\\u202eb 0.33" in html


def test_markdown(hostile):
    from markdown_it import MarkdownIt

    key, s, r, gate = hostile
    text = render_markdown(r, gate)
    assert not INVISIBLE.search(text)
    html = MarkdownIt("commonmark").enable("table").render(text)
    p = _Tags()
    p.feed(html)
    tags = {t for t, _ in p.tags}
    assert not tags & {"a", "img", "script", "em"}, (key, tags)
    assert "evil" not in "".join(a.get("href", "") + a.get("src", "") for _, a in p.tags)
    # every table row keeps its columns: a pipe in a name cannot add a cell
    for table in re.findall(r"<table>.*?</table>", html, re.S):
        widths = {len(re.findall(r"<t[dh]\b", row)) for row in re.findall(r"<tr>.*?</tr>", table, re.S)}
        assert len(widths) == 1, (key, widths)
    if key == "entity":
        assert "&amp;gt;50K" in html  # shown as typed, not as ">50K"
    if key == "md_link_escaped":
        assert "\\[click\\](http://evil)" in html.replace("&quot;", '"')


def test_junit(hostile):
    key, s, r, gate = hostile
    xml = render_junit(r, gate)
    root = ET.fromstring(xml.encode("utf-8"))  # well-formed
    assert root.tag == "testsuites"
    assert not INVISIBLE.search(xml)


def test_text_summary(hostile):
    key, s, r, gate = hostile
    text = r.summary()
    assert not INVISIBLE.search(text)
    for line in text.splitlines():
        assert not line.startswith("::"), line  # no GitHub Actions workflow command
    assert len(text.splitlines()) == len(_result("c", "g").summary().splitlines())


def test_cli_stderr(hostile, tmp_path, capfd):
    key, s, r, gate = hostile
    path = tmp_path / "r.json"
    r.to_json(path)
    pol = tmp_path / "p.toml"
    pol.write_text('[[rules]]\nmetric = "demographic_parity_ratio"\nmin = 0.99\nmode = "point"\n'
                   '[[rules]]\nmetric = "accuracy"\nscope = "each_group"\nmin = 0.99\nmode = "point"\n')
    code = main(["gate", str(path), "--policy", str(pol), "--markdown", "-"])
    out, err = capfd.readouterr()
    assert code == 1
    for stream in (out, err):
        assert not INVISIBLE.search(stream), key
        assert not any(line.startswith("::") for line in stream.splitlines())
    assert audit.AuditResult.from_json(path) == r  # lone surrogates and all: the JSON round-trips


def test_collisions_of_intersection_names_are_impossible():
    """("x & y", "z") and ("x", "y & z") used to share the name "x & y & z" (one row silently dropped); a real
    column named "race & ethnicity" was split on " & " by the gate and never judged."""
    rng = np.random.default_rng(0)
    n = 800
    df = pd.DataFrame({"a": rng.choice(["x & y", "x"], n), "b": rng.choice(["z", "y & z"], n),
                       "race & ethnicity": rng.choice(["p", "q"], n), "y": rng.integers(0, 2, n),
                       "s": rng.random(n)})
    r = audit.run_audit(None, df, label="y", positive_label=1, protected=["a", "b", "race & ethnicity"], scores="s",
                        n_bootstrap=0)
    g = r.groups
    inter = g[g.attribute == "a & b"]
    assert len(inter) == 4 and inter.group.is_unique
    keys = r.disparities[["attribute", "group", "metric", "comparison"]]
    assert not keys.duplicated().any()
    pol = Policy.from_toml('[[rules]]\nmetric = "demographic_parity_ratio"\nmin = 0.0\nmode = "point"\n'
                           'attributes = ["race & ethnicity"]\n')
    res = evaluate(r, pol)
    assert res.rules[0].verdict == "pass" and res.passed
    assert {c.attribute for c in res.rules[0].checks} == {"race & ethnicity"}


def test_junit_timestamp_is_escaped():
    """Regression (issue 9): the timestamp attribute came from the result (a stored JSON) unescaped."""
    import dataclasses

    r = dataclasses.replace(_result("g", "a"), created='2020" evil="1')
    xml = render_junit(r, evaluate(r, POLICY))
    suite = ET.fromstring(xml.encode()).find("testsuite")
    assert "evil" not in suite.attrib and suite.attrib["timestamp"].startswith("2020")
