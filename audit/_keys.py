"""Names of intersections: ``"sex & race"`` with groups like ``"Female & Black"``, unambiguous whatever the
column names and values hold.

A part that contains the separator (or starts with a double quote) is written in double quotes with
backslash escapes, so two different combinations never share a name: ``("x & y", "z")`` is
``"\\"x & y\\" & z"`` and ``("x", "y & z")`` is ``"x & \\"y & z\\""``. :func:`split_key` reverses
:func:`join_key`. An intersection's name that would equal a protected column's own name is fully quoted.
"""

from __future__ import annotations

from typing import Iterable, Sequence

JOIN = " & "


def _quote(part: str) -> str:
    return '"' + part.replace("\\", "\\\\").replace('"', '\\"') + '"'


def join_key(parts: Sequence[str], avoid: Iterable[str] = ()) -> str:
    """The name of a combination of ``parts``; quoted where a part holds the separator, and fully quoted when
    the plain name would equal one of ``avoid`` (the names of single attributes)."""
    key = JOIN.join(_quote(p) if (JOIN in p or p.startswith('"')) else p for p in parts)
    if len(parts) > 1 and key in set(avoid):
        key = JOIN.join(_quote(p) for p in parts)
    return key


def split_key(key: str) -> list[str]:
    """The parts of a name made by :func:`join_key`."""
    parts: list[str] = []
    i, n = 0, len(key)
    while True:
        if i < n and key[i] == '"':
            out, i = [], i + 1
            while i < n and key[i] != '"':
                if key[i] == "\\" and i + 1 < n:
                    i += 1
                out.append(key[i])
                i += 1
            parts.append("".join(out))
            i += 1  # closing quote
        else:
            j = key.find(JOIN, i)
            j = n if j < 0 else j
            parts.append(key[i:j])
            i = j
        if i >= n:
            return parts
        if key.startswith(JOIN, i):
            i += len(JOIN)
        else:  # not a name this module made: keep the rest as one part
            parts[-1] += key[i:]
            return parts
