"""Engine calls that reach the acquirer (place, modify, decide, change the payment), run off the
panel's loop so the panel stays usable and F12 can leave without losing the order; and the one-line
summary of a validation, shown on the panel or, once it is left, as a notification."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from textual.css.query import NoMatches
from textual.widgets import Static

from d400tui.engine import USER_ERRORS, ValidationResult
from d400tui.i18n import t
from d400tui.i18n.render import tx


class AuthorizingMixin:
    """Runs engine calls that reach the acquirer in an exclusive app-level worker, so the panel stays
    responsive and F12 can leave without losing the order (the outcome then comes as a notification)."""

    busy = False

    def run_auth(
        self,
        call: Callable[[], Awaitable[ValidationResult]],
        done: Callable[[ValidationResult], None],
        failed: Callable[[Exception], None],
    ) -> None:
        """Whatever happens in the call (a refusal, a garbled acquirer answer, a database error, any
        exception) the worker ends with a message and the panel usable again: never stuck on
        "Autorisation en cours…"."""
        self.busy = True
        self.set_status(t("entry.authorizing"))

        async def job() -> None:
            try:
                try:
                    res = await call()
                except USER_ERRORS as exc:
                    self._auth_over()
                    if self.still_shown():
                        failed(exc)
                    else:
                        self.app.notify_outcome(tx(exc), error=True)  # type: ignore[attr-defined]
                    return
                self._auth_over()
                if self.still_shown():
                    done(res)
                else:
                    self.app.notify_outcome(summary(res))  # type: ignore[attr-defined]
            except Exception:  # noqa: BLE001 - an unexpected failure: said plainly, the panel usable again
                self._auth_over()
                text = t("entry.auth_incident")
                if self.still_shown():
                    self.message(text, error=True)  # type: ignore[attr-defined]
                else:
                    self.app.notify_outcome(text, error=True)  # type: ignore[attr-defined]

        self.app.run_worker(job(), exclusive=True, group="auth", exit_on_error=False)  # type: ignore[attr-defined]

    def _auth_over(self) -> None:
        self.busy = False
        if self.still_shown():
            self.set_status("")

    def keyboard_locked(self) -> bool:
        return self.busy

    def still_shown(self) -> bool:
        return self in self.app.screen_stack  # type: ignore[attr-defined]

    def set_status(self, text: str) -> None:
        try:
            self.query_one("#status", Static).update(text)  # type: ignore[attr-defined]
        except NoMatches:
            if text:
                self.message(text)  # type: ignore[attr-defined]


def summary(res: ValidationResult) -> str:
    oid = res.order.id
    if res.note:
        return t("entry.validated_note", order=oid, note=tx(res.note))
    f = res.failed
    if f is not None:
        return t("entry.awaiting", order=oid, headline=t(f"category.{f.category.value}"), code=f.code)
    codes = ", ".join(a.auth_code for a in res.answers if a.auth_code) or "-"
    flag = " " + t("network.cvv_flag_short") if any(a.cvv_mismatch for a in res.answers) else ""
    return t("entry.approved", order=oid, codes=codes) + flag
