"""Scheduled jobs on RQ: the schedule as data (schedule.py), the task runner (tasks.py),
the `rq cron` configuration (cron_config.py) and the ops view (/api/v1/ops/jobs)."""

from flask import Flask

from marketplace.core.api import Api


def init_app(app: Flask, api: Api) -> None:
    # Imported when the app is built, like every domain's views: the worker imports
    # marketplace.jobs.tasks (and so this package) to build its own app.
    from marketplace.jobs.api import blp

    api.register_blueprint(blp)
