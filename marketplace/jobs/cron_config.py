"""`rq cron marketplace.jobs.cron_config`: registers every entry of the schedule.

Start it with TZ=Asia/Shanghai: `rq cron` reads cron expressions in local time."""

from rq import cron

from marketplace.jobs.schedule import QUEUE, SCHEDULE
from marketplace.jobs.tasks import dispatch

for _job in SCHEDULE:
    cron.register(
        dispatch,
        QUEUE,
        args=(_job.name,),
        cron=_job.cron,
        interval=_job.interval,
        name=_job.name,
        job_timeout=60,
    )
