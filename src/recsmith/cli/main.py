"""The ``recsmith`` command line. Each command parses its options and calls one library function.

Errors caused by input (:class:`~recsmith.errors.RecsmithError`) print one clear message and exit
with the error's code; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperOption
from typer.exceptions import TyperException

from recsmith import __version__
from recsmith.cli import (
    ab,
    benchmark,
    data,
    demo,
    evaluate,
    export,
    models,
    recommend,
    registry,
    report,
    retrain,
    serve,
    train,
    tune,
)
from recsmith.cli import app as app_command
from recsmith.errors import RecsmithError
from recsmith.utils.atomic import OutputExistsError
from recsmith.utils.extras import as_missing_extra

app = typer.Typer(
    name="recsmith",
    help="Build, evaluate and serve recommender systems.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(data.app, name="data")
app.add_typer(registry.app, name="registry")
app.add_typer(ab.app, name="ab")
app.add_typer(demo.app, name="demo")
app.command("benchmark", help=benchmark.benchmark_help())(benchmark.benchmark)
app.command("evaluate")(evaluate.evaluate)
app.command("recommend")(recommend.recommend)
app.command("models")(models.models)
app.command("train")(train.train)
app.command("lr-find")(train.lr_find)
app.command("scaling")(train.scaling)
app.command("tune")(tune.tune)
app.command("retrain")(retrain.retrain)
app.command("report")(report.report)
app.command("export")(export.export)
app.command("serve")(serve.serve)
app.command("app")(app_command.app)

_err = Console(stderr=True, highlight=False)

_option_type = TyperOption.display_type_rich


def _flag_without_type(self: TyperOption, ctx: Any) -> str | None:  # Any: typer types it with its own click
    """No type after a flag in --help: typer's rich help prints ``<bool>`` after ``--overwrite``,
    which reads as if the flag took a value (click's plain help prints none)."""
    return None if self.is_flag else _option_type(self, ctx)


TyperOption.display_type_rich = _flag_without_type  # type: ignore[method-assign]  # typer has no hook for it


def _print_version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", help="Print the version and exit.", is_eager=True, callback=_print_version
    ),
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Show the libraries' own progress bars and warnings (Hugging Face)."
    ),
) -> None:
    """Build, evaluate and serve recommender systems."""
    if verbose:  # an environment variable: worker processes (serve) and subprocesses inherit it
        os.environ["RECSMITH_VERBOSE"] = "1"


def _print_error(err: BaseException | str) -> None:
    # escaped: messages hold brackets that are not markup, e.g. pip install "recsmith[torch]"
    _err.print(f"[bold red]error:[/bold red] {escape(str(err))}", markup=True, soft_wrap=True)


def main(argv: list[str] | None = None) -> int:
    try:
        app(args=argv, prog_name="recsmith", standalone_mode=False)
    except RecsmithError as err:
        _print_error(err)
        return err.exit_code
    except ModuleNotFoundError as err:
        # a safety net below the explicit checks: an optional module that is simply not installed
        # (not one that fails to import) names its extra; any other missing module is a bug
        missing = as_missing_extra(err, "this command")
        if missing is None:
            raise
        _print_error(missing)
        return missing.exit_code
    except FileExistsError as err:
        _print_error(err.cli_message() if isinstance(err, OutputExistsError) else err)
        return 1
    except KeyboardInterrupt:
        _err.print("interrupted; nothing was written half-way")
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        return 1
    except TyperException as exc:  # usage errors: bad or missing options
        show = getattr(exc, "show", None)
        show() if show else _err.print(f"error: {exc.format_message()}")
        return exc.exit_code
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
