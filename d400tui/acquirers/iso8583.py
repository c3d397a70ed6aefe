"""The `iso8583` acquirer: ISO 8583 (1987, ASCII) over one TCP connection with pyiso8583.

Messages: 0100/0110 authorization (processing code 000000) and account verification (330000),
0101 repeat used as a status query by idempotency key, 0400/0410 reversal (voids, and the
reversal of an authorization whose answer never came), 0220/0230 completion (capture),
0800/0810 echo, 0500/0510 reconciliation (the batch total of our captures: `batch_totals`).
Every frame is preceded by a 2-byte big-endian length.

One connection carries many requests at once: each carries a STAN (field 11), the answers come
back in any order and are matched by STAN — the way acquirer hosts are driven in production,
and why one connection is enough for a pre-check run.

Private fields (this host's convention): 48 card token (answered on card requests, sent instead
of fields 2/14 afterwards), 62 our idempotency key, 63 the host's authorization reference,
61 the idempotency key of the authorization a reversal undoes when its reference is unknown,
44 the outcome word, 60 a free-text message.

Reconciliation (0500/0510): our captures are debits to the cardholders — field 76 their number,
88 their amount in cents, 74/86 credits (refunds: none here), 97 the net amount signed `D`; the
0510 carries the host's own figures in the same fields, 66 settlement code 1 (in balance) or 2
(out of balance) and 39 '00' or '95' (reconcile error).

Network choice and CVV (issue 13; 1987 has no field for either, so national-use fields carry them,
as CB2A and the schemes' own profiles do): 47 (additional data — national) the network the request
is routed on (`CB`, `VISA`, `MASTERCARD`…), sent on every 0100 of a card whose network was chosen
and echoed by the host with the network it used; 57 the CVV2 as typed (request only; masked in
traces, never stored); 58 the CVV2 result in the answer, Visa's one-letter codes (M match,
N no match, P not processed, U not supported: both read as not checked).


Shipments in several parcels: a 0220 completion carrying field 120 = MORE takes its amount and
leaves the rest held (more completions to follow); a 0220 without it is final (the host releases
the rest). A 0400 carrying field 4 is a partial reversal of that amount only (the rest stays held);
without field 4 it reverses the whole hold."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import struct
import time
from collections.abc import Callable
from decimal import Decimal
from functools import cache
from typing import Any

import iso8583
from iso8583.specs import default_ascii

from d400tui.data.codes import response_codes as code_table
from d400tui.domain.cards import Brand, CvvResult
from d400tui.domain.money import from_cents, to_cents

from .base import (
    BATCH_TOTALS,
    MULTICAPTURE,
    OPERATIONS,
    PARTIAL_VOID,
    AcquirerResponse,
    AcquirerUnavailable,
    BatchAnswer,
    NotSent,
    Outcome,
    PaymentSource,
    in_words,
)

SPEC: dict[str, Any] = dict(default_ascii)

PC_AUTH = "000000"
CVV_CODES = {"M": CvvResult.MATCH, "N": CvvResult.NO_MATCH, "P": CvvResult.NOT_CHECKED, "U": CvvResult.NOT_CHECKED}
CVV_LETTERS = {CvvResult.MATCH: "M", CvvResult.NO_MATCH: "N", CvvResult.NOT_CHECKED: "P"}
PC_VERIFY = "330000"
CURRENCY_EUR = "978"
ECHO_CODE = "301"
MORE_FIELD, MORE = "120", "MORE"  # a completion with more to follow (this host's convention)
# What `d400 acquirer serve --protocol iso8583` takes; a host's contract narrows it (D400_ACQUIRER_BRANDS).
DEFAULT_BRANDS = frozenset({Brand.CB, Brand.VISA, Brand.MASTERCARD, Brand.MAESTRO})

Doc = dict[str, Any]


@cache
def response_codes() -> dict[str, tuple[str, str, str]]:
    """Field-39 code → (category, French label, English label), from data/response_codes.csv."""
    return {c: (r.category.value, r.label_fr, r.label_en) for c, r in code_table().items()}


def encode_frame(doc: Doc) -> bytes:
    """Encode a message and prefix it with its 2-byte length."""
    raw, _ = iso8583.encode(dict(doc), SPEC)
    return struct.pack(">H", len(raw)) + bytes(raw)


def decode_message(raw: bytes) -> Doc:
    doc, _ = iso8583.decode(bytearray(raw), SPEC)
    return doc


def masked(doc: Doc) -> Doc:
    """A copy safe to keep or print: field 2 shows first 6 / last 4 only."""
    out = dict(doc)
    if "2" in out:
        pan = out["2"]
        out["2"] = pan[:6] + "*" * (len(pan) - 10) + pan[-4:]
    if "57" in out:
        out["57"] = "***"
    out.pop("p", None)
    return out


def reconciliation_fields(count: int, cents: int) -> Doc:
    """Fields 74/76/86/88/97 of a 0500 or 0510 (captures are debits; no credits)."""
    return {"74": "0" * 10, "76": f"{count:010d}", "86": "0" * 16, "88": f"{cents:016d}", "97": f"D{cents:016d}"}


def transmission_time(now: float | None = None) -> str:
    return time.strftime("%m%d%H%M%S", time.gmtime(now))


def answer_of(doc: Doc) -> AcquirerResponse:
    """Turn a 0110/0410/0230 into our response; the outcome word is checked against field 39."""
    code = doc.get("39", "96")
    word = doc.get("44")
    if isinstance(word, str) and word in Outcome.__members__:
        outcome = Outcome(word)
    else:
        outcome = Outcome.APPROVED if code == "00" else Outcome.DECLINED
    amount = from_cents(int(doc["4"])) if doc.get("4") else None
    category = response_codes().get(code, ("OTHER", "", ""))
    message = doc.get("60") or (category[2] if code != "00" else "")
    return AcquirerResponse(
        outcome=outcome,
        code=code,
        reference=doc.get("63"),
        auth_code=doc.get("38"),
        token=doc.get("48"),
        amount=amount,
        message=message,
        network=doc.get("47") or None,
        cvv=CVV_CODES.get(doc.get("58", "")),
    )


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    (size,) = struct.unpack(">H", await reader.readexactly(2))
    return await reader.readexactly(size)


class Iso8583Acquirer:
    """Adapter to an ISO 8583 host (`d400 acquirer serve --protocol iso8583`)."""

    name = "iso8583"
    capabilities = OPERATIONS | {MULTICAPTURE, PARTIAL_VOID}
    settlement = frozenset({BATCH_TOTALS})  # the host takes a 0500 batch total (engine/settlement.py)

    def __init__(
        self,
        host: str,
        port: int,
        brands: frozenset[Brand] | None = None,
        timeout_s: float = 10.0,
        connect_timeout_s: float = 3.0,
        terminal_id: str = "D400TERM",
        merchant_id: str = "D400MERCHANT001",
        trace: Callable[[str, Doc], None] | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.brands = brands or DEFAULT_BRANDS
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.terminal_id = terminal_id[:8].ljust(8)
        self.merchant_id = merchant_id[:15].ljust(15)
        self.trace = trace  # called with ("out"|"in", masked decoded message): tests check fields
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._pending: dict[str, asyncio.Future[Doc]] = {}
        self._stan = itertools.count(1)
        self._connect_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"Iso8583Acquirer({self.host}:{self.port})"

    # -- connection --------------------------------------------------------------------------
    async def _connect(self) -> asyncio.StreamWriter:
        async with self._connect_lock:
            if self._writer is not None and not self._writer.is_closing():
                return self._writer
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port), self.connect_timeout_s
                )
            except (OSError, TimeoutError) as e:
                raise NotSent(f"{self.name}: cannot connect to {self.host}:{self.port} ({in_words(e)})") from None
            self._reader, self._writer = reader, writer
            self._reader_task = asyncio.create_task(self._read_loop(reader, writer))
            return writer

    async def _read_loop(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Hands each answer to the request with the same STAN; on a broken link, fails them all."""
        try:
            while True:
                doc = decode_message(await read_frame(reader))
                if self.trace:
                    self.trace("in", masked(doc))
                fut = self._pending.pop(doc.get("11", ""), None)
                if fut is not None and not fut.done():
                    fut.set_result(doc)
        except (asyncio.IncompleteReadError, OSError, iso8583.DecodeError, struct.error):
            pass
        finally:
            if self._writer is writer:
                self._writer = None
            writer.close()
            pending, self._pending = self._pending, {}
            for fut in pending.values():
                if not fut.done():
                    fut.set_exception(AcquirerUnavailable(f"{self.name}: connection lost"))

    def _next_stan(self) -> str:
        while True:
            stan = f"{next(self._stan) % 1_000_000:06d}"
            if stan != "000000" and stan not in self._pending:
                return stan

    @staticmethod
    def rrn(stan: str, now: float | None = None) -> str:
        """Retrieval reference number: YDDDhh + STAN (12 characters), unique over a year."""
        t = time.gmtime(now)
        return f"{t.tm_year % 10}{t.tm_yday:03d}{t.tm_hour:02d}{stan}"

    async def exchange(self, doc: Doc) -> Doc:
        """Send one message and wait for the answer carrying its STAN."""
        writer = await self._connect()
        stan = self._next_stan()
        now = time.time()
        msg = {**doc, "7": transmission_time(now), "11": stan, "41": self.terminal_id, "42": self.merchant_id}
        if msg["t"] != "0800":
            msg["37"] = self.rrn(stan, now)
        else:
            msg.pop("41"), msg.pop("42")
        frame = encode_frame(msg)
        fut: asyncio.Future[Doc] = asyncio.get_running_loop().create_future()
        self._pending[stan] = fut
        if self.trace:
            self.trace("out", masked(msg))
        try:
            writer.write(frame)
            await writer.drain()
            return await asyncio.wait_for(fut, self.timeout_s)
        except TimeoutError:
            raise AcquirerUnavailable(f"{self.name}: no answer within {self.timeout_s:g} s") from None
        except (OSError, ConnectionError) as e:
            raise AcquirerUnavailable(f"{self.name}: {in_words(e)}") from None
        finally:
            self._pending.pop(stan, None)

    # -- the protocol ------------------------------------------------------------------------
    def _source_fields(self, source: PaymentSource) -> Doc:
        network = {"47": source.network.value} if source.network is not None else {}
        if source.card is not None:
            exp = source.card.expiry
            cvv = {"57": source.card.cvv} if source.card.cvv else {}
            return {"2": source.card.pan, "14": f"{exp.year % 100:02d}{exp.month:02d}", "22": "012", **cvv, **network}
        return {"48": source.token, "22": "010", **network}

    async def _ask(self, doc: Doc) -> AcquirerResponse:
        return answer_of(await self.exchange(doc))

    async def authorize(self, source: PaymentSource, amount: Decimal, key: str) -> AcquirerResponse:
        return await self._ask(
            {
                "t": "0100",
                "3": PC_AUTH,
                "4": f"{to_cents(amount):012d}",
                "25": "08",
                "49": CURRENCY_EUR,
                "62": key,
                **self._source_fields(source),
            }
        )

    async def verify(self, source: PaymentSource, key: str) -> AcquirerResponse:
        return await self._ask(
            {
                "t": "0100",
                "3": PC_VERIFY,
                "4": f"{0:012d}",
                "25": "08",
                "49": CURRENCY_EUR,
                "62": key,
                **self._source_fields(source),
            }
        )

    async def void(self, reference: str, key: str) -> AcquirerResponse:
        return await self._ask({"t": "0400", "3": PC_AUTH, "49": CURRENCY_EUR, "62": key, "63": reference})

    async def reverse(self, original_key: str, key: str) -> AcquirerResponse:
        """Reversal of an authorization whose answer never came: the host finds it by our key."""
        return await self._ask({"t": "0400", "3": PC_AUTH, "49": CURRENCY_EUR, "62": key, "61": original_key})

    async def capture(self, reference: str, amount: Decimal, key: str) -> AcquirerResponse:
        return await self._ask(
            {
                "t": "0220",
                "3": PC_AUTH,
                "4": f"{to_cents(amount):012d}",
                "49": CURRENCY_EUR,
                "62": key,
                "63": reference,
            }
        )

    async def capture_partial(self, reference: str, amount: Decimal, key: str) -> AcquirerResponse:
        """0220 completion of one parcel: the rest of the hold stays for the next ones."""
        return await self._ask(
            {
                "t": "0220",
                "3": PC_AUTH,
                "4": f"{to_cents(amount):012d}",
                "49": CURRENCY_EUR,
                "62": key,
                "63": reference,
                MORE_FIELD: MORE,
            }
        )

    async def release(self, reference: str, amount: Decimal, key: str) -> AcquirerResponse:
        """0400 partial reversal: `amount` of the hold given back, the rest stays held."""
        return await self._ask(
            {"t": "0400", "3": PC_AUTH, "4": f"{to_cents(amount):012d}", "49": CURRENCY_EUR, "62": key, "63": reference}
        )

    async def status(self, key: str) -> AcquirerResponse:
        return await self._ask({"t": "0101", "3": PC_AUTH, "62": key})

    async def batch_totals(self, count: int, amount: Decimal, key: str) -> BatchAnswer:
        """0500 reconciliation request with the count and amount of our captures not yet settled;
        the 0510 says whether the host's own figures agree (and gives them)."""
        cents = to_cents(amount)
        doc = await self.exchange(
            {
                "t": "0500",
                "15": time.strftime("%m%d", time.gmtime()),
                "50": CURRENCY_EUR,
                **reconciliation_fields(count, cents),
                "62": key,
            }
        )
        code = doc.get("39", "96")
        try:
            host_count, host_cents = int(doc.get("76", "0")), int(doc.get("88", "0"))
        except ValueError:
            host_count, host_cents = 0, 0
        in_balance = code == "00" and doc.get("66") == "1"
        return BatchAnswer(in_balance, host_count, from_cents(host_cents), code)

    async def echo(self) -> bool:
        """0800/0810 network echo: True when the host answers '00'."""
        return (await self.exchange({"t": "0800", "70": ECHO_CODE})).get("39") == "00"

    async def ping(self) -> str:
        """For `d400 acquirer check`."""
        if not await self.echo():
            raise AcquirerUnavailable(f"{self.name}: echo refused")
        return "0800/0810 echo 00"

    async def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(BaseException):
                await self._reader_task
