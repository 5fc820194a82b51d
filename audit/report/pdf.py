"""HTML to PDF with headless Chromium (``audit report --pdf``): the page's own print CSS decides the layout (page
breaks between sections, table headers repeated on every page). Chromium is found on the PATH (chromium,
chromium-browser, google-chrome) or at ``$AUDIT_CHROMIUM``; where it is absent the error says how to install it.
The PDF is written to a temporary file and renamed into place: never a half-written file."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..exceptions import ConfigError

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
INSTALL = ("install Chromium: `apt-get install chromium` (Debian, Ubuntu), `brew install --cask chromium` (macOS), "
           "or `python -m playwright install chromium` and point AUDIT_CHROMIUM at the binary it prints; or open "
           "the HTML in a browser and print it to PDF (the page has print styles)")
TIMEOUT = 120


def find_chromium() -> str | None:
    """The Chromium (or Chrome) binary: ``$AUDIT_CHROMIUM`` when set, else the first of :data:`CANDIDATES` on the
    PATH; None when there is none."""
    env = os.environ.get("AUDIT_CHROMIUM")
    if env:
        return env if Path(env).is_file() and os.access(env, os.X_OK) else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def html_to_pdf(html: str, out: str | os.PathLike[str]) -> int:
    """Print ``html`` (a self-contained page) to the PDF file ``out``; returns its size in bytes."""
    binary = find_chromium()
    if binary is None:
        where = " (AUDIT_CHROMIUM is set but is not an executable file)" if os.environ.get("AUDIT_CHROMIUM") else ""
        raise ConfigError(f"--pdf needs headless Chromium, which was not found{where}: {INSTALL}.",
                          code="no_chromium")
    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="audit-pdf-") as tmp:
        page = Path(tmp) / "page.html"
        page.write_text(html, encoding="utf-8")
        pdf = Path(tmp) / "page.pdf"
        args = [binary, "--headless", "--disable-gpu", "--no-pdf-header-footer", "--no-first-run",
                "--disable-extensions", f"--user-data-dir={tmp}/profile",
                f"--print-to-pdf={pdf}", page.as_uri()]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox (CI containers)
        try:
            proc = subprocess.run(args, capture_output=True, timeout=TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            raise ConfigError(f"Chromium did not finish printing the PDF within {TIMEOUT} s.",
                              code="pdf_failed") from None
        if proc.returncode != 0 or not pdf.is_file() or pdf.read_bytes()[:5] != b"%PDF-":
            tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            raise ConfigError(f"Chromium ({binary}) could not print the PDF (exit {proc.returncode}): {tail[0][:300]}",
                              code="pdf_failed")
        data = pdf.read_bytes()
    from ..record.atomic import write_atomic

    write_atomic(out, data)
    return len(data)
