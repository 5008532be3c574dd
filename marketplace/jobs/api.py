"""/api/v1/ops/jobs: what runs when, how it went, and what failed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import marshmallow as ma
from croniter import croniter
from rq import Queue
from rq.registry import FailedJobRegistry

from marketplace.accounts.auth import auth_required
from marketplace.accounts.models import Role
from marketplace.core.api import Blueprint
from marketplace.core.clock import local_zone, now
from marketplace.core.fields import LocalDateTime
from marketplace.core.redis import redis_client
from marketplace.jobs.schedule import QUEUE, SCHEDULE
from marketplace.jobs.tasks import FAILURES_KEY, STATS_KEY

blp = Blueprint("ops_jobs", __name__, url_prefix="/ops", description="Scheduled jobs")


class FailureSchema(ma.Schema):
    at = LocalDateTime()
    error = ma.fields.String()


class JobStatusSchema(ma.Schema):
    name = ma.fields.String()
    description = ma.fields.String()
    schedule = ma.fields.String(metadata={"description": "cron (Asia/Shanghai) or interval"})
    next_run = LocalDateTime(allow_none=True)
    last_started = LocalDateTime(allow_none=True)
    last_ok = ma.fields.Boolean(allow_none=True)
    last_result = ma.fields.String(allow_none=True)
    duration_ms = ma.fields.Integer(allow_none=True)
    recent_failures = ma.fields.List(ma.fields.Nested(FailureSchema))


class JobsSchema(ma.Schema):
    jobs = ma.fields.List(ma.fields.Nested(JobStatusSchema))
    failed_in_rq = ma.fields.Integer(metadata={"description": "jobs in RQ's failed registry"})


def _at(value: Any) -> datetime | None:
    return datetime.fromtimestamp(float(value), tz=UTC) if value else None


def status() -> dict[str, Any]:
    redis = redis_client()
    moment = now()
    local = moment.astimezone(local_zone())
    jobs = []
    for job in SCHEDULE:
        stats = {
            k.decode(): v.decode()
            for k, v in redis.hgetall(STATS_KEY.format(name=job.name)).items()
        }
        if job.cron:
            next_run = croniter(job.cron, local).get_next(datetime)
            schedule = f"cron {job.cron}"
        else:
            last = _at(stats.get("last_started"))
            next_run = (last or moment) + timedelta(seconds=job.interval or 0)
            schedule = f"every {job.interval} s"
        failures = [json.loads(f) for f in redis.lrange(FAILURES_KEY.format(name=job.name), 0, 4)]
        jobs.append(
            {
                "name": job.name,
                "description": job.description,
                "schedule": schedule,
                "next_run": next_run,
                "last_started": _at(stats.get("last_started")),
                "last_ok": bool(int(stats["last_ok"])) if "last_ok" in stats else None,
                "last_result": stats.get("last_result"),
                "duration_ms": int(stats["duration_ms"]) if "duration_ms" in stats else None,
                "recent_failures": [{"at": _at(f["at"]), "error": f["error"]} for f in failures],
            }
        )
    failed = FailedJobRegistry(queue=Queue(QUEUE, connection=redis)).count
    return {"jobs": jobs, "failed_in_rq": failed}


@blp.get("/jobs")
@auth_required(Role.ADMIN)
@blp.response(200, JobsSchema)
def jobs():
    """Each scheduled job: schedule, next run, last run, result, duration, recent failures"""
    return status()
