"""Side-by-side throughput with wrk, and a throwaway PostgreSQL database for a benchmark.

wrk (C, epoll, one connection per socket, latency kept in an HdrHistogram) drives the
server: a Python client on this 2-core machine would saturate before gunicorn does, and the
figures would measure the client. Every endpoint is compared with ``/healthz`` measured by
the same wrk against the same server in the same run, before and after the others, so a
share of the trivial endpoint's rate means something on a shared, noisy machine.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def wrk_path() -> str:
    found = shutil.which("wrk")
    if found is None:
        sys.exit("wrk is not installed (apt-get install wrk); this benchmark needs it")
    return found


# Prints one machine-readable line when wrk finishes: throughput, latency percentiles (wrk
# keeps every request's latency in an HdrHistogram) and, if the script counted them, the
# answers by status and error code. Appended to every script run_wrk is given.
WRK_REPORT = r"""
local linli_threads = {}
local linli_setup = setup
function setup(thread)
  thread:set("linli_thread", #linli_threads)
  table.insert(linli_threads, thread)
  if linli_setup then linli_setup(thread) end
end

function done(summary, latency, requests)
  local answers = {}
  for _, thread in ipairs(linli_threads) do
    local counted = thread:get("answers")
    if counted then
      for k, v in pairs(counted) do answers[k] = (answers[k] or 0) + v end
    end
  end
  local parts = {}
  for k, v in pairs(answers) do parts[#parts + 1] = string.format('"%s": %d', k, v) end
  local e = summary.errors
  io.write(string.format(
    'LINLI-WRK {"requests": %d, "seconds": %.3f, "p50_ms": %.3f, "p90_ms": %.3f, '
    .. '"p99_ms": %.3f, "max_ms": %.3f, "socket_errors": %d, "timeouts": %d, '
    .. '"answers": {%s}}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3,
    latency:percentile(90) / 1e3, latency:percentile(99) / 1e3, latency.max / 1e3,
    e.connect + e.read + e.write, e.timeout, table.concat(parts, ", ")))
end
"""

# Counts answers by status and the error body's stable code ("409 sold_out"); a script
# that wants them includes this (wrk then calls response() for every answer).
WRK_COUNT_ANSWERS = r"""
answers = {}
function response(status, headers, body)
  local code = "ok"
  if status >= 300 then
    code = string.match(body or "", '"code"%s*:%s*"([%w_]+)"') or "?"
  end
  local key = status .. " " .. code
  answers[key] = (answers[key] or 0) + 1
end
"""


@dataclass
class WrkResult:
    label: str
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    socket_errors: int
    timeouts: int
    answers: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def bad(self) -> int:
        """Answers of 400 and above (when counted), socket errors and timeouts."""
        failed = sum(n for k, n in self.answers.items() if int(k.split()[0]) >= 400)
        return failed + self.socket_errors + self.timeouts

    def line(self, ceiling: float | None = None) -> str:
        share = f"   {100 * self.rate / ceiling:5.1f}% of /healthz" if ceiling else ""
        return (
            f"  {self.label:<44} {self.rate:8.1f} req/s   p50 {self.p50_ms:7.2f} ms   "
            f"p99 {self.p99_ms:7.2f} ms   max {self.max_ms:7.1f} ms{share}"
            + (f"   socket errors {self.socket_errors}" if self.socket_errors else "")
            + (f"   timeouts {self.timeouts}" if self.timeouts else "")
        )


def start_wrk(
    label: str,
    url: str,
    script: str,
    *,
    threads: int,
    connections: int,
    seconds: float,
    workdir: str,
) -> Callable[[], WrkResult]:
    """Start wrk in the background on ``url`` with the Lua ``script`` (WRK_REPORT is
    appended); returns a function that waits for it and parses its report. Several can run
    at once (a crowd buying while others browse)."""
    path = Path(workdir) / f"{label.replace(' ', '_').replace('/', '_')}.lua"
    path.write_text(script + WRK_REPORT)
    process = subprocess.Popen(
        [
            wrk_path(),
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(path),
            url,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )

    def wait() -> WrkResult:
        out, _ = process.communicate()
        for line in out.splitlines():
            if line.startswith("LINLI-WRK "):
                return WrkResult(label, **json.loads(line[len("LINLI-WRK ") :]))
        raise RuntimeError(f"wrk printed no report for {label}:\n{out}")

    return wait


HEADERS_SCRIPT = r"""
function request()
  return wrk.format("GET", %(path)s, {%(headers)s})
end
"""


def wrk(
    label: str,
    url: str,
    *,
    seconds: float,
    threads: int = 2,
    connections: int = 32,
    headers: dict[str, str] | None = None,
) -> WrkResult:
    """Load ``url`` (GET, with ``headers``) for ``seconds`` with wrk; its rate, latency
    percentiles and answers by status. Every endpoint, /healthz included, is driven by the
    same script, so the client's own cost per request is the same for all."""
    path = "/" + url.partition("://")[2].partition("/")[2]
    pairs = [f"[{json.dumps(k)}] = {json.dumps(v)}" for k, v in (headers or {}).items()]
    script = HEADERS_SCRIPT % {"path": json.dumps(path), "headers": ", ".join(pairs)}
    with tempfile.TemporaryDirectory(prefix="linli-wrk-") as workdir:
        return start_wrk(
            label,
            url,
            WRK_COUNT_ANSWERS + script,
            threads=threads,
            connections=connections,
            seconds=seconds,
            workdir=workdir,
        )()


def side_by_side(
    base: str,
    endpoints: list[tuple[str, str]],
    *,
    seconds: float,
    rounds: int = 1,
    **options: Any,
) -> dict[str, float]:
    """Each endpoint's rate as a share of /healthz's, /healthz being measured right before
    and right after it (the mean of the two is its ceiling), ``rounds`` times over: on a
    busy machine the trivial rate drifts within a run, and a neighbour in time is the
    fairest comparison. Prints every measurement and the median share per endpoint."""
    for _, path in endpoints:  # warm up: fill the caches, open the pools
        wrk("warm-up", base + path, seconds=1, **options)
    shares: dict[str, list[float]] = {label: [] for label, _ in endpoints}
    for n in range(rounds):
        if rounds > 1:
            print(f"  round {n + 1} of {rounds}")
        ceiling = wrk("GET /healthz", base + "/healthz", seconds=seconds, **options)
        print(ceiling.line())
        for label, path in endpoints:
            rate = wrk(label, base + path, seconds=seconds, **options)
            after = wrk("GET /healthz", base + "/healthz", seconds=seconds, **options)
            trivial = (ceiling.rate + after.rate) / 2
            print(rate.line(trivial))
            print(after.line())
            shares[label].append(rate.rate / trivial)
            ceiling = after
    medians = {label: statistics.median(values) for label, values in shares.items()}
    print("  median share of /healthz:")
    for label, share in medians.items():
        print(f"    {label:<44} {100 * share:5.1f}%")
    return medians
