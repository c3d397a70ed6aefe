"""Identity (issue 9, point 1): nobody reads or changes data without signing on, the first
supervisor comes only from an explicit bootstrap, and user administration is for supervisors,
checked in the engine. Through the `d400` command (`main`, in the test process) on SQLite and PostgreSQL.

Each of these failed on the code before this change: `d400 operator add --supervisor` ran with
no identity, `order list`/`audit`/`customer list`/`db demo` ran without sign-on, and opening any
empty database created OPER1/SUPER1 with the README's passwords."""

from __future__ import annotations

import contextlib
import os
import subprocess

import pytest

from d400tui.config import Settings
from d400tui.store.db import Database
from tests.support import cli

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def bare(db_url: str, tmp_path, monkeypatch) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The environment of a fresh installation: an empty database, nobody signed on."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("D400_")}
    env.update(
        D400_HOME=str(tmp_path),
        D400_CONFIG=str(tmp_path / "absent.toml"),
        D400_DB_URL=db_url,
        D400_ACQUIRER_TIMEOUT="0.5",
        COLUMNS="200",
        PYTHONPATH=ROOT,
    )
    return env


def d400(
    env: dict[str, str],
    *args: str,
    stdin: str = "",
    who: tuple[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`d400 ARGS` in this process with exactly `env`'s D400_* variables (its output and exit code)."""
    e = dict(env)
    if who:
        e.update(D400_OPERATOR=who[0], D400_PASSWORD=who[1])
    return cli.run(list(args), stdin, cli.as_environment(e))


def one_line(r: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert r.returncode != 0, (r.args, r.stdout)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("d400: "), r.stderr
    for n in needles:
        assert n in lines[0], (r.args, lines[0])
    return lines[0]


def operators(url: str) -> list[tuple[str, bool]]:
    from sqlalchemy import inspect, select

    from d400tui.store import tables as t

    db = Database(url)
    try:
        if "operators" not in inspect(db.engine).get_table_names():
            return []
        with db.engine.connect() as conn:
            return [
                (r[0], bool(r[1]))
                for r in conn.execute(select(t.operators.c.name, t.operators.c.supervisor).order_by(t.operators.c.name))
            ]
    finally:
        db.dispose()


BOSS = ("BOSS", "boss-password")
CLERK = ("CLERK", "clerk-password")
DATA_COMMANDS = [
    ["order", "list"],
    ["order", "show", "1"],
    ["audit"],
    ["customer", "list"],
    ["article", "list"],
    ["db", "demo", "--orders", "1"],
    ["precheck"],
    ["capture"],
    ["reconcile"],
    ["operator", "list"],
    ["operator", "unlock", "BOSS"],
    ["order", "decide", "1", "block"],
    ["order", "cancel", "1", "--reason", "x"],
    ["order", "delete", "1"],
    ["acquirer", "check"],
]


def test_no_supervisor_without_an_explicit_bootstrap(bare: dict[str, str], db_url: str) -> None:
    # anyone who can run d400 tried to make himself supervisor on the empty database
    one_line(
        d400(bare, "operator", "add", "EVIL", "--supervisor", stdin="evil-password\nevil-password\n"), "d400 db init"
    )
    assert operators(db_url) == []
    # opening the database the way every command and the TUI's engine do creates nobody either
    from d400tui.engine import open_engine

    engine = open_engine(Settings(db_url=db_url, _env_file=None))  # type: ignore[call-arg]
    engine.db.dispose()
    assert operators(db_url) == []
    one_line(d400(bare, "order", "list", who=("OPER1", "oper1-demo")), "incorrect")
    # the explicit bootstrap: password twice, then refused as soon as an operator exists
    one_line(d400(bare, "db", "init", "--admin", "BOSS", stdin="boss-password\nother-password\n"), "differ")
    assert operators(db_url) == []
    r = d400(bare, "db", "init", "--admin", "BOSS", stdin="boss-password\nboss-password\n")
    assert r.returncode == 0 and "supervisor BOSS created" in r.stdout, r.stderr
    one_line(d400(bare, "db", "init", "--admin", "EVIL", stdin="evil-password\nevil-password\n"), "déjà des opérateurs")
    assert operators(db_url) == [("BOSS", True)]
    r = d400(bare, "order", "list", "--json", who=BOSS)
    assert (r.returncode, r.stdout.strip()) == (0, "[]"), r.stderr


def test_every_data_command_signs_on_first(bare: dict[str, str], db_url: str) -> None:
    assert d400(bare, "db", "init", "--admin", "BOSS", stdin="boss-password\nboss-password\n").returncode == 0
    for args in DATA_COMMANDS:
        one_line(d400(bare, *args), "sign on")
    for args in DATA_COMMANDS[:4]:
        one_line(d400(bare, *args, who=("NOBODY", "wrong-password")), "incorrect")
    r = d400(
        bare, "order", "new", "--customer", "100001", "--line", "BON0001:1", "--method", "cheque", "--channel", "MAIL"
    )
    one_line(r, "sign on")
    # nothing of the above reached the data: still no order, one operator
    assert d400(bare, "order", "list", "--json", who=BOSS).stdout.strip() == "[]"
    assert operators(db_url) == [("BOSS", True)]
    # what needs no sign-on: help, and the bootstrap (refused here: the database has an operator)
    assert d400(bare, "--help").returncode == 0 and d400(bare, "operator", "add", "--help").returncode == 0


def test_user_administration_is_for_supervisors(bare: dict[str, str], db_url: str) -> None:
    assert d400(bare, "db", "init", "--admin", "BOSS", stdin="boss-password\nboss-password\n").returncode == 0
    r = d400(bare, "operator", "add", "CLERK", stdin="clerk-password\nclerk-password\n", who=BOSS)
    assert r.returncode == 0, r.stderr
    for args in (
        ["operator", "add", "EVIL", "--supervisor"],
        ["operator", "unlock", "BOSS"],
        ["operator", "list"],
        ["db", "upgrade"],
        ["db", "demo", "--orders", "1"],
    ):
        one_line(d400(bare, *args, stdin="evil-password\nevil-password\n", who=CLERK), "réservé aux superviseurs")
    assert operators(db_url) == [("BOSS", True), ("CLERK", False)]
    r = d400(bare, "operator", "list", "--json", who=BOSS)
    assert r.returncode == 0 and '"locked": false' in r.stdout and "password" not in r.stdout, r.stdout
    assert d400(bare, "db", "upgrade", who=BOSS).returncode == 0
    r = d400(bare, "order", "list", "--json", who=CLERK)  # an operator reads orders once signed on
    assert r.returncode == 0, r.stderr


def test_demo_operators_only_on_the_embedded_default(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The TUI's first run seeds OPER1/SUPER1 on the default SQLite file (the README's first
    command) and on no database someone configured."""
    from d400tui.engine.bootstrap import first_run

    for k in list(os.environ):
        if k.startswith("D400_") and k != "D400_TEST_PG_URL":
            monkeypatch.delenv(k)
    monkeypatch.setenv("D400_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("D400_CONFIG", str(tmp_path / "absent.toml"))
    embedded = Settings()
    first_run(embedded, orders=0)
    assert operators(embedded.database_url) == [("OPER1", False), ("SUPER1", True)]
    configured = Settings(db_url=f"sqlite:///{tmp_path}/configured.db")
    first_run(configured, orders=0)
    assert operators(configured.database_url) == []


def test_two_bootstraps_at_once_make_one_supervisor(db_url: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """`db init --admin` run twice at the same moment: one supervisor, the other refused. Both
    are held after counting the operators (0 for each) so the check-then-insert race is sure to
    be tried."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from d400tui.engine import EngineError
    from d400tui.engine.bootstrap import init_database
    from d400tui.store.repositories import OperatorRepository

    db = Database(db_url)
    db.ensure_schema()  # both start from a migrated, empty database
    real, gate = OperatorRepository.count, threading.Barrier(2, timeout=2)

    def held_count(self, exclusive: bool = False) -> int:  # type: ignore[no-untyped-def]
        n = real(self, exclusive) if exclusive else real(self)
        with contextlib.suppress(threading.BrokenBarrierError):  # a lock holds the other one back
            gate.wait()
        return n

    monkeypatch.setattr(OperatorRepository, "count", held_count)

    def boot(name: str) -> str:
        try:
            return init_database(db, name, "a-long-password").name
        except EngineError as exc:
            return str(exc)

    try:
        with ThreadPoolExecutor(2) as pool:
            answers = sorted(pool.map(boot, ["ADMA", "ADMB"]))
    finally:
        db.dispose()
    made = [a for a in answers if a.startswith("ADM")]
    assert len(made) == 1 and operators(db_url) == [(made[0], True)], answers
