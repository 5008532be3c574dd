"""Every log line is in UTC with a Z, whatever the process's time zone: rq cron runs with
TZ=Asia/Shanghai (its cron expressions are local) and used to log in Shanghai time."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHANGHAI_PROCESS = {**os.environ, "TZ": "Asia/Shanghai", "PYTHONPATH": str(ROOT)}


def run_in_shanghai(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=SHANGHAI_PROCESS,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def utc_hours_around_now() -> set[str]:
    now = time.time()
    return {time.strftime("%Y-%m-%dT%H:", time.gmtime(now + d)) for d in (-60, 0, 60)}


def assert_utc_line(line: str) -> None:
    stamp = line.split(" ", 1)[0]
    assert stamp.endswith("Z") and stamp[:14] in utc_hours_around_now(), line
    assert "\x1b" not in line


def test_rq_cron_logs_in_utc_through_our_logging_config(redis_url):
    """What `rq cron --config marketplace.core.logs` does: rq reads DICT_CONFIG, applies it,
    and its scheduler then adds no (colouring, local-time) handler of its own."""
    result = run_in_shanghai(
        "import logging.config, redis\n"
        "from rq.cli.helpers import read_config_file\n"
        "from rq.cron import CronScheduler\n"
        "logging.config.dictConfig(read_config_file('marketplace.core.logs')['DICT_CONFIG'])\n"
        f"cron = CronScheduler(connection=redis.Redis.from_url({redis_url!r}))\n"
        "cron.log.info('hello from cron')\n"
    )

    lines = [line for line in result.stderr.splitlines() if "hello from cron" in line]
    assert len(lines) == 1, result.stderr + result.stdout
    assert_utc_line(lines[0])
    assert "hello from cron" not in result.stdout  # rq's own stdout handler is not there


def test_the_app_logs_in_utc(tmp_path):
    result = run_in_shanghai(
        "import logging\n"
        "from marketplace import create_app\n"
        f"create_app({{'LINLI_ENV': 'testing', 'LINLI_INSTANCE_PATH': {str(tmp_path)!r}}})\n"
        "logging.getLogger('linli.test').warning('hello from the app')\n"
    )

    lines = [line for line in result.stderr.splitlines() if "hello from the app" in line]
    assert len(lines) == 1, result.stderr
    assert_utc_line(lines[0])
    assert " WARNING linli.test: hello from the app" in lines[0]
