"""The pure rules the failover and the retry counter share (issue 13.1, 13.5): which answers say
the acquirer is definitely down (a failover may follow), which forbid presenting the card again,
and where a stored token may be sent."""

from __future__ import annotations

from types import SimpleNamespace

from d400tui.acquirers.base import AcquirerResponse, Outcome
from d400tui.engine import retry_rules
from d400tui.engine.failover import NOT_SENT_ANSWER, definite_answer
from d400tui.engine.steps import Context


def test_only_not_sent_or_an_answered_91_96_is_definite() -> None:
    assert definite_answer(NOT_SENT_ANSWER, sent=False)
    assert definite_answer(AcquirerResponse(Outcome.DECLINED, "91"), sent=True)
    assert definite_answer(AcquirerResponse(Outcome.DECLINED, "96"), sent=True)
    assert not definite_answer(None, sent=True)  # a time-out: maybe a hold, reconcile first
    assert not definite_answer(AcquirerResponse(Outcome.DECLINED, "05"), sent=True)
    assert not definite_answer(AcquirerResponse(Outcome.DECLINED, "14"), sent=True)
    assert not definite_answer(AcquirerResponse(Outcome.APPROVED, "00"), sent=True)


def test_never_retry_codes_come_from_the_data() -> None:
    for code in ("41", "43", "57", "04", "07", "62"):
        assert retry_rules.never_retry(code), code
    for code in ("51", "61", "05", "91", "96", "00"):
        assert not retry_rules.never_retry(code), code
    assert retry_rules.is_service_failure("91") and not retry_rules.is_service_failure("43")


def test_a_token_goes_to_its_issuer_or_nowhere() -> None:
    ctx = Context.__new__(Context)  # the routing needs the two acquirers only
    ctx.acquirer, ctx.secondary = SimpleNamespace(name="http"), SimpleNamespace(name="simulator")  # type: ignore[assignment]
    assert ctx.token_acquirer(None) is ctx.acquirer  # NULL: the primary (demo data, bootstrap)
    assert ctx.token_acquirer("http") is ctx.acquirer
    assert ctx.token_acquirer("simulator") is ctx.secondary
    assert ctx.token_acquirer("stripe") is None  # no longer configured: the card is typed again
    ctx.secondary = None
    assert ctx.token_acquirer("simulator") is None
