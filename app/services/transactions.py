"""Services own their transactions, for reads as for writes.

``@transactional`` lets one service function serve two kinds of caller. A view, a profile or the
CLI passes the ``Runtime`` and the function runs in a transaction of its own; another service
that is already inside a unit of work passes its ``Session`` and the function joins it. So a
view calls one function and renders what it returns, and services keep composing reads inside
their own transactions.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy.orm import Session

P = ParamSpec("P")
R = TypeVar("R")


def transactional(
    read: Callable[Concatenate[Session, P], R],
) -> Callable[Concatenate[Any, P], R]:
    @functools.wraps(read)
    def use_case(rt_or_session: Any, *args: P.args, **kwargs: P.kwargs) -> R:
        if isinstance(rt_or_session, Session):
            return read(rt_or_session, *args, **kwargs)
        with rt_or_session.db.transaction() as session:
            return read(session, *args, **kwargs)

    return use_case
