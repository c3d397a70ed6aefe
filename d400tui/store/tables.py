"""Tables on one MetaData, mapped imperatively onto the plain domain classes (domain/ stays
free of SQLAlchemy). Money is integer cents in the database, Decimal euros in Python.

No column can hold a full card number: first 6 / last 4, brand, expiry, and the acquirer's token;
every free-text column is a ScrubbedText, which masks a card number typed into it on the way in."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    TypeDecorator,
    text,
)
from sqlalchemy.orm import composite, registry, relationship

from d400tui.domain import model as m
from d400tui.domain.cards import Brand, MaskedCard
from d400tui.domain.money import from_cents, to_cents
from d400tui.domain.validity import AuthType, Initiator

from . import search_keys as sk
from .types import MessageText, ScrubbedText


class Cents(TypeDecorator[Decimal]):
    """Decimal euros ↔ integer cents: exact on every backend."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value, dialect):  # type: ignore[no-untyped-def]
        return None if value is None else to_cents(value)

    def process_result_value(self, value, dialect):  # type: ignore[no-untyped-def]
        return None if value is None else from_cents(value)


class StrEnumType(TypeDecorator[str]):
    impl = String(20)
    cache_ok = True

    def __init__(self, enum: type) -> None:
        super().__init__()
        self.enum = enum

    def process_bind_param(self, value, dialect):  # type: ignore[no-untyped-def]
        return None if value is None else str(value.value if hasattr(value, "value") else value)

    def process_result_value(self, value, dialect):  # type: ignore[no-untyped-def]
        return None if value is None else self.enum(value)


def _partial(name: str, *columns: str, where: str) -> Index:
    """A partial index, the same predicate text on both databases."""
    return Index(name, *columns, sqlite_where=text(where), postgresql_where=text(where))


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

customers = Table(
    "customers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("name", ScrubbedText(60), nullable=False),
    Column("postcode", String(10), nullable=False),
    Column("city", ScrubbedText(40), nullable=False),
    Column("phone", ScrubbedText(20), nullable=False, default=""),
    # folded copies for the F4 prompts (migration 0006), computed on insert from the row written
    Column("search_key", ScrubbedText(120), nullable=False, default=sk.customer_key_default),
    Column("phone_key", ScrubbedText(20), nullable=False, default=sk.phone_key_default),
    Index("ix_customers_name", "name"),
    Index("ix_customers_postcode", "postcode"),
    Index("ix_customers_search_key", "search_key"),
    Index("ix_customers_phone_key", "phone_key"),
)

articles = Table(
    "articles",
    metadata,
    Column("code", String(12), primary_key=True),
    Column("label", ScrubbedText(80), nullable=False),
    Column("unit_price", Cents, nullable=False),
    Column("vat_rate", Cents, nullable=False),
    Column("search_key", ScrubbedText(120), nullable=False, default=sk.article_key_default),
    Index("ix_articles_search_key", "search_key"),
)

orders = Table(
    "orders",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("customer_id", Integer, ForeignKey("customers.id"), nullable=False),
    Column("channel", StrEnumType(m.Channel), nullable=False),
    Column("payment_method", StrEnumType(m.PaymentMethod), nullable=False),
    Column("plan", String(30), nullable=False),
    Column("status", StrEnumType(m.OrderStatus), nullable=False),
    Column("hold", StrEnumType(m.PaymentHold), nullable=False),
    Column("awaiting_decision", Boolean, nullable=False, default=False),
    Column("total", Cents, nullable=False),
    Column("card_token", String(80)),
    Column("token_acquirer", String(20)),  # who issued the token: its calls go there (0016)
    Column("card_brand", String(12)),
    Column("card_first6", String(6)),
    Column("card_last4", String(4)),
    Column("card_expiry", String(5)),
    Column("card_network", String(12)),  # the network chosen on a co-badged card (0014)
    Column("cancel_reason", MessageText(200)),
    Column("created_by", String(20), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("order_date", Date, nullable=False),
    Column("updated_at", DateTime),
    Column("version", Integer, nullable=False),
    Index("ix_orders_status_id", "status", "id"),
    Index("ix_orders_customer", "customer_id", "id"),
    Index("ix_orders_hold", "hold", "id"),
    # "Commandes en attente de décision": few rows among many, read newest first.
    Index("ix_orders_awaiting", "awaiting_decision", "id"),
    Index("ix_orders_created_by", "created_by", "id"),
    Index("ix_orders_order_date", "order_date", "id"),  # list filters by date (0008)
)

order_lines = Table(
    "order_lines",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("order_id", Integer, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("line_no", Integer, nullable=False),
    Column("article_code", String(12), nullable=False),
    Column("label", ScrubbedText(80), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price", Cents, nullable=False),
    Column("vat_rate", Cents, nullable=False),
)

instalments = Table(
    "instalments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("order_id", Integer, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("amount", Cents, nullable=False),
    Column("state", StrEnumType(m.InstalmentState), nullable=False),
    Column("authorized_until", DateTime),
    Column("auth_pending", Boolean, nullable=False, default=False),
    Column("precheck_run_id", Integer),
    # The capture run that last took it (0015): one run, whichever of its workers, takes it once.
    Column("capture_run_id", Integer),
    # Which batch run the instalment of a validated order belongs to (0008, set by triggers from its
    # order): 'CARD' (phone, card: pre-check and capture), 'OTHER', NULL (order not validated).
    Column("run_scope", String(8)),
    Index("ix_instalments_state_due", "state", "due_date"),
    Index("ix_instalments_order", "order_id", "seq", unique=True),
    # The runs' claims walk the first in id order; their counts and the capture read the second;
    # the third finds a run's claims still in flight. Partial: only what is still due. The second
    # carries the columns the pre-check's count filters on (0019): the count reads no table row.
    _partial("ix_instalments_run_claim", "id", where="state = 'PENDING' AND run_scope = 'CARD'"),
    _partial(
        "ix_instalments_run_due",
        *("run_scope", "due_date", "auth_pending", "precheck_run_id", "authorized_until"),
        where="state = 'PENDING' AND run_scope IS NOT NULL",
    ),
    # (SQLite has no boolean: SQLAlchemy writes the bare column as `= 1` there, so must the index)
    Index(
        "ix_instalments_in_flight",
        "precheck_run_id",
        sqlite_where=text("auth_pending = 1"),
        postgresql_where=text("auth_pending"),
    ),
    # "authorizations expiring within 48 h" of work with orders (0011)
    Index("ix_instalments_authorized_until", "authorized_until"),
)

authorizations = Table(
    "authorizations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("order_id", Integer, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("instalment_id", Integer, ForeignKey("instalments.id", ondelete="CASCADE")),
    Column("kind", StrEnumType(m.AuthKind), nullable=False),
    Column("state", StrEnumType(m.AuthState), nullable=False),
    Column("amount", Cents, nullable=False),
    Column("captured_amount", Cents, nullable=False),
    Column("idempotency_key", String(64), nullable=False, unique=True),
    Column("acquirer", String(20), nullable=False),
    Column("card_brand", StrEnumType(Brand), nullable=False),
    Column("card_first6", String(6), nullable=False),
    Column("card_last4", String(4), nullable=False),
    Column("card_expiry", String(5), nullable=False),
    Column("response_code", String(4)),
    Column("category", StrEnumType(m.Category)),
    Column("label", MessageText(120)),
    Column("auth_code", String(12)),
    Column("acquirer_ref", String(80)),
    Column("requested_at", DateTime),
    Column("answered_at", DateTime),
    Column("expires_at", DateTime),
    Column("void_state", StrEnumType(m.VoidState), nullable=False),
    Column("operator", String(20), nullable=False),
    Column("capture_pending", Boolean, nullable=False, default=False),
    Column("owner", String(80)),
    # the validity model's key (0011) and the pending void's retries on a backoff (0011)
    Column("initiator", StrEnumType(Initiator), nullable=False, default=Initiator.CIT.value),
    Column("auth_type", StrEnumType(AuthType), nullable=False, default=AuthType.FINAL.value),
    Column("void_attempts", Integer, nullable=False, default=0),
    Column("void_first_at", DateTime),
    Column("void_tried_at", DateTime),
    Column("void_next_at", DateTime),
    # The capture run whose capture is (or was last) in flight on it, beside `owner` (0015).
    Column("capture_run_id", Integer),
    Index("ix_authorizations_instalment", "instalment_id"),  # re-authorization, end-of-run counts (0008)
    # The network the call was routed on and the issuer's CVV check (never the CVV) (0014)
    Column("network", String(12)),
    Column("security_check", String(12)),
    # The reconciler looks for UNKNOWN rows and pending voids without scanning the table.
    Index("ix_authorizations_state", "state"),
    Index("ix_authorizations_void_state", "void_state"),
    Index("ix_authorizations_capture_pending", "capture_pending"),
    # The supervision figures read today's rows, and close past days, by request date (0008); the
    # other columns they count make it a covering index: no table lookup per row.
    Index("ix_authorizations_requested_at", "requested_at", "category", "response_code", "answered_at"),
    # advice (0013, 0017): a card's declines of the last 30 days, counted against the scheme's
    # re-attempt limit, and its never-retry declines on any order (the pre-check's claims skip the
    # card), by its whole identity and code; partial, so the hot inserts of REQUESTED rows do not
    # maintain it
    Index(
        "ix_authorizations_card_declines",
        "card_last4",
        "card_first6",
        "card_expiry",
        "response_code",
        "answered_at",
        sqlite_where=text("state = 'DECLINED'"),
        postgresql_where=text("state = 'DECLINED'"),
    ),
    # the instalments refused by code (0019): the pre-check's count subtracts those refused
    # never-retry instead of looking for a refusal under every due instalment
    _partial("ix_authorizations_declined_code", "response_code", "instalment_id", where="state = 'DECLINED'"),
    # Settlement lines are matched with our captures by the acquirer's reference (0012).
    Index("ix_authorizations_acquirer_ref", "acquirer_ref"),
)

decisions = Table(
    "decisions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("order_id", Integer, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("kind", StrEnumType(m.DecisionKind), nullable=False),
    Column("operator", String(20), nullable=False),
    Column("at", DateTime, nullable=False, index=True),
    Column("shown_category", String(16), nullable=False),
    Column("shown_code", String(4), nullable=False),
    Column("shown_label", ScrubbedText(120), nullable=False),
    Column("authorization_id", Integer),
)

# advice (0013): four-eyes release of an order refused as lost or stolen: the operator's request
# with what was shown, then a supervisor's approval or refusal (another person than the asker)
release_requests = Table(
    "release_requests",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("order_id", Integer, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False),
    Column("asked_by", String(20), nullable=False),
    Column("asked_at", DateTime, nullable=False),
    Column("authorization_id", Integer),
    Column("shown_category", String(16), nullable=False),
    Column("shown_code", String(4), nullable=False),
    Column("shown_label", ScrubbedText(120), nullable=False),
    Column("state", String(10), nullable=False),
    Column("decided_by", String(20)),
    Column("decided_at", DateTime),
    Index("ix_release_requests_order_state", "order_id", "state"),
)

operators = Table(
    "operators",
    metadata,
    Column("name", String(20), primary_key=True),
    Column("password_hash", String(200), nullable=False),
    Column("supervisor", Boolean, nullable=False),
    Column("failures", Integer, nullable=False),
    Column("locked", Boolean, nullable=False),
    Column("created_at", DateTime),
)

precheck_runs = Table(
    "precheck_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(10), nullable=False),
    Column("run_date", Date, nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime),
    Column("operator", String(20), nullable=False),
    Column("concurrency", Integer, nullable=False),
    Column("selected", Integer, nullable=False),
    Column("approved", Integer, nullable=False),
    Column("refused", Integer, nullable=False),
    Column("unavailable", Integer, nullable=False),
    Column("skipped", Integer, nullable=False),
    Column("planned", Integer),  # 0009: due when the run started, the whole run's progress total
)

run_results = Table(
    "run_results",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("precheck_runs.id", ondelete="CASCADE"), nullable=False),
    Column("order_id", Integer, nullable=False),
    Column("instalment_seq", Integer, nullable=False),
    Column("outcome", String(12), nullable=False),
    Column("amount", Cents, nullable=False),
    Column("code", String(4), nullable=False),
    Column("category", String(16), nullable=False),
    Column("reason", MessageText(200), nullable=False),
    Column("authorization_id", Integer),
    # 0009: who did it (the worker, owner.me()) and the acquirer's answer time, for the run report
    Column("worker", String(80)),
    Column("latency_ms", Float),
    # 0020: the run's results, and whether one of them answers an authorization — a batch writes
    # once per run (lock_mine): one entry read per answer, whatever plan PostgreSQL keeps
    Index("ix_run_results_run_id", "run_id", "authorization_id"),
)

# 0009: the workers of a run and their leases. Times are seconds since the epoch on the database's
# clock (never a worker's: workers on several machines compare them); a worker renews its lease
# while it works, and the REQUESTED rows of a worker whose lease ran out are claimed again.
run_workers = Table(
    "run_workers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("precheck_runs.id", ondelete="CASCADE"), nullable=False),
    Column("worker", String(80), nullable=False),
    Column("concurrency", Integer, nullable=False),
    Column("started", Float, nullable=False),
    Column("heartbeat", Float, nullable=False),
    Column("lease_until", Float, nullable=False),
    Column("finished", Float),
    Column("done", Integer, nullable=False),
    Column("max_rss_kb", Integer),  # the worker process's peak memory, as it last reported it
    Index("ix_run_workers_run", "run_id", "worker", unique=True),
)

audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", DateTime, nullable=False, index=True),
    Column("actor", ScrubbedText(20), nullable=False),
    Column("action", String(30), nullable=False),
    Column("order_id", Integer, index=True),
    Column("detail", ScrubbedText(), nullable=False),
    # Hash chain (0005): each record carries its predecessor's hash and its own, SHA-256 over a
    # canonical serialization (repositories.chain_hash); `d400 audit verify` walks it.
    Column("prev_hash", String(64)),
    Column("hash", String(64)),
)

audit_head = Table(
    "audit_head",
    metadata,
    # One row (id 1): the chain's last hash and its length. Appenders lock it (PostgreSQL row lock,
    # SQLite write lock) so two transactions never chain onto the same predecessor.
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("n", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

order_drafts = Table(
    "order_drafts",
    metadata,
    # One order being typed per operator, saved at each step so a dropped terminal loses nothing.
    # Never holds a card number: the engine refuses and scrubs one.
    Column("operator", String(20), primary_key=True),
    Column("saved_at", DateTime, nullable=False),
    Column("content", ScrubbedText(), nullable=False),
)

# Supervision figures per past day (0008, store/stats.py): a day is computed once, then read
# instead of its rows; triggers on authorizations and decisions delete a day's `stats_days` row
# when one of its rows changes, so a late answer or a reconcile makes it computed again.
stats_days = Table(
    "stats_days",
    metadata,
    Column("day", Date, primary_key=True),
    Column("unavailable_minutes", Integer, nullable=False),
    Column("closed_at", DateTime, nullable=False),
)

stats_day_outcomes = Table(
    "stats_day_outcomes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("day", Date, ForeignKey("stats_days.day", ondelete="CASCADE"), nullable=False, index=True),
    Column("category", String(20)),
    Column("response_code", String(4)),
    Column("n", Integer, nullable=False),
)

stats_day_latency = Table(
    "stats_day_latency",
    metadata,
    Column("id", Integer, primary_key=True),
    # answers of the day per latency in whole milliseconds (rounded half to even, as Python's round)
    Column("day", Date, ForeignKey("stats_days.day", ondelete="CASCADE"), nullable=False, index=True),
    Column("ms", BigInteger, nullable=False),
    Column("n", Integer, nullable=False),
)

stats_day_decisions = Table(
    "stats_day_decisions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("day", Date, ForeignKey("stats_days.day", ondelete="CASCADE"), nullable=False, index=True),
    Column("operator", String(20), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("n", Integer, nullable=False),
)

# -- settle branch (issue 12.5, migration 0012): the acquirer's settlement, matched with our captures.
# A file is imported once (its SHA-256), a line once (its balance transaction id, per acquirer);
# store/settlement.py reads and writes them with Core, nothing is mapped. Totals and differences are
# cents in BigInteger (a file's sum may pass the amount limit of one payment).
settlement_runs = Table(
    "settlement_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("source", String(10), nullable=False),  # CSV | ISO8583
    Column("acquirer", String(20), nullable=False),
    Column("operator", String(20), nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("file_name", ScrubbedText(120)),
    Column("file_sha256", String(64), unique=True),
    Column("lines", Integer, nullable=False),
    Column("new_lines", Integer, nullable=False),
    Column("already_imported", Integer, nullable=False),
    Column("matched", Integer, nullable=False),
    Column("not_settled", Integer, nullable=False),
    Column("unknown", Integer, nullable=False),
    Column("amount_differs", Integer, nullable=False),
    Column("other_lines", Integer, nullable=False),
    Column("gross", BigInteger, nullable=False),
    Column("fee", BigInteger, nullable=False),
    Column("net", BigInteger, nullable=False),
    Column("first_created", DateTime),
    Column("last_created", DateTime),
    Column("batch_key", String(64), unique=True),
    Column("in_balance", Boolean),
    Column("our_count", Integer),
    Column("our_amount", BigInteger),
    Column("host_count", Integer),
    Column("host_amount", BigInteger),
)

settlement_lines = Table(
    "settlement_lines",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("settlement_runs.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("acquirer", String(20), nullable=False),
    Column("line_key", ScrubbedText(80), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("reference", ScrubbedText(80), nullable=False),
    Column("category", String(40), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("gross", Cents, nullable=False),
    Column("fee", Cents, nullable=False),
    Column("net", Cents, nullable=False),
    Column("created", DateTime),
    # MATCHED | UNKNOWN | AMOUNT_DIFFERS | OTHER (not a capture) | BATCH (an ISO 8583 batch's capture)
    Column("outcome", String(16), nullable=False),
    Column("authorization_id", Integer),
    Index("ix_settlement_lines_key", "acquirer", "line_key", unique=True),
    Index("ix_settlement_lines_reference", "reference"),
)

settlement_differences = Table(
    "settlement_differences",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("settlement_runs.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),  # NOT_SETTLED | UNKNOWN | AMOUNT_DIFFERS
    Column("reference", ScrubbedText(80)),
    Column("line_key", ScrubbedText(80)),
    Column("currency", String(3), nullable=False),
    Column("ours", BigInteger),
    Column("theirs", BigInteger),
    Column("order_id", Integer),
    Column("authorization_id", Integer, index=True),
    Column("since_run", Integer),  # the first run that listed this difference
    Index("ix_settlement_differences_reference", "reference", "kind"),
)

# Shipments (0010, store/shipments.py): parcels of an order's lines, and the captures of what
# they shipped — one row per capture, each under its own idempotency key, committed before the call.
shipments = Table(
    "shipments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("order_id", Integer, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("shipped_at", DateTime, nullable=False),
    Column("operator", String(20), nullable=False),
    Column("final", Boolean, nullable=False),
    Column("amount", Cents, nullable=False),
)

shipment_lines = Table(
    "shipment_lines",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("shipment_id", Integer, ForeignKey("shipments.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("line_no", Integer, nullable=False),
    Column("article_code", String(12), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("amount", Cents, nullable=False),
)

captures = Table(
    "captures",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("order_id", Integer, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False, index=True),
    Column(
        "authorization_id", Integer, ForeignKey("authorizations.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("instalment_seq", Integer, nullable=False),
    Column("amount", Cents, nullable=False),
    Column("release", Cents, nullable=False),
    Column("operation", String(10), nullable=False),
    Column("idempotency_key", String(80), nullable=False, unique=True),
    Column("state", String(12), nullable=False),
    Column("response_code", String(4), nullable=False),
    Column("requested_at", DateTime),
    Column("answered_at", DateTime),
    Column("operator", String(20), nullable=False),
)

mapper_registry = registry(metadata=metadata)
_mapped = False


def start_mappers() -> None:
    """Map the domain classes once per process."""
    global _mapped
    if _mapped:
        return
    _mapped = True
    mr = mapper_registry
    mr.map_imperatively(m.Customer, customers)
    mr.map_imperatively(m.Article, articles)
    mr.map_imperatively(m.OrderLine, order_lines)
    # run_scope is the database's (triggers): the ORM neither reads nor writes it
    mr.map_imperatively(m.Instalment, instalments, exclude_properties=["run_scope"])
    mr.map_imperatively(
        m.Authorization,
        authorizations,
        properties={
            "card": composite(
                MaskedCard,
                authorizations.c.card_brand,
                authorizations.c.card_first6,
                authorizations.c.card_last4,
                authorizations.c.card_expiry,
            )
        },
    )
    mr.map_imperatively(m.Decision, decisions)
    mr.map_imperatively(m.Operator, operators)
    mr.map_imperatively(m.PrecheckRun, precheck_runs)
    mr.map_imperatively(m.RunResult, run_results)
    mr.map_imperatively(
        m.Order,
        orders,
        version_id_col=orders.c.version,
        properties={
            "lines": relationship(m.OrderLine, order_by=order_lines.c.line_no, cascade="all, delete-orphan"),
            "instalments": relationship(m.Instalment, order_by=instalments.c.seq, cascade="all, delete-orphan"),
            "authorizations": relationship(m.Authorization, order_by=authorizations.c.id, cascade="all, delete-orphan"),
            "decisions": relationship(m.Decision, order_by=decisions.c.id, cascade="all, delete-orphan"),
        },
    )
