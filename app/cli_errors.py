"""CLI errors as one line with the fix: exit 2 for usage errors, 1 for failures.

``one_line_errors`` wraps a command: a ``UsageProblem`` exits 2, any other ``DomainError`` or a
database error exits 1, each as ``error: what; how to fix it`` on stderr. ``run`` wraps the
whole command line so that typer's own usage errors (an unknown option, a bad value) are one
line too. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn, ParamSpec, TypeVar

import typer
from sqlalchemy.exc import SQLAlchemyError

from app.errors import DomainError

EXIT_FAILURE = 1
EXIT_USAGE = 2
PROG = "runbook-router"
DATABASE_HINT = "check RUNBOOK_ROUTER_DATABASE_URL and that the database server is running"

P = ParamSpec("P")
R = TypeVar("R")


class UsageProblem(DomainError):
    """A command-line argument that cannot work (exit 2); ``hint`` says what would."""

    status_code = 400
    code = "usage"


def error_line(message: str, hint: str = "") -> str:
    """``error: message; hint``, whitespace (newlines too) folded so it is one line."""
    text = f"error: {message.rstrip().removesuffix('.')}; {hint}" if hint else f"error: {message}"
    return " ".join(text.split())


def fail(message: str, *, hint: str = "", code: int = EXIT_FAILURE) -> NoReturn:
    """Print the error line on stderr and end the command with ``code``."""
    typer.echo(error_line(message, hint), err=True)
    raise typer.Exit(code)


def database_error(err: SQLAlchemyError) -> str:
    """The first line of what the driver said, without SQLAlchemy's background link."""
    original = getattr(err, "orig", None) or err
    lines = str(original).strip().splitlines() or [type(original).__name__]
    return f"database unavailable: {lines[0]}"


def one_line_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn the expected failures of ``command`` into one line and an exit code."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except UsageProblem as err:
            fail(err.message, hint=err.hint, code=EXIT_USAGE)
        except DomainError as err:
            fail(err.message, hint=err.hint)
        except SQLAlchemyError as err:
            fail(database_error(err), hint=DATABASE_HINT)

    return wrapper


def run(command: Callable[..., object], argv: Sequence[str] | None = None) -> NoReturn:
    """Run the typer app with its usage errors as one line (exit 2)."""
    try:
        result = command(args=argv, prog_name=PROG, standalone_mode=False)
    except typer.TyperException as err:  # typer's click exceptions (typer vendors click)
        if type(err).__name__ == "NoArgsIsHelpError":
            typer.echo(err.format_message(), err=True)  # the help text
            sys.exit(err.exit_code)
        ctx = getattr(err, "ctx", None)
        hint = f"see `{ctx.command_path} --help`" if ctx is not None else ""
        typer.echo(error_line(err.format_message(), hint), err=True)
        sys.exit(err.exit_code)
    except typer.Abort:
        sys.exit(EXIT_FAILURE)
    sys.exit(result if isinstance(result, int) else 0)
