"""Issue 21: the model card (every section of Mitchell et al., the numbers from the result, prose never invented,
the Annex IV map), `audit report --pdf` (page count, no text cut at the margins, a clear message without Chromium),
and the evidence manifest (`audit verify` fails after one byte of an output changes, naming the file). Hostile
names stay inert in every new output."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import audit
from audit.exceptions import ConfigError, InputError
from audit.manifest import verify_manifest, write_manifest
from audit.model_card import SECTIONS, CardText

HOSTILE = "<script>alert(1)</script>[x](javascript:alert(2))\u202e**b**\x1b[31m|"
TITLES = ["Model details", "Intended use", "Factors", "Metrics", "Evaluation data", "Training data",
          "Quantitative analyses", "Ethical considerations", "Caveats and recommendations"]


@pytest.fixture(scope="module")
def scored() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 1500
    d = pd.DataFrame({"sex": rng.choice(["female", "male", HOSTILE], n, p=[0.45, 0.45, 0.1]),
                      "race": rng.choice(["a", "b"], n), "y": rng.integers(0, 2, n)})
    d["pred"] = np.where(rng.random(n) < 0.8, d["y"], 1 - d["y"])
    d.loc[(d["sex"] == "female") & (rng.random(n) < 0.2), "pred"] = 0
    return d


@pytest.fixture(scope="module")
def result(scored):
    return audit.run_audit(None, scored, label="y", positive_label=1, protected=["sex", "race"], predictions="pred",
                           n_bootstrap=200)


def test_model_card_has_every_section_and_the_results_numbers(result):
    card = result.model_card({"model_details": {"name": "Scorer", "version": "3", "developers": "Team"},
                              "intended_use": {"primary_uses": ["screening", "ranking"]},
                              "metrics": {"rationale": "Selection rates matter most."}})
    assert [s.title for s in card.sections] == TITLES
    md_text, html = card.to_markdown(), card.to_html()
    for n, title in enumerate(TITLES, 1):
        assert f"## {n}. {title}" in md_text and f">{n}. {title}</h2>" in html
    assert "## 10. EU AI Act, Annex IV" in md_text and "not a claim of compliance" in html
    assert [r[0] for r in card.annex_iv.rows] == ["1(a)", "2(d)", "2(g)", "3", "4"]
    # group sizes and rates are the result's, not retyped
    qa = next(s for s in card.sections if s.key == "quantitative_analyses")
    by_sex = next(t for t in qa.tables if t.caption.startswith("Performance by sex:"))
    groups = {g["group"]: g for g in result.groups_table.records() if g["attribute"] == "sex"}
    rates = {r["group"]: r for r in result.metrics_table.records()
             if r["attribute"] == "sex" and r["metric"] == "selection_rate"}
    for row in by_sex.rows:
        name = row[0].split(" (")[0] if row[0] not in groups else row[0]
        assert row[1] == f"{groups[name]['n']:,}"
        assert row[2].startswith(f"{rates[name]['value']:.3f} [")
    # required prose not given is shown as not stated, listed, and never invented
    assert "intended_use.out_of_scope" in card.missing and "model_details.name" not in card.missing
    assert html.count("Not stated by the model&#39;s owner.") == len(card.missing)
    assert "<li><bdi>screening</bdi></li>" in html
    # the owner gave a rationale: Annex IV point 4 says so
    assert dict((r[0], r[3]) for r in card.annex_iv.rows)["4"] == "given by the owner"


def test_card_text_refuses_unknown_sections_and_fields(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown section \[intended_uses\]"):
        CardText.from_dict({"intended_uses": {"primary_uses": "x"}})
    with pytest.raises(ConfigError, match=r"\[intended_use\] has no field 'primary_use'"):
        CardText.from_dict({"intended_use": {"primary_use": "x"}})
    with pytest.raises(ConfigError, match="must be text"):
        CardText.from_dict({"caveats": {"text": 3}})
    path = tmp_path / "card.toml"
    path.write_text("[model_details\nname = 1", encoding="utf-8")
    with pytest.raises(ConfigError, match="invalid TOML"):
        CardText.from_toml(path)
    known = {k for k, _, fields in SECTIONS for k in [k]}
    assert len(known) == 9


def test_hostile_names_are_inert_in_the_card(result):
    card = result.model_card({"model_details": {"name": HOSTILE}, "caveats": {"text": HOSTILE}})
    html, md_text = card.to_html(), card.to_markdown()
    assert "<script>" not in html and "&lt;script&gt;" in html and "\x1b" not in html
    assert "<script>" not in md_text and "](javascript" not in md_text and "\x1b" not in md_text
    assert "\\<script\\>" in md_text and "\\[x\\]\\(javascript" in md_text


def test_manifest_verifies_and_names_a_changed_file(result, tmp_path):
    out = tmp_path / "pack"
    out.mkdir()
    result.to_json(out / "result.json")
    result.to_html(out / "report.html")
    (out / "model.bin").write_bytes(b"\x00model")
    body = write_manifest(out / "manifest.json", [("output", out / "result.json"), ("output", out / "report.html"),
                                                  ("model", out / "model.bin")], result=result)
    assert body["audit"]["data_fingerprint_sha256"] == result.data_fingerprint
    assert body["audit"]["seed"] == result.config.seed and body["versions"]["fairness-audit"] == audit.__version__
    assert {f["path"] for f in body["files"]} == {"result.json", "report.html", "model.bin"}  # relative
    assert verify_manifest(out / "manifest.json").ok
    # the pack moves as a whole
    moved = tmp_path / "moved"
    shutil.copytree(out, moved)
    assert verify_manifest(moved / "manifest.json").ok
    # one byte of one output
    data = bytearray((moved / "report.html").read_bytes())
    data[len(data) // 2] ^= 1
    (moved / "report.html").write_bytes(bytes(data))
    found = verify_manifest(moved / "manifest.json")
    assert not found.ok and [f for f, _ in found.problems] == ["report.html"]
    assert "changed since the manifest was written" in found.text()
    (moved / "model.bin").unlink()
    assert {f for f, _ in verify_manifest(moved / "manifest.json").problems} == {"report.html", "model.bin"}
    # an edit of the manifest itself
    m = json.loads((out / "manifest.json").read_text())
    m["audit"]["seed"] = 7
    (out / "manifest.json").write_text(json.dumps(m))
    assert [f for f, _ in verify_manifest(out / "manifest.json").problems] == ["manifest.json"]
    (out / "not.json").write_text("{}")
    with pytest.raises(InputError, match="not a fairness-audit manifest"):
        verify_manifest(out / "not.json")
    with pytest.raises(InputError, match="does not exist"):
        write_manifest(out / "m2.json", [("output", out / "missing.html")])
    assert not (out / "m2.json").exists()


def _cli(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "audit", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)


@pytest.mark.slow
def test_cli_manifest_and_verify(scored, tmp_path):
    scored.to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "policy.toml").write_text('version = 1\n[[rules]]\nname = "parity"\n'
                                          'metric = "demographic_parity_ratio"\nmin = 0.5\n', encoding="utf-8")
    r = _cli("run", "--data", "data.csv", "--label", "y", "--positive-label", "1", "--protected", "sex",
             "--predictions", "pred", "--n-bootstrap", "0", "--json", "result.json", "--html", "report.html",
             "--markdown", "summary.md", "--policy", "policy.toml", "--junit", "junit.xml", "--manifest",
             "manifest.json", cwd=tmp_path)
    assert r.returncode in (0, 1), r.stderr
    body = json.loads((tmp_path / "manifest.json").read_text())
    roles = {f["path"]: f["role"] for f in body["files"]}
    assert roles == {"data.csv": "data", "policy.toml": "policy", "result.json": "output", "report.html": "output",
                     "summary.md": "output", "junit.xml": "output"}
    r = _cli("verify", "manifest.json", cwd=tmp_path)
    assert r.returncode == 0 and "all 6 file(s) match" in r.stderr
    with open(tmp_path / "junit.xml", "ab") as fh:
        fh.write(b" ")
    r = _cli("verify", "manifest.json", cwd=tmp_path)
    assert r.returncode == 1 and "junit.xml: changed since the manifest was written" in r.stderr
    assert "report.html" not in r.stderr
    r = _cli("verify", "data.csv", cwd=tmp_path)
    assert r.returncode == 2 and "not a manifest" in r.stderr
    # the model card, its manifest, and a hostile file name shown as escapes on the terminal
    (tmp_path / "card.toml").write_text('[model_details]\nname = "Scorer"\n', encoding="utf-8")
    hostile = "card\x1b[31m.md"
    r = _cli("report", "result.json", "--format", "model-card", "--card", "card.toml", "--markdown", hostile,
             "--manifest", "cm.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "\x1b" not in r.stderr and "\\x1b" in r.stderr
    assert "required field(s) of prose not stated" in r.stderr
    r = _cli("verify", "cm.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = _cli("report", "result.json", "--format", "model-card", "--json", "x.json", cwd=tmp_path)
    assert r.returncode == 2 and "--format model-card writes" in r.stderr


def test_pdf_without_chromium_says_how_to_install(result, tmp_path):
    result.to_json(tmp_path / "result.json")
    r = _cli("report", "result.json", "--pdf", "out.pdf", cwd=tmp_path, env={"AUDIT_CHROMIUM": "/nonexistent/chrome"})
    assert r.returncode == 2 and "needs headless Chromium" in r.stderr and "apt-get install chromium" in r.stderr
    assert not (tmp_path / "out.pdf").exists()


def _chromium() -> str:
    from audit.report.pdf import find_chromium

    path = find_chromium()
    if path:
        return path
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed: .ci/run installs Debian's chromium package")
    pytest.skip("chromium is not installed (apt-get install chromium); CI installs it")


def _pdf_text(path: Path) -> tuple[int, str, list[float]]:
    pypdf = pytest.importorskip("pypdf")
    reader = pypdf.PdfReader(str(path))
    text = "\n".join(p.extract_text() for p in reader.pages)
    widths = [float(p.mediabox.width) for p in reader.pages]
    return len(reader.pages), text, widths


def _squash(s: str) -> str:
    import unicodedata

    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", s))  # PDF text has ligatures (fi)


@pytest.mark.slow
@pytest.mark.parametrize("doc", ["report", "model-card", "ll144"])
def test_pdf_renders_every_document_whole(doc, result, tmp_path):
    """`audit report --pdf`: a PDF of several pages whose text holds every table's last column (a table cut at
    the right margin would lose it) and the page's closing section."""
    _chromium()
    result.to_json(tmp_path / "result.json")
    args = ["report", "result.json", "--format", doc, "--pdf", "doc.pdf", "--html", "doc.html"]
    if doc == "model-card":
        (tmp_path / "card.toml").write_text('[model_details]\nname = "Scorer"\n', encoding="utf-8")
        args += ["--card", "card.toml"]
    if doc == "ll144":
        (tmp_path / "map.toml").write_text('[sex]\ncolumn = "sex"\nvalues = { female = "Female", male = "Male" }\n'
                                           f'unknown = [{json.dumps(HOSTILE)}]\n', encoding="utf-8")
        args += ["--ll144-map", "map.toml"]
    r = _cli(*args, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    pages, text, widths = _pdf_text(tmp_path / "doc.pdf")
    assert pages >= (1 if doc == "ll144" else 2) and len(set(widths)) == 1
    flat = _squash(text)
    html = (tmp_path / "doc.html").read_text(encoding="utf-8")
    # the last header cell of every table, and the last row's last cell: present in the printed text
    import html as html_lib

    for table in re.findall(r"<table.*?</table>", html, flags=re.S):
        heads = re.findall(r"<th scope=\"col\"[^>]*>(.*?)</th>", table, flags=re.S)
        cells = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", table, flags=re.S)
        for cell in (heads[-1:] if heads else []) + cells[-1:]:
            plain = html_lib.unescape(re.sub(r"<[^>]+>", "", cell))
            if plain.strip() and plain.isprintable():
                assert _squash(plain)[:40] in flat, (doc, plain)
    headings = [html_lib.unescape(re.sub(r"<[^>]+>", "", h)) for h in re.findall(r"<h2[^>]*>(.*?)</h2>", html,
                                                                                   flags=re.S)]
    assert len(headings) >= 3 and all(_squash(h) in flat for h in headings), (doc, headings)
