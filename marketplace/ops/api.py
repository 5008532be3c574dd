"""Probes for the load balancer and the orchestrator."""

from __future__ import annotations

import logging

import marshmallow as ma
import sqlalchemy as sa
from flask_smorest import Blueprint
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from marketplace.core.db import db
from marketplace.core.redis import redis_client

log = logging.getLogger(__name__)

# At the root, not under /api/v1: probes are infrastructure, not product API.
probes = Blueprint("probes", __name__, description="Liveness and readiness probes")


class HealthSchema(ma.Schema):
    status = ma.fields.String(metadata={"description": "ok"})


class ReadinessSchema(ma.Schema):
    status = ma.fields.String(metadata={"description": "ok, or unavailable"})
    checks = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.String(),
        metadata={"description": "each dependency: ok or the reason it failed"},
    )


@probes.get("/healthz")
@probes.response(200, HealthSchema)
def healthz() -> dict:
    """The process is up (checks nothing else)"""
    return {"status": "ok"}


@probes.get("/readyz")
@probes.response(200, ReadinessSchema)
@probes.alt_response(503, schema=ReadinessSchema, description="a dependency is down")
def readyz():
    """The database and Redis answer; 503 otherwise"""
    checks: dict[str, str] = {}
    try:
        db.session.execute(sa.text("SELECT 1"))
        checks["database"] = "ok"
    except SQLAlchemyError as exc:
        log.warning("readiness: database unavailable: %s", exc)
        checks["database"] = f"unavailable: {type(exc).__name__}"
        db.session.rollback()
    try:
        redis_client().ping()
        checks["redis"] = "ok"
    except RedisError as exc:
        log.warning("readiness: redis unavailable: %s", exc)
        checks["redis"] = f"unavailable: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    return {"status": "ok" if ok else "unavailable", "checks": checks}, 200 if ok else 503
