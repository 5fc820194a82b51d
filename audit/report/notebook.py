"""A compact HTML view for Jupyter (``AuditResult._repr_html_``): the summary, escaped."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from ..record.result import ResultData as AuditResult


def notebook_html(result: "AuditResult") -> str:
    return "<pre style='white-space:pre-wrap'>" + html.escape(result.summary()) + "</pre>"
