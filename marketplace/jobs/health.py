"""The scheduled jobs' health: each job of the schedule with its next run, its last run's
outcome and duration, and its recent failures (from the stats ``jobs.tasks`` keeps in
Redis), plus RQ's failed registry. ``GET /api/v1/ops/jobs`` serves it, and the staff
console's job page shows it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from croniter import croniter
from rq import Queue
from rq.registry import FailedJobRegistry

from marketplace.core.clock import local_zone, now
from marketplace.core.redis import redis_client
from marketplace.jobs.schedule import QUEUE, SCHEDULE
from marketplace.jobs.tasks import FAILURES_KEY, STATS_KEY


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
