"""Reading the event log (``/api/v1/events``, ``/api/v1/runs/{id}/events``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Event
from app.services.errors import EventNotFound
from app.services.pagination import Page, Window, paginate, within
from app.services.runs import get_run
from app.services.transactions import transactional


@transactional
def list_events(
    session: Session,
    *,
    window: Window,
    type: str | None = None,
    types: list[str] | None = None,
    hidden: frozenset[str] = frozenset(),
    run_id: str | None = None,
    invocation_id: str | None = None,
    from_date: datetime | None = None,
    to_date: datetime | None = None,
    after_event_id: int | None = None,
    sort_order: str = "asc",
) -> Page:
    query = select(Event)
    if type:
        query = query.where(Event.type == type)
    if types:
        query = query.where(Event.type.in_(types))
    if hidden:
        query = query.where(Event.type.not_in(hidden))
    if run_id:
        query = query.where(Event.run_id == run_id)
    if invocation_id:
        query = query.where(Event.invocation_id == invocation_id)
    query = within(query, Event.created_at, from_date, to_date)
    if after_event_id is not None:
        query = query.where(Event.id > after_event_id)
    ordered = Event.id.desc() if sort_order == "desc" else Event.id
    return paginate(session, query.order_by(ordered), window)


@transactional
def latest_event_id(session: Session) -> int:
    """The id of the newest event (0 when there is none): a live page that shows what was
    there when it was rendered asks its stream for what came after this."""
    return session.execute(select(func.max(Event.id))).scalar() or 0


@transactional
def list_run_events(session: Session, run_id: str, **filters) -> Page:
    get_run(session, run_id)
    return list_events(session, run_id=run_id, **filters)


@transactional
def get_event(session: Session, event_id: int, hidden: frozenset[str] = frozenset()) -> Event:
    """The event; one of a ``hidden`` type (a profile does not show it) is not found."""
    event = session.get(Event, event_id)
    if event is None or event.type in hidden:
        raise EventNotFound(str(event_id))
    return event
