"""The one write a pre-check failover needs (network branch, issue 13.5): a REQUESTED row whose
request never left the first acquirer is given to the secondary — committed before the secondary
is called, so a crash in between leaves a row the reconciler asks of the right acquirer."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from d400tui.domain import model as m

from . import tables as t


def move_request(session: Session, auth_id: int, acquirer: str) -> bool:
    """Hand a REQUESTED authorization to `acquirer`; False when it is no longer REQUESTED."""
    a = t.authorizations
    done = session.execute(
        update(a).where(a.c.id == auth_id, a.c.state == m.AuthState.REQUESTED.value).values(acquirer=acquirer)
    )
    return bool(done.rowcount)  # type: ignore[attr-defined]
