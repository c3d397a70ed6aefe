"""`main()`: runs one `d400` command; every failure is one line on stderr and a non-zero exit,
never a traceback. Importing the command modules here registers their commands, in the order
`d400 --help` lists them."""

from __future__ import annotations

import logging
import sys

import typer

from d400tui.cli import acquirer, admin, orders, reference, runs, serve, settle, stats, voids  # noqa: F401 - register commands
from d400tui.cli.app import app
from d400tui.cli.output import CliError, fail
from d400tui.cli.session import settings as load
from d400tui.i18n.render import tx

log = logging.getLogger("d400.cli")


def _click_errors() -> tuple[tuple[type[Exception], ...], ...]:
    """Click's usage errors, aborts and other exceptions: those of the click that typer vendors
    (typer ≥ 0.2x) and of the click package (older typer)."""
    usage: list[type[Exception]] = []
    other: list[type[Exception]] = []
    aborts: list[type[Exception]] = []
    for module in ("typer._click.exceptions", "click.exceptions"):
        try:
            mod = __import__(module, fromlist=["UsageError"])
        except ImportError:
            continue
        usage.append(mod.UsageError)
        other.append(mod.ClickException)
        if hasattr(mod, "Abort"):
            aborts.append(mod.Abort)
    return tuple(usage), tuple(other), tuple(aborts)


def main(argv: list[str] | None = None) -> None:
    """Runs one command; every failure is one line on stderr and a non-zero exit. Unexpected
    ones are logged (scrubbed, with the traceback) to the log file, not shown."""
    from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

    from d400tui.acquirers import AcquirerConfigError
    from d400tui.config import SettingsProblem
    from d400tui.engine import USER_ERRORS
    from d400tui.i18n import set_lang

    usage_errors, click_errors, aborts = _click_errors()
    where = "the log file"
    try:
        from d400tui.logs import configure

        settings = load()
        where = str(settings.log_file)
        set_lang(settings.lang)  # engine messages are French; errors and outcomes are printed in this language
        try:
            configure(settings.log_file, settings.log_level)
        except OSError:
            raise CliError(f"log file {settings.log_file}: cannot be written (D400_HOME)") from None
        code = app(args=argv, standalone_mode=False)
    except (CliError, SettingsProblem, *USER_ERRORS) as exc:
        fail(2, tx(exc))
    except usage_errors as exc:  # bad option or value: click's sentence, cleaned, without the usage dump
        fail(2, f"{exc.format_message()} (see --help)")  # type: ignore[attr-defined]
    except click_errors as exc:
        fail(exc.exit_code or 2, exc.format_message())  # type: ignore[attr-defined]
    except (typer.Abort, *aborts, KeyboardInterrupt, EOFError):
        fail(130, "interrupted")
    except AcquirerConfigError as exc:
        fail(2, str(exc))
    except ArgumentError:
        fail(2, "D400_DB_URL: not a database URL d400 knows (sqlite:///PATH or postgresql://USER:PW@HOST/DB)")
    except UnicodeError:
        fail(2, "input is not valid text (UTF-8 expected)")
    except OperationalError as exc:
        fail(2, f"database unreachable ({(str(exc.orig).splitlines() or ['no answer'])[0][:120]})")
    except SQLAlchemyError:
        log.exception("database error")
        fail(2, f"database error, details in {where}")
    except Exception:  # the last line of defence: one line, no traceback, no card data
        log.exception("unexpected failure")
        fail(1, f"internal error, details in {where}")
    sys.exit(code if isinstance(code, int) else 0)
