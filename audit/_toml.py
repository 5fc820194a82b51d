"""One reader of the user's TOML files (policies, LL144 mappings, reason maps, model-card text): a file path, or TOML
text given directly (a string holding a newline); every failure is a :class:`ConfigError` naming the file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .exceptions import ConfigError


def read_toml(path_or_text: str | os.PathLike[str], what: str, code: str, *, missing_code: str | None = None
              ) -> tuple[dict[str, Any], str, str]:
    """``(data, source, text)``: the parsed TOML, where it came from (the path, or ``<what>`` for text) and its text.
    ``what`` names the file in messages ("policy", "LL144 mapping"); ``code`` is the errors' code
    (``missing_code`` for a file that cannot be read, when it differs)."""
    if isinstance(path_or_text, str) and "\n" in path_or_text:
        text, source = path_or_text, f"<{what}>"
    else:
        path = Path(path_or_text)
        source = str(path)
        try:
            text = path.read_bytes().decode("utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read {what} file {source!r}: {exc.strerror}.", code=missing_code or code) \
                from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{source}: not UTF-8 text (byte {exc.start}): save the {what} as UTF-8.",
                              code=code) from None
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        return tomllib.loads(text), source, text
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}", code=code) from None
