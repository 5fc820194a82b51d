"""Command line: parses arguments, calls the library, maps outcomes to exit codes. No audit logic here.

Exit codes: 0 success (gate passed), 1 the gate failed, 2 usage, configuration, data or model error.
``audit --help`` imports neither pandas nor any heavy library.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Sequence

import click

EXIT_OK, EXIT_GATE_FAILED, EXIT_ERROR = 0, 1, 2


def _progress(msg: str) -> None:
    click.echo(msg, err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fairness-audit", prog_name="audit")
@click.option("--debug", is_flag=True, help="Show tracebacks of errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Audit a trained classifier for performance and fairness by group.

    \b
    Exit codes:
      0  success (and the gate passed, when a policy is given)
      1  the gate failed
      2  usage, configuration, data or model error
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


@cli.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("audit-demo"),
              show_default=True, help="Folder for the outputs.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every random step.")
@click.option("--n-bootstrap", type=int, default=1000, show_default=True, help="Bootstrap resamples for intervals.")
def demo(out_dir: Path, seed: int, n_bootstrap: int) -> None:
    """Train a model on the bundled Adult data, audit it, print a summary and write the results."""
    from ._demo import run_demo

    _progress("training a logistic-regression pipeline on Adult (train split, 32,561 rows) ...")
    result = run_demo(seed=seed, n_bootstrap=n_bootstrap)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "adult-audit.json"
    result.to_json(json_path)
    click.echo(result.summary())
    _progress(f"wrote {json_path}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: returns the exit code (never raises for audit errors)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        cli.main(args=args, prog_name="audit", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code or 0)
    except click.Abort:
        click.echo("aborted", err=True)
        return EXIT_ERROR
    except click.ClickException as exc:
        exc.show()
        return EXIT_ERROR
    except Exception as exc:
        from .exceptions import AuditError

        if debug:
            raise
        if isinstance(exc, AuditError):
            click.echo(f"error: {exc}", err=True)
        else:
            click.echo(f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", err=True)
        return EXIT_ERROR
    except SystemExit as exc:  # pragma: no cover - click may still exit
        code = exc.code
        return code if isinstance(code, int) else EXIT_ERROR
    return EXIT_OK
