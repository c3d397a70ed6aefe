"""An ISO 8583 acquirer host over TCP that answers from the simulated `Issuer`:
`d400 acquirer serve --protocol iso8583`. Field conventions are described in `iso8583`.

Each connection is read continuously and every request is answered as soon as the issuer has
answered, in whatever order: clients pipeline many requests on one connection, matched by STAN.
A card that "never answers" gets no reply at all, as with a real host that lost the message.

A request whose idempotency key (field 62) was first used for another request — amount, card or
token, processing code, currency, reference — is answered 39 = 94 (duplicate transmission), 44 =
DECLINED, never with the first request's answer.

Limits: a connection that sends nothing for `idle_timeout_s` (a frame started and not finished
counts as nothing) is closed; past `max_connections` open at once, a new one is closed at once;
past `max_in_flight` requests unanswered on a connection, the host reads no more from it until
answers have gone out (and waits for a client to read its answers before writing more).

A 0500 reconciliation request (the merchant's batch total of captures) is answered 0510 from
`Issuer.reconcile`: in balance closes the issuer's open batch, out of balance changes nothing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from decimal import Decimal
from typing import Any

import iso8583

from d400tui.acquirers.base import AcquirerResponse, Outcome, PaymentSource
from d400tui.acquirers.iso8583 import (
    CVV_LETTERS,
    MORE,
    MORE_FIELD,
    PC_VERIFY,
    Doc,
    decode_message,
    encode_frame,
    read_frame,
    reconciliation_fields,
)
from d400tui.domain.cards import Brand, CardData, CardError, clean_pan, parse_expiry
from d400tui.domain.money import from_cents, to_cents

from .issuer import Issuer, IssuerAnswer

log = logging.getLogger(__name__)

_ECHOED = ("3", "7", "11", "37", "41", "42", "49", "62")
_CURRENCIES = {"978": "EUR"}  # field 49 (ISO 4217 numeric) → the issuer's alphabetic code
_RESPONSE_MTI = {"0100": "0110", "0101": "0110", "0400": "0410", "0220": "0230", "0800": "0810", "0500": "0510"}


class Iso8583Host:
    """The host: `await host.start(host, port)`, then `await host.stop()`; or `serve_forever`."""

    def __init__(
        self,
        issuer: Issuer,
        latency_s: float = 0.0,
        idle_timeout_s: float = 300.0,
        max_connections: int = 256,
        max_in_flight: int = 1024,
    ) -> None:
        self.issuer = issuer
        self.latency_s = latency_s
        self.idle_timeout_s = idle_timeout_s
        self.max_connections = max_connections
        self.max_in_flight = max_in_flight
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self, host: str = "127.0.0.1", port: int = 8583) -> int:
        self._server = await asyncio.start_server(self._connection, host, port)
        return self._server.sockets[0].getsockname()[1]

    async def serve_forever(self, host: str, port: int) -> None:
        await self.start(host, port)
        assert self._server is not None
        async with self._server:
            await self._server.serve_forever()

    async def stop(self) -> None:
        """Closes the listener and every client connection (as a host crash would)."""
        if self._server is not None:
            self._server.close()
        for w in list(self._writers):
            w.close()
        for t in list(self._tasks):
            t.cancel()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._writers) >= self.max_connections:
            log.warning("connection refused: %d open, the limit", len(self._writers))
            writer.close()
            return
        self._writers.add(writer)
        in_flight = asyncio.Semaphore(self.max_in_flight)
        try:
            while True:
                async with asyncio.timeout(self.idle_timeout_s):  # no task per frame, unlike wait_for
                    raw = await read_frame(reader)
                await in_flight.acquire()  # past the cap, the next request waits to be read
                task = asyncio.create_task(self._answer(raw, writer))
                task.add_done_callback(lambda _: in_flight.release())
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        except TimeoutError:
            log.info("idle connection closed after %g s", self.idle_timeout_s)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _answer(self, raw: bytes, writer: asyncio.StreamWriter) -> None:
        try:
            req = decode_message(raw)
        except iso8583.DecodeError as e:
            log.warning("undecodable message dropped: %s", e.__class__.__name__)
            return
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        reply = await self.handle(req)
        if reply is None or writer.is_closing():
            return
        writer.write(encode_frame(reply))
        with contextlib.suppress(ConnectionError):
            await writer.drain()  # a client that does not read its answers holds this task, not memory

    async def handle(self, req: Doc) -> Doc | None:
        """One request → its answer (None: the issuer never answers this one)."""
        mti = req.get("t", "")
        base = {k: req[k] for k in _ECHOED if k in req}
        if mti not in _RESPONSE_MTI:
            log.warning("message type %s not handled: dropped", mti)
            return None
        base["t"] = _RESPONSE_MTI[mti]
        if mti == "0800":
            return {**base, "70": req.get("70", "301"), "39": "00"}
        key = req.get("62")
        if not key:
            return {**base, "39": "30", "44": Outcome.DECLINED.value, "60": "field 62 (key) missing"}
        try:
            if mti == "0500":
                return self._reconcile(base, req, key)
            if mti == "0101":
                return self._reply(base, self.issuer.status(key))
            if mti == "0100":
                source = self._source(req)
                if source is None:
                    return {**base, "39": "30", "44": Outcome.DECLINED.value, "60": "no card or token"}
                currency = self._currency(req)
                if req.get("3") == PC_VERIFY:
                    ans = self.issuer.authorize(source, Decimal("0.00"), key, "VERIFY", currency)
                else:
                    ans = self.issuer.authorize(source, from_cents(int(req.get("4", "0"))), key, currency=currency)
                return await self._deliver(base, ans)
            if mti == "0400":
                ref = req.get("63")
                if not ref and req.get("61"):  # reversal of an authorization whose answer never came
                    ref = self.issuer.status(req["61"]).reference
                if not ref:
                    return self._reply(base, AcquirerResponse(Outcome.DECLINED, "25", message="nothing to reverse"))
                if req.get("4"):  # partial reversal: that amount only, the rest stays held
                    part = from_cents(int(req["4"]))
                    return await self._deliver(base, self.issuer.release(ref, part, key, self._currency(req)))
                return await self._deliver(base, self.issuer.void(ref, key))
            # 0220 completion
            if not req.get("63") or not req.get("4"):
                return {**base, "39": "30", "44": Outcome.DECLINED.value, "60": "fields 4 and 63 required"}
            amount = from_cents(int(req["4"]))
            final = req.get(MORE_FIELD) != MORE
            return await self._deliver(base, self.issuer.capture(req["63"], amount, key, self._currency(req), final))
        except ValueError:
            return {**base, "39": "30", "44": Outcome.DECLINED.value, "60": "format error"}

    def _reconcile(self, base: Doc, req: Doc, key: str) -> Doc:
        """0500 → 0510: our count and amount of captures against the issuer's unbatched ones."""
        count, cents = int(req.get("76", "0")), int(req.get("88", "0"))
        currency = _CURRENCIES.get(req.get("50") or "978", "?")
        code, host_count, host_cents = self.issuer.reconcile(key, count, cents, currency)
        settled = {"00": "1", "95": "2"}.get(code, "3")
        return {
            **base,
            **reconciliation_fields(host_count, host_cents),
            **({"15": req["15"]} if req.get("15") else {}),
            "39": code,
            "66": settled,
        }

    @staticmethod
    def _currency(req: Doc) -> str:
        code = req.get("49") or "978"
        return _CURRENCIES.get(code, code)

    @staticmethod
    def _source(req: Doc) -> PaymentSource | None:
        word = req.get("47")
        if word is not None and word not in Brand.__members__:
            raise ValueError("field 47: unknown network")
        network = Brand(word) if word else None
        if req.get("2"):
            exp = req.get("14", "")
            try:
                card = CardData(clean_pan(req["2"]), parse_expiry(f"{exp[2:4]}/{exp[0:2]}"), req.get("57") or None)
            except CardError:
                return None
            return PaymentSource(card=card, network=network)
        if req.get("48"):
            return PaymentSource(token=req["48"], network=network)
        return None

    async def _deliver(self, base: Doc, ans: IssuerAnswer) -> Doc | None:
        if ans.hang:
            return None
        if ans.delay_s:
            await asyncio.sleep(ans.delay_s)
        return self._reply(base, ans.response)

    @staticmethod
    def _reply(base: Doc, resp: AcquirerResponse) -> Doc:
        doc: Doc = {**base, "39": resp.code, "44": resp.outcome.value}
        if resp.amount is not None:
            doc["4"] = f"{to_cents(resp.amount):012d}"
        if resp.auth_code:
            doc["38"] = resp.auth_code
        if resp.token:
            doc["48"] = resp.token
        if resp.reference:
            doc["63"] = resp.reference
        if resp.message:
            doc["60"] = resp.message[:999]
        if resp.network:
            doc["47"] = resp.network
        if resp.cvv is not None:
            doc["58"] = CVV_LETTERS[resp.cvv]
        return doc
