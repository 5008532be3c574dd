"""Fixtures for the scheduled jobs: a real RQ worker in burst mode."""

from __future__ import annotations

import pytest
from redis import Redis
from rq import Queue, SimpleWorker

from marketplace.jobs import tasks
from marketplace.jobs.schedule import QUEUE


@pytest.fixture
def worker(app):
    """Runs scheduled jobs the way production does: dispatch → queue → worker."""
    tasks.use_app(app)
    redis = Redis.from_url(app.config["LINLI_REDIS_URL"])

    def run(*names: str) -> None:
        for name in names:
            tasks.dispatch(name)
        SimpleWorker([Queue(QUEUE, connection=redis)], connection=redis).work(burst=True)

    yield run
    tasks.use_app(None)
