"""/api/v1/ops/jobs: what runs when, how it went, and what failed."""

from __future__ import annotations

import marshmallow as ma

from marketplace.accounts.auth import auth_required
from marketplace.accounts.models import Role
from marketplace.core.api import Blueprint
from marketplace.core.fields import LocalDateTime
from marketplace.jobs.health import status

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


@blp.get("/jobs")
@auth_required(Role.ADMIN)
@blp.response(200, JobsSchema)
def jobs():
    """Each scheduled job: schedule, next run, last run, result, duration, recent failures"""
    return status()
