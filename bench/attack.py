"""An attacker's harness against a fresh installation, through the real `d400` command and servers.

    python -m bench.attack [--only NAME_PART] [--idle-wait 30]

Each attack is one function returning (held, one line of evidence); the script prints one line per
attack and `N tried, N held, N broken`, and always exits 0 (a bench, not a test). Attacks on a
behaviour issue 9 asks for (`d400 db init --admin`, `d400 audit verify`, HTTP 422 on a reused key…)
are written against that interface and report broken until it exists. Concurrency attacks also run
on PostgreSQL: the server D400_TEST_PG_URL names, or a throw-away one (tests/support/pg.py)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import re
import resource
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool
from stdnum import luhn

from bench._servers import free_port, subprocess_server

ROOT = Path(__file__).resolve().parents[1]
PAN, EXPIRY = "4970100000000014", "12/30"  # the simulator's approving test card
SLOW_PAN = "4970100000000105"  # approves after 2 s
PASSWORDS = {"ADMIN": "admin-pass-2026", "CLERK": "clerk-pass-2026", "VICTIM": "victim-pass-2026"}
SEPARATORS = {
    "none": "",
    "space": " ",
    "tab": "\t",
    "nbsp": "\u00a0",
    "dash": "-",
    "dot": ".",
    "slash": "/",
    "underscore": "_",
    # found by an outside attack after the first fixes: punctuation kept numbers whole
    "comma": ",",
    "colon": ":",
    "plus": "+",
    "pipe": "|",
    "hash": "#",
    "apostrophe": "'",
    "parens": ")(",
}
EXCEPTION_NAME = re.compile(r"Traceback|unexpected error|\b\w+(Error|Exception)\b|validation error for")
IDLE_WAIT = 30.0  # seconds an idle ISO 8583 connection may stay open before the host closes it

Outcome = tuple[bool, str]
ATTACKS: list[tuple[str, Callable[[], Outcome]]] = []


class Skip(Exception):
    """The attack cannot run here (say why); not counted."""


def attack(fn: Callable[[], Outcome]) -> Callable[[], Outcome]:
    ATTACKS.append((fn.__name__, fn))
    return fn


def fresh_pan() -> str:
    """A Luhn-valid 16-digit number of its own, so one attack's leak never shows in another's grep."""
    body = f"497012{uuid.uuid4().int % 10**9:09d}"
    return body + luhn.calc_check_digit(body)


def grouped(pan: str, sep: str) -> str:
    return sep.join(pan[i : i + 4] for i in range(0, len(pan), 4))


def pan_pattern(pan: str) -> re.Pattern[bytes]:
    """The digits of `pan` in order with up to 3 non-digit bytes between each (any separator)."""
    return re.compile(rb"\D{0,3}".join(d.encode() for d in pan))


def identity(who: str | None) -> dict[str, str]:
    """CLI identity of "NAME" (its password in PASSWORDS) or "NAME:password"; None: none."""
    if not who:
        return {}
    name, _, password = who.partition(":")
    return {"D400_OPERATOR": name, "D400_PASSWORD": password or PASSWORDS[name]}


@dataclass
class Run:
    rc: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err

    @property
    def errors(self) -> list[str]:
        """Standard error less the progress bars."""
        return [ln for ln in self.err.splitlines() if ln.strip() and "━" not in ln and ln[:1] not in "╭╰"]

    def clean(self) -> bool:
        """A refusal as the README promises: one line, no traceback, no exception class name."""
        return not EXCEPTION_NAME.search(self.text) and len(self.errors) <= 1

    def line(self) -> str:
        """The telling line: d400's own error, else the message in Typer's box, else the first."""
        errors = self.errors
        boxed = [ln.strip("│ ") for ln in errors if ln.startswith("│")]
        mine = [ln for ln in errors if ln.startswith("d400:")]
        return (mine or boxed or errors or self.out.strip().splitlines() or ["(no output)"])[0][:110]


# -- a fresh installation ----------------------------------------------------------------------
class Install:
    """A temporary D400_HOME with its own database (SQLite, or a new PostgreSQL database), an ADMIN
    supervisor made by the bootstrap issue 9 describes (today: `operator add`), and a CLERK."""

    def __init__(self, pg_base: str | None = None) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="d400-attack-"))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("D400_")}
        self.env.update(
            D400_HOME=str(self.home),
            D400_CONFIG=str(self.home / "absent.toml"),
            D400_LANG="en",
            D400_ACQUIRER_TIMEOUT="5",
            PYTHONPATH=str(ROOT),
        )
        self.url = f"sqlite:///{self.home}/d400.db"
        self.pg_name = None
        if pg_base:
            self.pg_name = f"d400a_{uuid.uuid4().hex[:8]}"
            with _admin(pg_base) as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{self.pg_name}"')
            self.url = make_url(pg_base).set(database=self.pg_name).render_as_string(hide_password=False)
            self.env["D400_DB_URL"] = self.url
        self._db = None
        pw = PASSWORDS["ADMIN"]
        if self.d400("db", "init", "--admin", "ADMIN", stdin=f"{pw}\n{pw}\n").rc != 0:
            self.d400("operator", "add", "ADMIN", "--supervisor", stdin=f"{pw}\n{pw}\n")
        self.add_operator("CLERK")

    def d400(self, *argv: str, stdin: str = "", who: str | None = None, env: dict[str, str] | None = None) -> Run:
        p = self.popen(*argv, stdin=stdin, who=who, env=env)
        out, err = p.communicate(timeout=120)
        return Run(p.returncode, out, err)

    def popen(
        self, *argv: str, stdin: str = "", who: str | None = "ADMIN", env: dict[str, str] | None = None
    ) -> subprocess.Popen[str]:
        """`python -m d400tui ARGV` in the background (`finish` collects it), its input from a file."""
        feed = tempfile.TemporaryFile("w+")
        feed.write(stdin)
        feed.seek(0)
        return subprocess.Popen(
            [sys.executable, "-m", "d400tui", *argv],
            stdin=feed,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**self.env, **identity(who), **(env or {})},
            cwd=ROOT,
        )

    def add_operator(self, name: str) -> Run:
        pw = PASSWORDS[name]
        return self.d400("operator", "add", name, stdin=f"{pw}\n{pw}\n", who="ADMIN")

    def sql(self, statement: str, **params: object) -> list[tuple]:  # type: ignore[type-arg]
        """The database owner's own SQL (a connection per call: none stays open between commands)."""
        if self._db is None:
            self._db = create_engine(self.url.replace("postgresql://", "postgresql+psycopg://", 1), poolclass=NullPool)
        with self._db.begin() as conn:
            res = conn.execute(text(statement), params)
            return [tuple(r) for r in res] if res.returns_rows else []

    def order(self, pan: str = PAN, method: str = "card", who: str = "ADMIN") -> int:
        """A validated order (approved on the test card); returns its number."""
        r = self.d400(
            "order",
            "new",
            "--customer",
            "100001",
            "--line",
            "BON0001:1",
            "--expiry",
            EXPIRY,
            "--method",
            method,
            "--json",
            stdin=f"{pan}\n",
            who=who,
        )
        found = re.search(r'"order":\s*(\d+)', r.out)
        if not found:
            raise Skip(f"could not place an order: {r.line()}")
        return int(found.group(1))

    def files(self) -> bytes:
        return b"".join(p.read_bytes() for p in self.home.glob("*") if p.is_file())

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()
        if self.pg_name:
            with _admin(PG_BASE) as conn:  # type: ignore[arg-type]
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')
        shutil.rmtree(self.home, ignore_errors=True)


@contextlib.contextmanager
def _admin(url: str):  # type: ignore[no-untyped-def]
    eng = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    try:
        with eng.connect() as conn:
            yield conn
    finally:
        eng.dispose()


PG_BASE: str | None = None
_installs: dict[str, Install] = {}


def finish(procs: list[subprocess.Popen[str]]) -> list[int]:
    for p in procs:
        p.communicate(timeout=120)
    return [p.returncode for p in procs]


def inst(kind: str = "sqlite") -> Install:
    """The shared installation of a kind ('sqlite', 'postgres'); attacks that need a clean one
    build their own Install."""
    if kind == "postgres" and not PG_BASE:
        raise Skip("no PostgreSQL")
    if kind not in _installs:
        _installs[kind] = Install(PG_BASE if kind == "postgres" else None)
    return _installs[kind]


def refused(r: Run) -> Outcome:
    return r.rc != 0 and r.clean(), f"exit {r.rc}: {r.line()}"


# -- 1. identity -------------------------------------------------------------------------------
def refused_to(who: str | None, *argv: str) -> Outcome:
    """`argv` run as `who` (None: no identity) must be refused in one line; `{order}` in argv is an
    existing order's number; stdin carries a password twice for `operator add`."""
    i = inst()
    if any("{order}" in a for a in argv):
        argv = tuple(a.format(order=i.order(method="cheque")) for a in argv)
    return refused(i.d400(*argv, who=who, stdin="evil-pass-2026\n" * 2))


for _name, _who, _argv in (
    ("anon_order_list", None, "order list"),
    ("anon_order_show", None, "order show {order}"),
    ("anon_audit", None, "audit"),
    ("anon_customer_list", None, "customer list"),
    ("anon_article_list", None, "article list"),
    ("anon_db_demo", None, "db demo --orders 1"),
    ("anon_order_cancel", None, "order cancel {order} --reason x"),
    ("anon_order_delete", None, "order delete {order}"),
    ("anon_order_decide", None, "order decide {order} release"),
    ("anon_capture", None, "capture"),
    ("anon_precheck", None, "precheck"),
    ("anon_reconcile", None, "reconcile"),
    ("anon_order_new", None, "order new --customer 100001 --line BON0001:1 --method cheque"),
    ("anon_operator_add", None, "operator add EVIL2"),
    ("clerk_operator_add_supervisor", "CLERK", "operator add EVIL3 --supervisor"),
    ("clerk_operator_add", "CLERK", "operator add EVIL4"),
    ("wrong_password_order_list", "ADMIN:guess-1234", "order list"),
    ("clerk_capture", "CLERK", "capture"),
    ("clerk_precheck", "CLERK", "precheck"),
    # found by an outside attack after the fixes: the listing named every operator's actions
    ("clerk_audit_list", "CLERK", "audit --json"),
    ("clerk_audit_verify", "CLERK", "audit verify"),
    ("clerk_stats", "CLERK", "stats --json"),
    ("clerk_operator_list", "CLERK", "operator list"),
    ("order_number_20_digits", "ADMIN", "order show 12345678901234567890"),
):
    ATTACKS.append((_name, partial(refused_to, _who, *_argv.split())))


@attack
def anon_operator_add_supervisor() -> Outcome:
    i = inst()
    i.d400("operator", "add", "EVIL1", "--supervisor", stdin="evil-pass-1\nevil-pass-1\n")
    r = i.d400("capture", who="EVIL1:evil-pass-1")
    return r.rc != 0, f"then capture as EVIL1: exit {r.rc}: {r.line()}"


def unlock_locked(who: str | None) -> Outcome:
    """VICTIM locked after 5 failures; `operator unlock` by `who` (None: no identity)."""
    i = inst()
    if not i.sql("SELECT 1 FROM operators WHERE name = 'VICTIM'"):
        i.add_operator("VICTIM")
    i.sql("UPDATE operators SET locked = :t, failures = 5 WHERE name = 'VICTIM'", t=True)
    r = i.d400("operator", "unlock", "VICTIM", who=who)
    locked = bool(i.sql("SELECT locked FROM operators WHERE name = 'VICTIM'")[0][0])
    return locked, f"exit {r.rc}, VICTIM {'still locked' if locked else 'unlocked'}: {r.line()}"


ATTACKS += [
    ("anon_operator_unlock", partial(unlock_locked, None)),
    ("clerk_operator_unlock", partial(unlock_locked, "CLERK")),
]


@attack
def bootstrap_again() -> Outcome:
    """`db init --admin` on a database that has a supervisor must not make a second one."""
    i = inst()
    i.d400("db", "init", "--admin", "EVIL5", stdin="evil-pass-5\n" * 2)
    r = i.d400("capture", who="EVIL5:evil-pass-5")
    return r.rc != 0, f"capture as EVIL5: exit {r.rc}: {r.line()}"


# -- 2. lock-out -------------------------------------------------------------------------------
def parallel_wrong_passwords(kind: str) -> Outcome:
    """16 sign-ons at once, 15 with a wrong password: the account must end locked."""
    i = inst(kind)
    name = f"RACE{kind[:2].upper()}"
    PASSWORDS[name] = "race-pass-2026"
    i.add_operator(name)
    procs = [i.popen("reconcile", who=name if n == 7 else f"{name}:wrong-pass") for n in range(16)]
    rcs = finish(procs)
    failures, locked = i.sql("SELECT failures, locked FROM operators WHERE name = :n", n=name)[0]
    return bool(locked), f"15 wrong + 1 right at once: failures={failures} locked={bool(locked)} right exit={rcs[7]}"


ATTACKS.append(("parallel_wrong_passwords_sqlite", partial(parallel_wrong_passwords, "sqlite")))
ATTACKS.append(("parallel_wrong_passwords_postgres", partial(parallel_wrong_passwords, "postgres")))


@attack
def long_password_prefix() -> Outcome:
    i = inst()
    PASSWORDS["LONGPW"] = "p" * 128
    i.add_operator("LONGPW")
    r = i.d400("reconcile", who="LONGPW:" + "p" * 128 + "anything")
    return r.rc != 0, f"128-char password + 'anything': reconcile exit {r.rc}: {r.line()}"


@attack
def unknown_and_wrong_same_message() -> Outcome:
    i = inst()
    a, b = i.d400("reconcile", who="NOBODY:whatever-1"), i.d400("reconcile", who="CLERK:whatever-1")
    return a.err == b.err and a.rc != 0, f"unknown: {a.line()[:50]} / wrong: {b.line()[:50]}"


# -- 3. card numbers in free text, arguments and echoes ------------------------------------------
def leak_evidence(i: Install, pan: str, typed: str, outputs: str) -> Outcome:
    pat = pan_pattern(pan)
    where = [w for w, blob in (("outputs", outputs.encode()), ("files", i.files())) if pat.search(blob)]
    return not where, f"{typed!r}: full number found in {', '.join(where)}" if where else f"{typed!r}: masked"


def cancel_reason(sep: str) -> Outcome:
    i = inst()
    n = i.order(method="cheque")
    pan = fresh_pan()
    typed = f"card {grouped(pan, sep)} refused"
    r = i.d400("order", "cancel", str(n), "--reason", typed, who="ADMIN")
    shown = i.d400("order", "show", str(n), "--json", who="ADMIN").text + i.d400("audit", "--json", who="ADMIN").text
    return leak_evidence(i, pan, typed, r.text + shown)


for _sep_name, _sep in SEPARATORS.items():
    ATTACKS.append((f"cancel_reason_pan_{_sep_name}", partial(cancel_reason, _sep)))


def search_text(sep: str) -> Outcome:
    i, pan = inst(), fresh_pan()
    typed = grouped(pan, sep)
    r = i.d400("customer", "list", "--search", typed, who="ADMIN")
    r2 = i.d400("article", "list", "--search", typed, who="ADMIN")
    return leak_evidence(i, pan, typed, r.text + r2.text)


for _sep_name in ("tab", "nbsp", "dot", "underscore"):
    ATTACKS.append((f"search_text_pan_{_sep_name}", partial(search_text, SEPARATORS[_sep_name])))


def argv_echo(*argv: str) -> Outcome:
    """`{pan}` in argv is replaced by a fresh number: it must not come back in any output or file."""
    i, pan = inst(), fresh_pan()
    argv = tuple(a.format(pan=pan, dashed=grouped(pan, "-"), spaced=grouped(pan, " ")) for a in argv)
    return leak_evidence(i, pan, " ".join(argv), i.d400(*argv, who="ADMIN").text)


ATTACKS += [
    ("argv_pan_order_show", partial(argv_echo, "order", "show", "{dashed}")),
    (
        "argv_pan_line",
        partial(argv_echo, "order", "new", "--customer", "100001", "--line", "{pan}:1", "--method", "cheque"),
    ),
    ("argv_pan_date", partial(argv_echo, "capture", "--date", "{pan}")),
    ("argv_pan_customer", partial(argv_echo, "order", "list", "--customer", "{spaced}")),
    ("argv_pan_operator_name", partial(argv_echo, "operator", "add", "{pan}")),
]


def no_escape(r: Run, what: str) -> Outcome:
    return "\x1b" not in r.text and "\x07" not in r.text, f"{what}: exit {r.rc}: {r.line()!r}"


def argv_escape(*argv: str) -> Outcome:
    return no_escape(inst().d400(*argv, who="ADMIN"), " ".join(argv).encode("unicode_escape").decode()[:40])


ATTACKS += [
    ("argv_escape_order_show", partial(argv_escape, "order", "show", "\x1b]0;owned\x07")),
    ("argv_escape_status", partial(argv_escape, "order", "list", "--status", "\x1b[2J\x1b[31m")),
]


@attack
def cancel_reason_escape() -> Outcome:
    i = inst()
    n = i.order(method="cheque")
    i.d400("order", "cancel", str(n), "--reason", "ok\x1b]0;owned\x07\x1b[2J", who="ADMIN")
    return no_escape(i.d400("audit", who="ADMIN"), "audit after a reason with ESC")


# -- 4-6. cancel, delete and capture racing ----------------------------------------------------
def during_capture_pending(kind: str, verb: str) -> Outcome:
    """A capture sent, its answer not yet recorded (capture_pending): cancel/delete must wait."""
    i = inst(kind)
    n = i.order()
    i.sql("UPDATE authorizations SET capture_pending = :t WHERE order_id = :n", t=True, n=n)
    r = i.d400("order", verb, str(n), *(["--reason", "race"] if verb == "cancel" else []), who="ADMIN")
    status = i.sql("SELECT status FROM orders WHERE id = :n", n=n)[0][0]
    return r.rc != 0 and status not in ("CANCELLED", "DELETED"), f"{verb} exit {r.rc}, order now {status}"


ATTACKS += [
    ("cancel_during_capture_sqlite", partial(during_capture_pending, "sqlite", "cancel")),
    ("delete_during_capture_sqlite", partial(during_capture_pending, "sqlite", "delete")),
    ("cancel_during_capture_postgres", partial(during_capture_pending, "postgres", "cancel")),
]


@attack
def cancel_during_approval_sqlite() -> Outcome:
    """Cancel while the approval is in flight (5 s of issuer latency): no live hold may remain."""
    i = Install()
    try:
        p = i.popen(
            "order",
            "new",
            "--customer",
            "100001",
            "--line",
            "BON0001:1",
            "--expiry",
            EXPIRY,
            stdin=f"{PAN}\n",
            env={"D400_SIMULATOR_LATENCY_MS": "5000", "D400_ACQUIRER_TIMEOUT": "20"},
        )
        deadline, rows = time.monotonic() + 15, []
        while not rows and time.monotonic() < deadline:
            time.sleep(0.1)
            rows = i.sql("SELECT order_id FROM authorizations WHERE state = 'REQUESTED'")
        if not rows:
            p.kill()
            raise Skip("no authorization in flight seen")
        n = rows[0][0]
        c = i.d400("order", "cancel", str(n), "--reason", "race", who="ADMIN")
        finish([p])
        live = (
            sqlite3.connect(i.home / "simulator.db")
            .execute("SELECT count(*) FROM holds WHERE state = 'APPROVED'")
            .fetchone()[0]
        )
        status = i.sql("SELECT status FROM orders WHERE id = :n", n=n)[0][0]
        return not (status == "CANCELLED" and live), f"cancel exit {c.rc}, order {status}, live holds at issuer {live}"
    finally:
        i.close()


def two_captures(kind: str) -> Outcome:
    if kind == "postgres" and not PG_BASE:
        raise Skip("no PostgreSQL")
    i = Install(PG_BASE if kind == "postgres" else None)
    try:
        i.d400("db", "demo", "--orders", "200", who="ADMIN")
        i.d400("precheck", who="ADMIN")  # authorizes what is due: the captures then have work to share
        procs = [i.popen("capture", env={"D400_SIMULATOR_LATENCY_MS": "30"}) for _ in range(2)]
        rcs = finish(procs)
        runs = i.sql("SELECT count(*), count(finished_at) FROM precheck_runs WHERE kind = 'CAPTURE'")[0]
        return rcs == [0, 0] and runs[0] == runs[1], f"exits {rcs}, capture runs {runs[0]}, finished {runs[1]}"
    finally:
        i.close()


ATTACKS.append(("two_captures_at_once_sqlite", partial(two_captures, "sqlite")))
ATTACKS.append(("two_captures_at_once_postgres", partial(two_captures, "postgres")))


# -- 7. audit trail ------------------------------------------------------------------------------
def db_owner(kind: str, statement: str) -> Outcome:
    """The database owner's own SQL on the audit table: the database must refuse it."""
    i = inst(kind)
    before = i.sql("SELECT count(*), max(actor) FROM audit")[0]
    try:
        i.sql(statement)
    except Exception as exc:  # noqa: BLE001 - the refusal is what we hope for
        return True, f"refused: {str(exc).splitlines()[0][:80]}"
    after = i.sql("SELECT count(*), max(actor) FROM audit")[0]
    return False, f"accepted: rows/actor {before} -> {after}"


ATTACKS += [
    ("audit_delete_sqlite", partial(db_owner, "sqlite", "DELETE FROM audit")),
    ("audit_update_sqlite", partial(db_owner, "sqlite", "UPDATE audit SET actor = 'NOBODY'")),
    (
        "audit_replace_sqlite",
        partial(
            db_owner,
            "sqlite",
            "REPLACE INTO audit (id, at, actor, action, order_id, detail)"
            " SELECT id, at, 'ZZNOBODY', action, order_id, detail FROM audit",
        ),
    ),
    ("audit_delete_postgres", partial(db_owner, "postgres", "DELETE FROM audit")),
    ("audit_truncate_postgres", partial(db_owner, "postgres", "TRUNCATE audit")),
]


def verify_after(tamper: Callable[[sqlite3.Connection], None], what: str) -> Outcome:
    """`d400 audit verify` passes on the untouched trail, then names the break the owner made."""
    i = Install()
    try:
        i.order(method="cheque")
        ok = i.d400("audit", "verify", who="ADMIN")
        with contextlib.closing(sqlite3.connect(i.home / "d400.db")) as db:
            for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit'"):
                db.execute(f'DROP TRIGGER "{name}"')  # the owner can drop triggers: only a chain shows it
            try:
                tamper(db)
            except sqlite3.Error as exc:
                return True, f"{what}: refused by the database ({exc})"
            db.commit()
        bad = i.d400("audit", "verify", who="ADMIN")
        return ok.rc == 0 and bad.rc != 0, f"{what}: before exit {ok.rc}, after exit {bad.rc}: {bad.line()[:70]}"
    finally:
        i.close()


ATTACKS += [
    (
        "audit_verify_edited_row",
        partial(
            verify_after,
            lambda db: db.execute("UPDATE audit SET actor = 'NOBODY' WHERE id = (SELECT min(id) + 1 FROM audit)"),
            "one actor rewritten",
        ),
    ),
    (
        "audit_verify_deleted_row",
        partial(
            verify_after,
            lambda db: db.execute("DELETE FROM audit WHERE id = (SELECT min(id) + 1 FROM audit)"),
            "one row deleted",
        ),
    ),
    (
        "audit_verify_forged_row",
        partial(
            verify_after,
            lambda db: db.execute(
                "INSERT INTO audit (at, actor, action, order_id, detail) SELECT at, 'ADMIN', 'CAPTURE', NULL, '{}' "
                "FROM audit WHERE id = (SELECT max(id) FROM audit)"
            ),
            "a forged row appended",
        ),
    ),
]


# -- 8. simulator state, file modes -------------------------------------------------------------
@attack
def simulator_state_brute_force() -> Outcome:
    """First 6 / last 4 from the order database and the card hash from the issuer's state file."""
    i = inst()
    i.order()
    first6, last4 = i.sql("SELECT card_first6, card_last4 FROM authorizations LIMIT 1")[0]
    with contextlib.closing(sqlite3.connect(i.home / "simulator.db")) as db:
        try:
            hashes = {h for (h,) in db.execute("SELECT card_hash FROM vault")}
        except sqlite3.Error:
            return True, "no card hash column in the state file"
    salts = (b"d400-simulated-issuer", b"")  # the salt anyone reads in today's source, and none
    t0 = time.perf_counter()
    for middle in range(10 ** (16 - len(first6) - len(last4))):
        pan = f"{first6}{middle:06d}{last4}".encode()
        for salt in salts:
            if hashlib.sha256(salt + pan).hexdigest() in hashes:
                return False, f"recovered {pan.decode()[:6]}…{pan.decode()[-4:]} in {time.perf_counter() - t0:.1f} s"
    return True, f"10^6 candidates tried in {time.perf_counter() - t0:.1f} s, none matched"


def file_mode(pattern: str) -> Outcome:
    i = inst()
    if not (i.home / "simulator.db").exists():
        i.order()  # the issuer's state file is made by its first authorization
    files = [p for p in i.home.glob(pattern) if p.is_file() and p.name != "absent.toml"]
    if not files:
        raise Skip(f"no {pattern}")
    loose = [f"{p.name} {p.stat().st_mode & 0o777:o}" for p in files if p.stat().st_mode & 0o077]
    return not loose, ", ".join(loose) or f"{len(files)} file(s) 0600"


ATTACKS += [
    (f"file_mode_{name}", partial(file_mode, pattern))
    for name, pattern in (
        ("database", "d400.db*"),
        ("simulator_state", "simulator.db*"),
        ("log", "d400.log*"),
        ("any", "*"),
    )
]


# -- 9-11. the servers ---------------------------------------------------------------------------
@contextlib.contextmanager
def served(protocol: str, **settings: str):  # type: ignore[no-untyped-def]
    """`d400 acquirer serve` on a free port with its own issuer state file (and D400_* settings)."""
    port = free_port()
    with tempfile.TemporaryDirectory() as d:
        env = {
            "D400_HOME": d,
            "D400_CONFIG": f"{d}/absent.toml",
            "PYTHONPATH": str(ROOT),
            "D400_ACQUIRER_KEY": "",
            **{f"D400_{k.upper()}": v for k, v in settings.items()},
        }
        argv = [sys.executable, "-m", "d400tui", "acquirer", "serve", "--protocol", protocol, "--port", str(port)]
        with subprocess_server(argv, port, env):
            yield port


def http_authorize(port: int, key: str, amount: str, pan: str = PAN, body: bytes | None = None) -> httpx.Response:
    payload = body if body is not None else json.dumps({"card": {"pan": pan, "expiry": EXPIRY}, "amount": amount})
    return httpx.post(
        f"http://127.0.0.1:{port}/v1/authorizations",
        content=payload,
        timeout=30,
        headers={"Idempotency-Key": key, "Content-Type": "application/json"},
    )


def http_reuse(second_amount: str, second_pan: str) -> Outcome:
    with served("http") as port:
        key = uuid.uuid4().hex
        a = http_authorize(port, key, "10.00")
        b = http_authorize(port, key, second_amount, second_pan)
    if (second_amount, second_pan) == ("10.00", PAN):
        return b.status_code == 200 and a.json() == b.json(), f"identical request: {b.status_code}, same answer"
    return b.status_code == 422, f"same key, {second_amount} EUR card …{second_pan[-4:]}: {b.status_code} {b.text[:60]}"


ATTACKS += [
    ("http_key_reuse_other_amount", partial(http_reuse, "4000.00", PAN)),
    ("http_key_reuse_other_card", partial(http_reuse, "10.00", "5130100000000018")),
    ("http_key_reuse_identical_replays", partial(http_reuse, "10.00", PAN)),
]


def iso_reuse(second_amount: str) -> Outcome:
    from d400tui.acquirers.base import PaymentSource
    from d400tui.acquirers.iso8583 import Iso8583Acquirer
    from d400tui.domain.cards import CardData, parse_expiry

    async def go(port: int):  # type: ignore[no-untyped-def]
        acq = Iso8583Acquirer("127.0.0.1", port, timeout_s=10)
        src, key = PaymentSource(card=CardData(PAN, parse_expiry(EXPIRY))), uuid.uuid4().hex
        try:
            first = await acq.authorize(src, Decimal("10.00"), key)
            return first, await acq.authorize(src, Decimal(second_amount), key)
        finally:
            await acq.close()

    with served("iso8583") as port:
        a, b = asyncio.run(go(port))
    if second_amount == "10.00":
        return a == b, f"identical request: {b.outcome} {b.code} ref {b.reference}"
    return b.code != "00", f"same key, {second_amount} EUR: {b.outcome} code {b.code} ref {b.reference == a.reference}"


ATTACKS += [
    ("iso8583_key_reuse_other_amount", partial(iso_reuse, "4000.00")),
    ("iso8583_key_reuse_identical_replays", partial(iso_reuse, "10.00")),
]


@attack
def http_oversized_body() -> Outcome:
    with served("http") as port:
        r = http_authorize(port, uuid.uuid4().hex, "", body=b'{"pad": "' + b"x" * 2_000_000 + b'"}')
    return r.status_code == 413, f"2 MB body: {r.status_code}"


@attack
def http_deep_nesting() -> Outcome:
    with served("http") as port:
        # 10,000 levels of objects fit under the 64 kB body limit: the parser itself must refuse them cleanly
        r = http_authorize(port, uuid.uuid4().hex, "", body=b'{"a":' * 10_000 + b"1" + b"}" * 10_000)
        alive = httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=10).status_code
    seen = f"10,000 nested objects: {r.status_code} {r.text[:40]!r}, then health {alive}"
    return r.status_code == 400 and alive == 200, seen


@attack
def iso8583_idle_connection() -> Outcome:
    # the host is configured to close a link silent for half the wait (default 300 s): that it does
    with (
        served("iso8583", iso8583_idle_timeout_s=str(IDLE_WAIT / 2)) as port,
        socket.create_connection(("127.0.0.1", port)) as s,
    ):
        s.settimeout(IDLE_WAIT)
        t0 = time.monotonic()
        try:
            closed = s.recv(1) == b""
        except (TimeoutError, OSError):
            closed = False
    return closed, f"idle connection {'closed after' if closed else 'still open after'} {time.monotonic() - t0:.0f} s"


@attack
def iso8583_too_many_connections() -> Outcome:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    socks, refused_n = [], 0
    with served("iso8583") as port:
        for _ in range(2000):
            try:
                socks.append(socket.create_connection(("127.0.0.1", port), timeout=2))
            except OSError:
                refused_n += 1
        time.sleep(1.0)
        closed = 0
        for s in socks:
            s.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                closed += s.recv(1) == b""
            s.close()
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return closed + refused_n > 0, f"2,000 connections: {refused_n} refused, {closed} closed by the host"


# -- 10. any failure reaches the operator as one line --------------------------------------------
@contextlib.contextmanager
def fake_acquirer(answer: bytes):  # type: ignore[no-untyped-def]
    """An HTTP "acquirer" answering `answer` (200, application/json) to every request."""

    class Handler(BaseHTTPRequestHandler):
        def _reply(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_GET = do_POST = _reply

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def acquirer_answers(answer: bytes) -> Outcome:
    i = inst()
    with fake_acquirer(answer) as port:
        r = i.d400(
            "order",
            "new",
            "--customer",
            "100001",
            "--line",
            "BON0001:1",
            "--expiry",
            EXPIRY,
            stdin=f"{PAN}\n",
            who="ADMIN",
            env={"D400_ACQUIRER": "http", "D400_ACQUIRER_URL": f"http://127.0.0.1:{port}"},
        )
    return r.clean() and r.rc in (2, 3), f"answer {answer.decode()}: exit {r.rc}: {r.line()}"


ATTACKS += [
    ("acquirer_answers_json_list", partial(acquirer_answers, b"[]")),
    ("acquirer_answers_json_null", partial(acquirer_answers, b"null")),
]


def bad_setting(var: str, value: str) -> Outcome:
    r = inst().d400("order", "list", who="ADMIN", env={var: value})
    return r.rc != 0 and r.clean() and var in r.text, f"{var}={value}: exit {r.rc}: {r.line()}"


ATTACKS += [
    ("bad_setting_timeout", partial(bad_setting, "D400_ACQUIRER_TIMEOUT", "soon")),
    ("bad_setting_lang", partial(bad_setting, "D400_LANG", "klingon")),
]


@attack
def sql_in_search_text() -> Outcome:
    r = inst().d400("customer", "list", "--search", "' OR 1=1 --", "--json", who="ADMIN")
    rows = json.loads(r.out or "[]") if r.rc == 0 else []
    return r.rc == 0 and not rows, f'search "\' OR 1=1 --": exit {r.rc}, {len(rows)} rows'


# -- the run -------------------------------------------------------------------------------------
def main() -> None:
    global PG_BASE, IDLE_WAIT
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default="", help="run the attacks whose name contains this")
    p.add_argument("--idle-wait", type=float, default=IDLE_WAIT, help="seconds an idle ISO 8583 link may live")
    args = p.parse_args()
    IDLE_WAIT = args.idle_wait
    sys.path.insert(0, str(ROOT))
    from tests.support import pg

    PG_BASE = pg.base_url()
    held = broken = 0
    t0 = time.monotonic()
    try:
        for name, fn in ATTACKS:
            if args.only not in name:
                continue
            try:
                ok, evidence = fn()
            except Skip as exc:
                print(f"{'skipped':<7} {name:<36} {exc}", flush=True)
                continue
            except Exception as exc:  # noqa: BLE001 - counted as broken, marked as the harness's own failure
                ok, evidence = False, f"harness error {type(exc).__name__}: {str(exc)[:80]}"
            held, broken = held + ok, broken + (not ok)
            print(f"{'held' if ok else 'BROKEN':<7} {name:<36} {evidence}", flush=True)
    finally:
        for i in _installs.values():
            i.close()
        pg.stop()
    print(f"{held + broken} tried, {held} held, {broken} broken ({time.monotonic() - t0:.0f} s)")


if __name__ == "__main__":
    main()
