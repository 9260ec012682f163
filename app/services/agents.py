"""Agent use-cases (seed 002 "Agent Management")."""

from __future__ import annotations

import time
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import DEFAULT_RETRY_CONFIG, Agent
from app.models.base import utcnow
from app.services.errors import AgentNotFound, NameTaken
from app.services.pagination import Page, Window, paginate
from app.services.transactions import transactional


@transactional
def get_agent(session: Session, agent_id: str) -> Agent:
    agent = session.get(Agent, agent_id)
    if agent is None or agent.status == "deleted":
        raise AgentNotFound(agent_id)
    return agent


def _name_taken(session: Session, name: str, other_than: str | None = None) -> bool:
    query = select(Agent.id).where(Agent.name == name)
    if other_than:
        query = query.where(Agent.id != other_than)
    return session.execute(query).first() is not None


def create_agent(rt, body: dict[str, Any]) -> Agent:
    with rt.db.transaction() as session:
        if _name_taken(session, body["name"]):
            raise NameTaken("agent", "Agent", body["name"])
        agent = Agent(
            name=body["name"],
            url=body["url"],
            description=body.get("description"),
            auth_type=body.get("auth_type") or "none",
            auth_config=body.get("auth_config"),
            timeout_ms=body.get("timeout_ms") or 30000,
            retry_config={**DEFAULT_RETRY_CONFIG, **(body.get("retry_config") or {})},
            status=body.get("status") or "active",
        )
        session.add(agent)
    return agent


def update_agent(rt, agent_id: str, body: dict[str, Any]) -> Agent:
    with rt.db.transaction() as session:
        agent = get_agent(session, agent_id)
        if (
            "name" in body
            and body["name"] != agent.name
            and _name_taken(session, body["name"], agent.id)
        ):
            raise NameTaken("agent", "Agent", body["name"])
        for key in (
            "name",
            "url",
            "description",
            "auth_type",
            "auth_config",
            "timeout_ms",
            "status",
        ):
            if key in body:
                setattr(agent, key, body[key])
        if body.get("retry_config"):
            agent.retry_config = {**agent.retry_config, **body["retry_config"]}
        agent.updated_at = utcnow()
    return agent


def delete_agent(rt, agent_id: str) -> None:
    with rt.db.transaction() as session:
        agent = get_agent(session, agent_id)
        agent.status = "deleted"
        agent.updated_at = utcnow()


@transactional
def list_agents(
    session: Session,
    *,
    window: Window,
    status: str | None = None,
    name: str | None = None,
) -> Page:
    query = select(Agent)
    query = (
        query.where(Agent.status == status) if status else query.where(Agent.status != "deleted")
    )
    if name:
        query = query.where(Agent.name == name)
    return paginate(session, query.order_by(Agent.created_at.desc(), Agent.id), window)


def check_agent_health(rt, agent_id: str) -> dict[str, Any]:
    """Call the agent's ``/health`` with its auth and timeout; seed 002's answer shape."""
    with rt.db.transaction() as session:
        agent = get_agent(session, agent_id)
    url = agent.url.rstrip("/") + "/health"
    started = time.perf_counter()
    try:
        response = httpx.get(url, headers=agent.auth_headers(), timeout=agent.timeout_ms / 1000)
    except httpx.TimeoutException:
        return _health(False, None, None, f"Connection timeout after {agent.timeout_ms}ms")
    except httpx.HTTPError as exc:
        return _health(False, None, None, f"Connection failed: {exc.__class__.__name__}: {exc}")
    elapsed = round((time.perf_counter() - started) * 1000, 2)
    healthy = response.status_code < 400
    error = None if healthy else f"Agent answered HTTP {response.status_code}"
    return _health(healthy, response.status_code, elapsed, error)


def _health(healthy: bool, status_code, elapsed, error) -> dict[str, Any]:
    return {
        "healthy": healthy,
        "status_code": status_code,
        "response_time_ms": elapsed,
        "error": error,
    }
