"""Loading model and data files for the command line."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from .exceptions import AuditWarning, InputError, ModelError

PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")


def exact_floats() -> dict[str, str]:
    """``read_csv`` options that read floats exactly: pandas 3 does by default (and deprecates the option)."""
    import pandas as pd

    return {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}


def load_data(path: str | Path, what: str = "data") -> Any:
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{what} file {str(p)!r} does not exist (or is not a file).", code="missing_file")
    name = p.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            try:
                import pyarrow  # noqa: F401
            except ModuleNotFoundError:
                raise InputError(f"reading Parquet file {str(p)!r} needs pyarrow, which is not installed: "
                                 "pip install pyarrow.", code="missing_dependency") from None
            except ImportError as exc:  # installed, but broken (e.g. built for another numpy): say so
                raise InputError(f"reading Parquet file {str(p)!r} needs pyarrow, which is installed but fails to "
                                 f"import: {exc}", code="broken_dependency") from None
            return pd.read_parquet(p)
        if name.endswith((".csv", ".csv.gz", ".tsv", ".txt")):
            # exact floats: pandas 2's default parser is 1 ulp off for some values, which would change the data
            # fingerprint between pandas versions (and refuse a baseline audited under the other one)
            return pd.read_csv(p, sep="\t" if name.endswith(".tsv") else ",", **exact_floats())
    except InputError:
        raise
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise InputError(f"cannot read {what} file {str(p)!r}: {exc}", code="unreadable_file") from None
    raise InputError(f"{what} file {str(p)!r} has an unknown format; use .csv, .csv.gz, .tsv or .parquet.",
                     code="unknown_format")


def pickle_warning(path: str | Path) -> str | None:
    """The caution printed before loading a pickle/joblib model (its code runs on load), or None."""
    p = Path(path)
    if p.name.lower().endswith(PICKLE_SUFFIXES):
        return (f"loading {p.name} runs code stored in the file (pickle/joblib); only load model files you "
                "trust, or save models with skops (.skops) for safe loading.")
    return None


#: packages whose own classes a .skops file may hold without --trust-model: skops rebuilds an instance from its
#: stored attributes and never runs code from the file, so a class of these (not a function, which the model would
#: call) is trusted, except the ones skops itself warns about (below); everything else needs review
TRUSTED_PACKAGES = ("sklearn", "numpy")
#: classes skops warns about by name: their stored node indices are used without bounds checks, so a crafted file
#: can crash the process or read memory when the model predicts (skops' UNTRUSTED_TYPE_REASONS adds to these)
NEVER_TRUSTED = {"sklearn.tree._tree.Tree": "its node indices are used without bounds checks",
                 "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor":
                     "its node indices are used without bounds checks"}


def _first_sentence(reason: str, name: str) -> str:
    """skops' reason for warning about ``name``, its first sentence without the name."""
    text = reason[len(name):].strip() if reason.startswith(name) else reason.strip()
    return text.split(". ")[0].rstrip(".")


def _never_trusted() -> dict[str, str]:
    try:
        from skops.io.exceptions import UNTRUSTED_TYPE_REASONS
    except ImportError:
        return dict(NEVER_TRUSTED)
    return {**NEVER_TRUSTED, **UNTRUSTED_TYPE_REASONS}


def _own_class(name: str) -> bool:
    """``name`` ("pkg.module.Class") is a class defined in one of :data:`TRUSTED_PACKAGES` (imported to check)."""
    import importlib

    module, _, attr = name.rpartition(".")
    if module.split(".")[0] not in TRUSTED_PACKAGES:
        return False
    try:
        obj = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError):
        return False
    return isinstance(obj, type) and (obj.__module__ or "").split(".")[0] in TRUSTED_PACKAGES


def _skops() -> Any:
    try:
        import skops.io as sio
    except ModuleNotFoundError:
        raise ModelError("loading .skops models needs skops, which is not installed: pip install skops.",
                         code="missing_dependency") from None
    except ImportError as exc:
        raise ModelError(f"loading .skops models needs skops, which is installed but fails to import: {exc}",
                         code="broken_dependency") from None
    return sio


def check_model_file(path: str | Path, *, trust: bool = False) -> list[str]:
    """Check a model file before any data is read: it exists, its format is known, and a .skops file holds no type
    that needs review (unless ``trust``). Returns the types skops lists that are trusted as scikit-learn's or
    numpy's own classes."""
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"model file {str(p)!r} does not exist (or is not a file).", code="missing_file")
    name = p.name.lower()
    if name.endswith(PICKLE_SUFFIXES):
        return []
    if not name.endswith(".skops"):
        raise ModelError(f"model file {str(p)!r} has an unknown format; use .joblib, .pkl/.pickle or .skops.",
                         code="unknown_format")
    sio = _skops()
    try:
        untrusted = sio.get_untrusted_types(file=p)
    except (Exception, SystemExit) as exc:
        raise ModelError(f"cannot read skops model {str(p)!r}: {type(exc).__name__}: {exc}",
                         code="unloadable_model") from None
    warned = _never_trusted()
    review = [t for t in untrusted if t in warned or not _own_class(t)]
    if review and not trust:
        why = [f"{t} {_first_sentence(warned[t], t)}" for t in review if t in warned]
        raise ModelError(f"model file {str(p)!r} contains types that need review before loading: "
                         f"{', '.join(review[:8])}. Review them and pass --trust-model to load a file you created or "
                         "fully trust (scikit-learn's and numpy's own classes are trusted, except those skops warns "
                         "about)" + (f". skops warns: {'; '.join(why)}" if why else "") + ".", code="untrusted_model")
    return list(untrusted)


def load_model(path: str | Path, *, trust: bool = False, warn: bool = True) -> Any:
    """Load a model from joblib/pickle (runs code from the file: warns) or skops (safe: refuses types that need
    review unless ``trust``; scikit-learn's and numpy's own classes are trusted)."""
    p = Path(path)
    untrusted = check_model_file(p, trust=trust)
    name = p.name.lower()
    if name.endswith(".skops"):
        sio = _skops()
        try:
            return sio.load(p, trusted=untrusted)
        except ModelError:
            raise
        except (Exception, SystemExit) as exc:
            raise ModelError(f"cannot load skops model {str(p)!r}: {type(exc).__name__}: {exc}",
                             code="unloadable_model") from None
    if name.endswith(PICKLE_SUFFIXES):
        if warn:
            warnings.warn(pickle_warning(p), AuditWarning, stacklevel=2)
        try:
            import joblib

            return joblib.load(p)
        except SystemExit as exc:
            raise ModelError(f"loading model file {str(p)!r} called sys.exit({exc.code!r}): the file's code exits "
                             "instead of returning a model.", code="model_exited") from None
        except Exception as exc:
            raise ModelError(f"cannot load model file {str(p)!r}: {type(exc).__name__}: {exc}. Was it saved with "
                             "joblib.dump or pickle.dump, with the same library versions?",
                             code="unloadable_model") from None
    raise ModelError(f"model file {str(p)!r} has an unknown format; use .joblib, .pkl/.pickle or .skops.",
                     code="unknown_format")
