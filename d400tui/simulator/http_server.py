"""The simulated issuer served as a JSON API (Starlette under uvicorn): `d400 acquirer serve`.

It answers from the same `Issuer` as the in-process simulator, so the HTTP transport shows the
same rules. Every POST needs an Idempotency-Key: the same request under the same key returns the
same answer and never makes a second hold; the same key with another request (amount, card or
token, operation, currency, reference) is refused with 422 `idempotency_key_reused`, as Stripe
does. An API key header guards everything but the OpenAPI document. Card numbers travel only in
request bodies (never in a path or a log line).

Limits: a body over MAX_BODY bytes is refused with 413 before it is parsed (by its Content-Length,
or while it streams in without one); JSON too deeply nested for the parser, or not UTF-8, is a
400; any other failure a 500 with a one-line JSON error, never a traceback."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from d400tui.acquirers.base import AcquirerResponse, PaymentSource
from d400tui.acquirers.http import API_KEY_HEADER, KEY_REUSED_CODE
from d400tui.acquirers.transport import IDEMPOTENCY_HEADER
from d400tui.domain.cards import Brand, CardData, CardError, clean_pan, parse_expiry

from .issuer import KEY_REUSED_MESSAGE, Issuer, IssuerAnswer

_AMOUNT = re.compile(r"^[0-9]{1,7}(\.[0-9]{1,2})?$")  # up to MAX_AMOUNT
_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
MAX_BODY = 64 * 1024
_TOO_LARGE = f"body: {MAX_BODY // 1024} kB at most"
log = logging.getLogger(__name__)


def response_to_json(resp: AcquirerResponse) -> dict[str, Any]:
    return {
        "outcome": resp.outcome.value,
        "code": resp.code,
        "reference": resp.reference,
        "auth_code": resp.auth_code,
        "token": resp.token,
        "amount": None if resp.amount is None else str(resp.amount),
        "message": resp.message,
        "network": resp.network,
        "cvv_result": resp.cvv.value if resp.cvv else None,
    }


_NETWORKS = [b.value for b in Brand if b is not Brand.UNKNOWN]


def _network(body: dict[str, Any]) -> Brand | None:
    value = body.get("network")
    if value is None:
        return None
    if not isinstance(value, str) or value not in _NETWORKS:
        raise BadRequest(f"network: one of {', '.join(_NETWORKS)}")
    return Brand(value)


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _error(status: int, message: str, code: str | None = None) -> JSONResponse:
    return JSONResponse({"error": message, **({"code": code} if code else {})}, status_code=status)


def _currency(body: dict[str, Any]) -> str:
    value = body.get("currency", "EUR")
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z]{3}", value):
        raise BadRequest("currency: a three-letter ISO 4217 code")
    return value.upper()


async def _read_body(request: Request) -> bytes:
    """The body, refused with 413 past MAX_BODY: by its Content-Length before anything is read,
    and by counting when it streams in without one (chunked) or with a false one."""
    declared = request.headers.get("content-length")
    if declared is not None and not (declared.isascii() and declared.isdigit()):
        raise BadRequest("Content-Length: a number of bytes")
    if declared is not None and int(declared) > MAX_BODY:
        raise BadRequest(_TOO_LARGE, 413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise BadRequest(_TOO_LARGE, 413)
        chunks.append(chunk)
    return b"".join(chunks)


def _amount(value: Any) -> Decimal:
    if not isinstance(value, str) or not _AMOUNT.match(value):
        raise BadRequest("amount: a decimal string such as '12.50'")
    return Decimal(value)


def _source(body: dict[str, Any]) -> PaymentSource:
    card, token = body.get("card"), body.get("token")
    if (card is None) == (token is None):
        raise BadRequest("give either card or token")
    if token is not None:
        if not isinstance(token, str) or not 1 <= len(token) <= 100:
            raise BadRequest("token: a string")
        return PaymentSource(token=token, network=_network(body))
    if not isinstance(card, dict):
        raise BadRequest("card: an object")
    pan, expiry, cvv = card.get("pan"), card.get("expiry"), card.get("cvv")
    if not isinstance(pan, str) or not isinstance(expiry, str) or (cvv is not None and not isinstance(cvv, str)):
        raise BadRequest("card: pan and expiry strings, optional cvv string")
    try:
        return PaymentSource(card=CardData(clean_pan(pan), parse_expiry(expiry), cvv), network=_network(body))
    except CardError as e:  # the message never quotes the number
        raise BadRequest(f"card: {e}") from None


def create_app(issuer: Issuer, api_key: str | None = None, latency_s: float = 0.0, hang_s: float = 60.0) -> Starlette:
    """The ASGI app. `latency_s` is added to every answer (benches); a card that "never answers"
    holds the request `hang_s` seconds and then answers 504."""

    async def answer(ans: IssuerAnswer) -> JSONResponse:
        if ans.key_reused:
            return _error(422, f"{IDEMPOTENCY_HEADER}: {KEY_REUSED_MESSAGE}", KEY_REUSED_CODE)
        if latency_s:
            await asyncio.sleep(latency_s)
        if ans.hang:
            await asyncio.sleep(hang_s)
            return _error(504, "issuer did not answer")
        if ans.delay_s:
            await asyncio.sleep(ans.delay_s)
        return JSONResponse(response_to_json(ans.response))

    def authorized(request: Request) -> bool:
        if not api_key:
            return True
        given = request.headers.get(API_KEY_HEADER, "")
        return hmac.compare_digest(given.encode(), api_key.encode())

    async def body_and_key(request: Request) -> tuple[dict[str, Any], str]:
        key = request.headers.get(IDEMPOTENCY_HEADER, "")
        if not _KEY.match(key):
            raise BadRequest(f"{IDEMPOTENCY_HEADER} header: 1 to 200 printable characters")
        raw = await _read_body(request)
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deep to parse
            raise BadRequest("body: JSON object expected") from None
        if not isinstance(body, dict):
            raise BadRequest("body: JSON object expected")
        return body, key

    def guarded(handler):  # type: ignore[no-untyped-def]
        async def endpoint(request: Request) -> JSONResponse:
            if not authorized(request):
                return _error(401, f"missing or wrong {API_KEY_HEADER}")
            try:
                return await handler(request)
            except BadRequest as e:
                return _error(e.status, str(e))
            except Exception:  # noqa: BLE001 - one JSON line to the client, the details to the log
                log.exception("request %s %s failed", request.method, request.url.path)
                return _error(500, "internal error")

        return endpoint

    async def authorize(request: Request) -> JSONResponse:
        body, key = await body_and_key(request)
        source, amount = _source(body), _amount(body.get("amount"))
        return await answer(issuer.authorize(source, amount, key, currency=_currency(body)))

    async def verify(request: Request) -> JSONResponse:
        body, key = await body_and_key(request)
        return await answer(issuer.authorize(_source(body), Decimal("0.00"), key, "VERIFY", _currency(body)))

    async def void(request: Request) -> JSONResponse:
        _, key = await body_and_key(request)
        return await answer(issuer.void(request.path_params["reference"], key))

    async def capture(request: Request) -> JSONResponse:
        body, key = await body_and_key(request)
        final = body.get("final", True)
        if not isinstance(final, bool):
            raise BadRequest("final: true or false")
        ref, amount = request.path_params["reference"], _amount(body.get("amount"))
        return await answer(issuer.capture(ref, amount, key, _currency(body), final))

    async def release(request: Request) -> JSONResponse:
        body, key = await body_and_key(request)
        ref, amount = request.path_params["reference"], _amount(body.get("amount"))
        return await answer(issuer.release(ref, amount, key, _currency(body)))

    async def status(request: Request) -> JSONResponse:
        if latency_s:
            await asyncio.sleep(latency_s)
        resp: AcquirerResponse = issuer.status(request.path_params["key"])
        return JSONResponse(response_to_json(resp))

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "service": "d400 simulated issuer"})

    async def openapi(request: Request) -> JSONResponse:
        return JSONResponse(OPENAPI)

    routes = [
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/v1/health", guarded(health), methods=["GET"]),
        Route("/v1/authorizations", guarded(authorize), methods=["POST"]),
        Route("/v1/verifications", guarded(verify), methods=["POST"]),
        Route("/v1/authorizations/{reference}/void", guarded(void), methods=["POST"]),
        Route("/v1/authorizations/{reference}/capture", guarded(capture), methods=["POST"]),
        Route("/v1/authorizations/{reference}/release", guarded(release), methods=["POST"]),
        Route("/v1/operations/{key}", guarded(status), methods=["GET"]),
    ]
    return Starlette(routes=routes)


# -- the OpenAPI document (hand-written: it is the contract other clients are built from) ------
_ERR = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "code": {"type": "string"}},
    "required": ["error"],
}
_AMOUNT_SCHEMA = {"type": "string", "pattern": _AMOUNT.pattern, "example": "49.90"}
_CARD = {
    "type": "object",
    "properties": {
        "pan": {"type": "string", "description": "card number (13-19 digits)"},
        "expiry": {"type": "string", "description": "MM/YY"},
        "cvv": {"type": "string"},
    },
    "required": ["pan", "expiry"],
}
_CURRENCY_SCHEMA = {"type": "string", "pattern": "^[A-Za-z]{3}$", "default": "EUR"}
_SOURCE_PROPS = {
    "card": {"$ref": "#/components/schemas/Card"},
    "token": {"type": "string", "maxLength": 100},
    "currency": _CURRENCY_SCHEMA,
    "network": {
        "type": "string",
        "enum": _NETWORKS,
        "description": "network chosen on a co-badged card (CB, or VISA/MASTERCARD on the customer's request)",
    },
}
_ONE_SOURCE = {"oneOf": [{"required": ["card"]}, {"required": ["token"]}]}  # a card or a token, not both
_ANSWER = {
    "type": "object",
    "properties": {
        "outcome": {"type": "string", "enum": ["APPROVED", "DECLINED", "VOIDED", "CAPTURED", "NOT_FOUND"]},
        "code": {"type": "string", "description": "ISO 8583 field-39 response code"},
        "reference": {"type": ["string", "null"]},
        "auth_code": {"type": ["string", "null"]},
        "token": {"type": ["string", "null"]},
        "amount": {"type": ["string", "null"]},
        "message": {"type": "string"},
        "network": {"type": ["string", "null"], "description": "the network the issuer processed it on"},
        "cvv_result": {"type": ["string", "null"], "enum": ["MATCH", "NO_MATCH", "NOT_CHECKED", None]},
    },
    "required": ["outcome", "code", "reference", "auth_code", "token", "amount", "message"],
}
_KEY_PARAM = {
    "name": IDEMPOTENCY_HEADER,
    "in": "header",
    "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": _KEY.pattern},
}


def _op(summary: str, body: dict[str, Any] | None, params: list[dict[str, Any]]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "parameters": params,
        "responses": {
            "200": {
                "description": "the issuer's answer (approvals and refusals alike)",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Answer"}}},
            },
            "400": {"description": "malformed request", "content": {"application/json": {"schema": _ERR}}},
            "413": {
                "description": f"body over {MAX_BODY // 1024} kB",
                "content": {"application/json": {"schema": _ERR}},
            },
            "422": {
                "description": f"{IDEMPOTENCY_HEADER} already used for another request (code {KEY_REUSED_CODE})",
                "content": {"application/json": {"schema": _ERR}},
            },
            "401": {
                "description": "missing or wrong API key",
                "content": {"application/json": {"schema": _ERR}},
            },
            "504": {
                "description": "the issuer did not answer",
                "content": {"application/json": {"schema": _ERR}},
            },
        },
    }
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}


OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "d400 simulated issuer",
        "version": "1.0",
        "description": "Card authorization, verification, void, capture and status by idempotency key.",
    },
    "components": {
        "schemas": {"Card": _CARD, "Answer": _ANSWER},
        "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": API_KEY_HEADER}},
    },
    "security": [{"apiKey": []}],
    "paths": {
        "/v1/health": {
            "get": {
                **_op("the service answers", None, []),
                "responses": {
                    "200": {"description": "up"},
                    "401": {"description": "missing or wrong API key"},
                },
            }
        },
        "/v1/authorizations": {
            "post": _op(
                "hold an amount on a card or token",
                {
                    "type": "object",
                    "properties": {**_SOURCE_PROPS, "amount": _AMOUNT_SCHEMA},
                    **_ONE_SOURCE,
                    "required": ["amount"],
                },
                [_KEY_PARAM],
            )
        },
        "/v1/verifications": {
            "post": _op(
                "check a card without holding any amount",
                {"type": "object", "properties": _SOURCE_PROPS, **_ONE_SOURCE},
                [_KEY_PARAM],
            )
        },
        "/v1/authorizations/{reference}/void": {
            "post": _op("release a hold (refused once captured)", {"type": "object"}, [_path("reference"), _KEY_PARAM])
        },
        "/v1/authorizations/{reference}/capture": {
            "post": _op(
                "capture at most what the hold still holds; final (the default) releases the rest,"
                " final=false keeps it held for the next parcel",
                {
                    "type": "object",
                    "properties": {
                        "amount": _AMOUNT_SCHEMA,
                        "currency": _CURRENCY_SCHEMA,
                        "final": {"type": "boolean", "default": True},
                    },
                    "required": ["amount"],
                },
                [_path("reference"), _KEY_PARAM],
            )
        },
        "/v1/authorizations/{reference}/release": {
            "post": _op(
                "partial void: release part of what the hold still holds, keep the rest",
                {
                    "type": "object",
                    "properties": {"amount": _AMOUNT_SCHEMA, "currency": _CURRENCY_SCHEMA},
                    "required": ["amount"],
                },
                [_path("reference"), _KEY_PARAM],
            )
        },
        "/v1/operations/{key}": {
            "get": _op("what became of the request sent under this idempotency key", None, [_path("key")])
        },
    },
}
