"""The evidence manifest (issue 21): ``manifest.json`` beside an audit's outputs, holding the sha256 of each output,
of the model file, the policy and the data files, the audited data's fingerprint, the seed and the tool's and its
dependencies' versions; and :func:`verify_manifest`, which re-hashes every file and names each one that changed or is
missing.

Paths are stored relative to the manifest's folder (an evidence pack can be moved or zipped whole) unless a file
lies outside it. The manifest also holds the sha256 of its own content (``manifest_sha256``), which catches an edit
of the manifest itself; it does not stop someone who rewrites both the files and the manifest: keep the printed
digest of the manifest where it cannot be changed (a ticket, a signed commit) to make the pack tamper-evident.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from .exceptions import InputError

if TYPE_CHECKING:  # pragma: no cover
    from .record.result import ResultData

FORMAT = "fairness-audit-manifest"
VERSION = 1
#: the roles a file can play in the pack, in the order the manifest lists them
ROLES = ("data", "model", "policy", "result", "input", "output")
_CHUNK = 1 << 20


def file_sha256(path: str | os.PathLike[str]) -> tuple[str, int]:
    """(hex sha256, size in bytes) of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def _canonical(d: dict[str, Any]) -> bytes:
    return json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def _stored_path(path: Path, base: Path) -> str:
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return str(path.resolve())


def build_manifest(path: str | os.PathLike[str], files: Iterable[tuple[str, str | os.PathLike[str]]], *,
                   result: "ResultData | None" = None, created: str | None = None) -> dict[str, Any]:
    """The manifest's content for ``files`` (``(role, path)`` pairs; roles: data, model, policy, result, input,
    output) to be written at ``path``; ``result`` adds the data fingerprint, rows, seed, task and the versions the
    audit ran with."""
    from . import __version__

    base = Path(path).parent
    entries: list[dict[str, Any]] = []
    seen: set[str] = set()
    for role, p in files:
        if role not in ROLES:
            raise InputError(f"manifest role {role!r} is unknown; give one of {', '.join(ROLES)}.",
                             code="bad_manifest")
        fp = Path(p)
        if not fp.is_file():
            raise InputError(f"{role} file {str(p)!r} does not exist (or is not a file): a manifest lists files "
                             "that were written or read.", code="missing_file")
        stored = _stored_path(fp, base)
        if stored in seen:
            continue
        seen.add(stored)
        digest, size = file_sha256(fp)
        entries.append({"role": role, "path": stored, "sha256": digest, "bytes": size})
    entries.sort(key=lambda e: (ROLES.index(e["role"]), e["path"]))
    versions = {"fairness-audit": __version__, "python": platform.python_version()}
    audit: dict[str, Any] = {}
    if result is not None:
        versions.update(dict(result.versions))
        audit = {"data_fingerprint_sha256": result.data_fingerprint, "rows": result.n_rows,
                 "seed": result.config.seed, "task": result.task, "label": result.label,
                 "protected": list(result.protected), "audited": result.created,
                 "tool_version": result.library_version}
    body = {"format": FORMAT, "version": VERSION,
            "created": created or _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "audit": audit, "versions": versions, "files": entries}
    body["manifest_sha256"] = hashlib.sha256(_canonical(body)).hexdigest()
    return body


def write_manifest(path: str | os.PathLike[str], files: Iterable[tuple[str, str | os.PathLike[str]]], *,
                   result: "ResultData | None" = None) -> dict[str, Any]:
    """Write ``manifest.json`` atomically (see :func:`build_manifest`) and return its content; its
    ``manifest_sha256`` is worth keeping elsewhere."""
    from .record.atomic import write_atomic

    body = build_manifest(path, files, result=result)
    write_atomic(path, json.dumps(body, indent=1, sort_keys=False, ensure_ascii=True) + "\n")
    return body


@dataclass(frozen=True)
class Verification:
    """What :func:`verify_manifest` found: ``ok`` and one problem per changed, missing or unreadable file."""

    manifest: str
    checked: int
    problems: tuple[tuple[str, str], ...]  # (file, what is wrong)

    @property
    def ok(self) -> bool:
        return not self.problems

    def text(self) -> str:
        if self.ok:
            return f"{self.manifest}: all {self.checked} file(s) match their sha256; the manifest is intact."
        return "\n".join(f"{self.manifest}: {f}: {why}" for f, why in self.problems)


def verify_manifest(path: str | os.PathLike[str]) -> Verification:
    """Re-hash every file the manifest lists (relative paths from the manifest's folder) and check the manifest's
    own digest. Raises :class:`audit.InputError` when the file is not a manifest."""
    p = Path(path)
    try:
        body = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read manifest {str(path)!r}: {exc.strerror}.", code="bad_manifest") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a manifest (not JSON: {exc}).", code="bad_manifest") from None
    if not isinstance(body, dict) or body.get("format") != FORMAT or not isinstance(body.get("files"), list):
        raise InputError(f"{path}: not a fairness-audit manifest (no \"format\": \"{FORMAT}\" and file list).",
                         code="bad_manifest")
    if body.get("version") != VERSION:
        raise InputError(f"{path}: manifest version {body.get('version')!r} is not one this version reads "
                         f"({VERSION}); verify it with the fairness-audit version that wrote it.", code="bad_manifest")
    problems: list[tuple[str, str]] = []
    stated = body.get("manifest_sha256")
    rest = {k: v for k, v in body.items() if k != "manifest_sha256"}
    if stated != hashlib.sha256(_canonical(rest)).hexdigest():
        problems.append((p.name, "the manifest itself was edited after it was written (its manifest_sha256 no "
                                 "longer matches its content)"))
    checked = 0
    for e in body["files"]:
        if not isinstance(e, dict) or not isinstance(e.get("path"), str) or not isinstance(e.get("sha256"), str):
            problems.append((p.name, f"a file entry is malformed: {str(e)[:80]}"))
            continue
        target = Path(e["path"])
        target = target if target.is_absolute() else p.parent / target
        checked += 1
        try:
            digest, size = file_sha256(target)
        except FileNotFoundError:
            problems.append((e["path"], f"missing ({e.get('role', 'file')} file listed in the manifest)"))
            continue
        except OSError as exc:
            problems.append((e["path"], f"unreadable: {exc.strerror}"))
            continue
        if digest != e["sha256"]:
            problems.append((e["path"], f"changed since the manifest was written ({e.get('role', 'file')} file; "
                                        f"sha256 {digest[:16]}... != {e['sha256'][:16]}..., {size:,} bytes, "
                                        f"was {e.get('bytes', '?'):,} bytes)" if isinstance(e.get("bytes"), int)
                             else f"changed since the manifest was written (sha256 {digest[:16]}...)"))
    return Verification(str(path), checked, tuple(problems))
