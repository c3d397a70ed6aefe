"""`d400 db …`, `d400 operator …` and `d400 audit …`: the database, the operators and the audit
trail. Only `db init` on an empty database and `db upgrade` before any operator exists run
without signing on."""

from __future__ import annotations

import typer
from rich.table import Table

from d400tui.cli.app import AsJson, audit_app, db_app, operator_app
from d400tui.cli.inputs import parse_date, password_twice
from d400tui.cli.output import CliError, clean, error, out, print_json, print_rows, progress
from d400tui.cli.session import run, settings, sign_on, signed_db, signed_engine, with_close
from d400tui.i18n.render import render_detail


# -- database -------------------------------------------------------------------------------------
@db_app.command("init")
def db_init(admin: str = typer.Option(..., "--admin", help="Name of the first supervisor.")) -> None:
    """Create the schema, reference data and the first supervisor (password asked twice, or two
    lines on stdin). Refused once the database has an operator: supervisors add the others."""
    from d400tui.engine.bootstrap import init_database, open_database
    from d400tui.engine.operators import check_name, has_operators, operator_count

    db = open_database(settings(), migrate=False)
    if operator_count(db):
        raise has_operators()
    check_name(admin)  # the name first: a bad one is said before any password is asked
    op = init_database(db, admin, password_twice())
    out.print(f"database at revision {db.current_revision()} ({db.dialect}); supervisor {op.name} created")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the Alembic migrations (supervisors, once the database has operators)."""
    from d400tui.engine.bootstrap import open_database, upgrade_database
    from d400tui.engine.operators import operator_count

    config = settings()
    db = open_database(config, migrate=False)
    who = sign_on(db, config) if operator_count(db) else None
    revision = upgrade_database(db, who)
    out.print(f"database at revision {revision} ({db.dialect})")


@db_app.command("demo")
def db_demo(orders: int = typer.Option(200, "--orders", min=0, max=5_000_000, help="Demo orders to add.")) -> None:
    """Add N demo orders in mixed states and channels (supervisors)."""
    from d400tui.engine.bootstrap import WHAT_DEMO
    from d400tui.engine.demo import demo_tokens, generate_orders
    from d400tui.engine.operators import require_supervisor

    engine, who = signed_engine()
    require_supervisor(who, WHAT_DEMO)
    cards = run(with_close(engine, demo_tokens(engine.acquirer)))
    bar, update = progress("demo orders", orders < 5000)
    if bar:
        with bar:
            n = generate_orders(engine.db, orders, cards, progress=update)
    else:
        n = generate_orders(engine.db, orders, cards)
    out.print(f"{n} demo orders added")


# -- audit trail ----------------------------------------------------------------------------------
@audit_app.callback(invoke_without_command=True)
def audit(
    ctx: typer.Context,
    since: str | None = typer.Option(None, "--since", help="YYYY-MM-DD"),
    limit: int = typer.Option(200, "--limit", min=1, max=100000),
    as_json: AsJson = False,
) -> None:
    """The append-only audit trail (sign-on, decisions, voids, captures, runs); `verify` checks it."""
    if ctx.invoked_subcommand is not None:
        return
    engine, reader = signed_engine()
    rows = engine.audit_trail(reader, parse_date(since), limit)
    if as_json:
        print_json(rows)
        return
    for r in rows:
        at, who, what, oid = r["at"], r["actor"], r["action"], r["order_id"] or ""
        shown = render_detail(r["detail"])
        out.print(f"{at:%Y-%m-%d %H:%M:%S} {who:<8} {what:<18} {oid:>7} {shown}", markup=False, highlight=False)


@audit_app.command(
    "verify",
    help="Check the hash chain (supervisors): the first broken link and exit 5, or the "
    "head hash to keep outside the database (a rewritten chain shows as another head).",
)
def audit_verify(
    expect: str = typer.Option(
        "",
        "--expect",
        help="A head hash printed by an earlier verify and kept outside the database: it must still be in the chain.",
    ),
    as_json: AsJson = False,
) -> None:
    """Walk the chain; print the head hash so it can be recorded elsewhere (and checked with --expect)."""
    expect = expect.strip().lower()
    if expect and (len(expect) != 64 or any(c not in "0123456789abcdef" for c in expect)):
        raise CliError("--expect: a head hash of 64 hexadecimal characters, as verify prints it")
    engine, who = signed_engine()
    check = engine.verify_audit(who, expect or None)
    if as_json:
        print_json(
            {
                "ok": check.ok,
                "checked": check.checked,
                "head_hash": check.head_hash,
                "broken_id": check.broken_id,
                "reason": check.reason,
            }
        )
    elif check.ok:
        out.print(f"audit chain intact: {check.checked} records, head {check.head_hash}", markup=False, soft_wrap=True)
    elif check.broken_id is not None:
        error(
            f"audit chain broken at record {check.broken_id}: {check.reason} ({check.checked} records intact before it)"
        )
    else:
        error(f"audit chain broken: {check.reason}")
    if not check.ok:
        raise typer.Exit(5)


# -- operators ------------------------------------------------------------------------------------
@operator_app.command("add")
def operator_add(name: str, supervisor: bool = typer.Option(False, "--supervisor")) -> None:
    """Create an operator (supervisors); the password is asked twice (or two lines from stdin)."""
    from d400tui.engine.operators import add_operator, require_supervisor

    _, db, who = signed_db()
    require_supervisor(who)  # before the new password is asked for
    op = add_operator(db, who, name, password_twice(), supervisor)
    out.print(f"operator {op.name} created{' (supervisor)' if op.supervisor else ''}")


@operator_app.command("unlock")
def operator_unlock(name: str) -> None:
    """Unlock an account locked after repeated sign-on failures (supervisors)."""
    from d400tui.engine.operators import unlock_operator

    _, db, who = signed_db()
    unlock_operator(db, who, name)
    out.print(f"operator {clean(name, 10).upper()} unlocked")


@operator_app.command("list")
def operator_list(as_json: AsJson = False) -> None:
    """Operators, their rights, failure counts and locks (supervisors)."""
    from d400tui.engine.operators import list_operators

    _, db, who = signed_db()
    print_rows(
        list_operators(db, who),
        as_json,
        Table("Opérateur", "Superviseur", "Échecs", "Verrouillé"),
        lambda o: (o.name, "oui" if o.supervisor else "", str(o.failures), "oui" if o.locked else ""),
    )
