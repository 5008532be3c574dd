"""The machinery of a replay against real servers: throwaway databases, localstripe and
gunicorn on free loopback ports, a virtual clock, an open-loop load generator spread over
several processes, and the percentile tables the report prints.

The load generator is built here rather than taken from wrk or locust because a replayed
day is made of stateful journeys, not of one hot URL: a purchase creates an order, confirms
its PaymentIntent at the payment server, waits for the webhook, reads the vouchers, and
hours later a clerk redeems one of them; a login reads the one-time code from the SMS log.
wrk's Lua cannot talk to two servers or carry state across processes, and locust is not a
dependency. Instead: ``processes`` spawned Python processes, each with ``threads`` threads
and one keep-alive connection per thread and server (``bench/lean_http.py``: ``requests``
cost the client four times the CPU, taken from the server it measures on two cores), run
journeys written as generators (each ``yield`` is a think time). Arrivals are open-loop:
every journey starts at its scheduled instant whatever the server does, and the report says
how late the generator started its steps (``lag``) and how much CPU it used, so a client
bottleneck shows.
"""

from __future__ import annotations

import bisect
import contextlib
import heapq
import importlib
import itertools
import math
import multiprocessing
import os
import pickle
import random
import re
import signal
import threading
import time
import traceback
from collections import defaultdict
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from bench import lean_http
from bench.processes import (  # noqa: F401 - busiest_day takes them from here too
    ROOT,
    VENV_BIN,
    free_port,
    gunicorn,
    localstripe,
    stop,
    throwaway_database,
    wait_listening,
)


def register_webhook(stripe_url: str, app_url: str, secret: str, events: list[str]) -> None:
    requests.post(
        f"{stripe_url}/_config/webhooks/bench",
        data={
            "url": f"{app_url}/api/v1/payments/stripe/webhook",
            "secret": secret,
            "events[]": events,
        },
        timeout=5,
    ).raise_for_status()


# -- the virtual clock ---------------------------------------------------------------------


@dataclass(frozen=True)
class VirtualClock:
    """Virtual seconds since the replayed day's local midnight, played ``speed`` times
    faster than real time: virtual ``v0`` happens at real ``r0`` (``time.time()``)."""

    speed: float
    v0: float
    r0: float

    def real(self, v: float) -> float:
        return self.r0 + (v - self.v0) / self.speed

    def now(self) -> float:
        return self.v0 + (time.time() - self.r0) * self.speed


def hhmm(v: float) -> str:
    v = int(v)
    return f"{v // 3600:02d}:{v % 3600 // 60:02d}:{v % 60:02d}"


def parse_hhmm(text: str) -> int:
    hours, _, minutes = text.partition(":")
    return int(hours) * 3600 + int(minutes or 0) * 60


# -- what a journey yields -----------------------------------------------------------------


@dataclass(frozen=True)
class Real:
    """Wait this many real seconds (not scaled by the replay's speed): the payment server's
    webhook takes a real second whatever the speed, so a client polls in real time."""

    seconds: float


Journey = Generator[float | Real, None, Any]


@dataclass
class Sample:
    template: str  # "GET /api/v1/deals/{id}": the route, never the raw URL
    variant: str  # what kind of call within the route ("flash opening", "otp", ...)
    status: int  # 0: no answer (timeout, connection error)
    code: str  # the error's code for answers >= 400, "" otherwise
    ms: float
    v: float  # virtual time the request started
    late_ms: float = 0.0  # how late the generator started the step this request opened


class Context:
    """What a journey sees: the world, HTTP with timing, the SMS inbox, the clock, and
    ``later`` to start another journey at a virtual time. One per worker process."""

    def __init__(self, runner: Runner, world: dict[str, Any]) -> None:
        self.runner = runner
        self.world = world
        self.base: str = world["base"]
        self.stripe_base: str = world["stripe_base"]
        self._local = threading.local()
        self.samples: list[Sample] = []
        self.provider: list[Sample] = []
        self.notes: defaultdict[str, int] = defaultdict(int)
        self.facts: list[tuple[str, Any]] = []
        self.examples: defaultdict[str, list[tuple[str, dict[str, str]]]] = defaultdict(list)
        self._sms = SmsInbox(Path(world["sms_log"]))

    # clock and scheduling
    def v(self) -> float:
        return self.runner.clock.now()

    def later(self, v: float, journey: Journey) -> None:
        self.runner.at(v, journey, new=True)

    def note(self, what: str, n: int = 1) -> None:
        self.notes[what] += n

    def fact(self, what: str, value: Any) -> None:
        self.facts.append((what, value))

    # HTTP
    def _session(self) -> lean_http.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = lean_http.Session(
                {"User-Agent": "linli-busiest-day/1 (bench)"}
            )
        return session

    def _resent(self) -> None:
        # The server closed an idle keep-alive connection as the request went out on it; a
        # browser sends it again on a new connection, and so does lean_http.
        self.note("requests sent again on a new connection (keep-alive race)")

    def call(
        self,
        method: str,
        template: str,
        path: str,
        *,
        variant: str = "",
        token: str | None = None,
        ip: str | None = None,
        headers: dict[str, str] | None = None,
        json: Any = None,
    ) -> lean_http.Response | None:
        """One request to the app, timed and recorded under its route ``template``.
        Redirects are not followed (a share link's 302 is the answer measured)."""
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        if method == "GET" and len(self.examples[template]) < 5:
            self.examples[template].append((path, dict(sent)))
        if ip:
            sent["X-Forwarded-For"] = ip
        late_ms = getattr(self.runner.local, "late", 0.0) * 1000
        self.runner.local.late = 0.0  # only a step's first request waited for the step
        v, start = self.v(), time.perf_counter()
        try:
            response = self._session().request(
                method, self.base + path, headers=sent, json=json, on_resend=self._resent
            )
        except lean_http.HTTPError as exc:
            ms = (time.perf_counter() - start) * 1000
            self.samples.append(Sample(template, variant, 0, exc.kind, ms, v, late_ms))
            return None
        ms = (time.perf_counter() - start) * 1000
        code = ""
        if response.status_code >= 400:
            try:
                code = response.json()["error"]["code"]
            except (ValueError, KeyError, TypeError):
                code = "unreadable"
        self.samples.append(Sample(template, variant, response.status_code, code, ms, v, late_ms))
        return response

    def get(self, template: str, path: str, **kwargs: Any) -> lean_http.Response | None:
        return self.call("GET", template, path, **kwargs)

    def post(self, template: str, path: str, **kwargs: Any) -> lean_http.Response | None:
        return self.call("POST", template, path, **kwargs)

    def stripe(self, template: str, path: str, data: dict[str, Any]) -> dict[str, Any] | None:
        """A call to the payment server as Stripe.js makes it in the shopper's browser
        (localstripe only accepts the secret key there, as the tests' pay_with_test_card)."""
        v, start = self.v(), time.perf_counter()
        try:
            response = self._session().post(
                self.stripe_base + path,
                data=data,
                headers={"Authorization": f"Bearer {self.world['stripe_key']}"},
                on_resend=self._resent,
            )
        except lean_http.HTTPError as exc:
            ms = (time.perf_counter() - start) * 1000
            self.provider.append(Sample(template, "", 0, exc.kind, ms, v))
            return None
        ms = (time.perf_counter() - start) * 1000
        body = response.json() if response.content else {}
        code = (body.get("error") or {}).get("code") or "" if response.status_code >= 400 else ""
        self.provider.append(Sample(template, "", response.status_code, code, ms, v))
        return body if response.status_code < 400 else None

    def sms_code(self, phone: str, timeout: float = 10) -> str | None:
        return self._sms.code_for(phone, timeout)


class SmsInbox:
    """The shoppers' phones: the console SMS sender logs ``SMS to <phone>: …<code>…`` to the
    web server's stderr, which the replay sends to a file; this reads it as it grows."""

    PATTERN = re.compile(r"SMS to (\d{11}): \D*(\d{6})")

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.partial = ""
        self.codes: dict[str, str] = {}
        self.lock = threading.Lock()

    def _read(self) -> None:
        with contextlib.suppress(FileNotFoundError), self.path.open(encoding="utf-8") as f:
            f.seek(self.offset)
            chunk = f.read()
            self.offset = f.tell()
        text = self.partial + chunk if chunk else self.partial
        lines = text.split("\n")
        self.partial = lines.pop()
        for line in lines:
            match = self.PATTERN.search(line)
            if match:
                self.codes[match.group(1)] = match.group(2)

    def code_for(self, phone: str, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                code = self.codes.pop(phone, None)
                if code is None:
                    self._read()
                    code = self.codes.pop(phone, None)
            if code is not None or time.monotonic() > deadline:
                return code
            time.sleep(0.05)


# -- the runner: one per worker process ----------------------------------------------------


@dataclass(order=True)
class _Due:
    at: float
    seq: int
    journey: Journey = field(compare=False)
    new: bool = field(compare=False)


class Runner:
    """Runs journeys on ``threads`` threads: each step (the code between two ``yield``s) runs
    at its due instant on a free thread; the step's yield says when the next one is due."""

    def __init__(self, clock: VirtualClock, threads: int, end_v: float, grace_v: float) -> None:
        self.clock = clock
        self.threads = threads
        self.end_v = end_v  # no new journey starts after this virtual instant
        self.grace_v = grace_v  # journeys under way may go on this much longer
        self.heap: list[_Due] = []
        self.seq = itertools.count()
        self.cv = threading.Condition()
        self.busy = 0
        self.finished = False
        self.lags: list[float] = []
        self.dropped = 0
        self.crashes: list[str] = []
        self.crash_count = 0
        self.local = threading.local()  # .late: seconds the running step started late

    def at(self, v: float, journey: Journey, *, new: bool) -> None:
        if v > (self.end_v if new else self.end_v + self.grace_v):
            journey.close()
            self.dropped += 1
            return
        with self.cv:
            heapq.heappush(self.heap, _Due(self.clock.real(v), next(self.seq), journey, new))
            self.cv.notify()

    def _next(self) -> _Due | None:
        with self.cv:
            while True:
                if self.finished:
                    return None
                if self.heap:
                    wait = self.heap[0].at - time.time()
                    if wait <= 0:
                        self.busy += 1
                        return heapq.heappop(self.heap)
                    self.cv.wait(min(wait, 0.5))
                elif self.busy == 0:
                    self.finished = True
                    self.cv.notify_all()
                    return None
                else:
                    self.cv.wait(0.5)

    def _loop(self) -> None:
        while (due := self._next()) is not None:
            self.local.late = max(0.0, time.time() - due.at)
            self.lags.append(self.local.late)
            try:
                pause = next(due.journey)
            except StopIteration:
                pause = None
            except Exception:  # a journey's own bug: keep the run going, report it
                pause = None
                self.crash_count += 1
                if len(self.crashes) < 5:
                    self.crashes.append(traceback.format_exc())
            if pause is not None:
                now_v = self.clock.now()
                if isinstance(pause, Real):
                    next_v = now_v + pause.seconds * self.clock.speed
                else:
                    next_v = now_v + max(0.0, float(pause))
                self.at(next_v, due.journey, new=False)
            with self.cv:
                self.busy -= 1
                self.cv.notify_all()

    def run(self) -> None:
        workers = [threading.Thread(target=self._loop, daemon=True) for _ in range(self.threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()


@dataclass
class WorkerResult:
    samples: list[Sample]
    provider: list[Sample]
    notes: dict[str, int]
    facts: list[tuple[str, Any]]
    lags: list[float]
    dropped: int
    crash_count: int
    crashes: list[str]
    cpu_seconds: float
    examples: dict[str, list[tuple[str, dict[str, str]]]]


def _worker_main(
    module: str,
    clock: VirtualClock,
    threads: int,
    end_v: float,
    grace_v: float,
    world: dict[str, Any],
    starts: list[tuple[float, str, dict[str, Any]]],
    out: str,
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us
    scripts = importlib.import_module(module).JOURNEYS
    runner = Runner(clock, threads, end_v, grace_v)
    ctx = Context(runner, world)
    for v, kind, spec in starts:
        runner.at(v, scripts[kind](ctx, spec), new=True)
    cpu = time.process_time()
    runner.run()
    result = WorkerResult(
        ctx.samples,
        ctx.provider,
        dict(ctx.notes),
        ctx.facts,
        runner.lags,
        runner.dropped,
        runner.crash_count,
        runner.crashes,
        time.process_time() - cpu,
        dict(ctx.examples),
    )
    with open(out, "wb") as f:
        pickle.dump(result, f)


def run_workers(
    module: str,
    *,
    clock: VirtualClock,
    processes: int,
    threads: int,
    end_v: float,
    grace_v: float,
    world: dict[str, Any],
    starts: list[tuple[float, str, dict[str, Any]]],
    scratch: Path,
    on_wait: Callable[[], None] | None = None,
) -> list[WorkerResult]:
    """Deal the journeys' starts out to ``processes`` spawned processes (round robin in time
    order, so each gets a share of every peak) and collect what they measured."""
    spawn = multiprocessing.get_context("spawn")
    ordered = sorted(starts, key=lambda s: s[0])
    jobs = []
    for index in range(processes):
        out = scratch / f"worker-{index}.pickle"
        mine = ordered[index::processes]
        process = spawn.Process(
            target=_worker_main,
            args=(module, clock, threads, end_v, grace_v, world, mine, str(out)),
            name=f"replay-client-{index}",
        )
        process.start()
        jobs.append((process, out))
    try:
        while any(p.is_alive() for p, _ in jobs):
            if on_wait:
                on_wait()
            for process, _ in jobs:
                process.join(1)
    finally:
        for process, _ in jobs:
            if process.is_alive():
                process.terminate()
                process.join(5)
    results = []
    for process, out in jobs:
        if process.exitcode != 0 or not out.exists():
            raise RuntimeError(f"client process {process.name} failed ({process.exitcode})")
        with out.open("rb") as f:
            results.append(pickle.load(f))  # noqa: S301 - written by our own child
    return results


# -- where the CPU goes -------------------------------------------------------------------


class CpuMeter:
    """Samples every process's CPU time from /proc (Linux) four times a second, in groups
    (the web server, the database, the payment server, Redis, the replay itself: this
    process, its clients and its jobs), so a report can say which of them the two cores went
    to in a given real second: whether a slow second was the server short of CPU, or
    waiting with CPU to spare."""

    INTERVAL = 0.25
    GROUPS = ("web", "database", "payment server", "redis", "replay", "other")

    def __init__(self) -> None:
        self._me = os.getpid()
        self._hz = os.sysconf("SC_CLK_TCK")
        # (time, CPU seconds by group since the meter started): summed from each process's
        # own growth between two samples, so a process that ends (a database connection
        # closed, a job done) takes nothing away from its group's total.
        self.samples: list[tuple[float, dict[str, float]]] = []
        self._last: dict[int, tuple[str, int]] = {}  # pid: (group, CPU ticks) last seen
        self._totals = dict.fromkeys(self.GROUPS, 0.0)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> CpuMeter:
        self._last = self._read()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._done.set()
        self._thread.join(5)

    def _group(self, pid: int, parent: int, command: str) -> str:
        if "gunicorn" in command:
            return "web"
        if command.startswith("postgres"):
            return "database"
        if "localstripe" in command:
            return "payment server"
        if "redis-server" in command:
            return "redis"
        if self._me in (pid, parent):
            return "replay"
        return "other"

    def _read(self) -> dict[int, tuple[str, int]]:
        seen = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                    command = f.read().replace(b"\0", b" ").decode(errors="replace")
                with open(f"/proc/{entry.name}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:  # gone meanwhile
                continue
            pid = int(entry.name)
            ticks = int(fields[11]) + int(fields[12])  # utime + stime
            seen[pid] = (self._group(pid, int(fields[1]), command), ticks)
        return seen

    def _run(self) -> None:
        while not self._done.wait(self.INTERVAL):
            now = self._read()
            for pid, (group, ticks) in now.items():
                before = self._last.get(pid)
                grown = ticks - before[1] if before else ticks  # a new process: all of it
                self._totals[group] += max(0, grown) / self._hz
            self._last = now
            self.samples.append((time.time(), dict(self._totals)))

    def cores(self, start: float, end: float) -> dict[str, float]:
        """How many cores each group kept busy on average from ``start`` to ``end`` (real,
        epoch seconds): CPU seconds over wall seconds between the samples nearest inside
        that span; empty if fewer than two samples fall in it."""
        times = [t for t, _ in self.samples]
        i, j = bisect.bisect_left(times, start), bisect.bisect_right(times, end) - 1
        if j <= i:
            return {}
        (t0, first), (t1, last) = self.samples[i], self.samples[j]
        return {g: max(0.0, last[g] - first[g]) / (t1 - t0) for g in self.GROUPS}


# -- numbers -------------------------------------------------------------------------------


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (q in 0..100)."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def access_log_samples(path: Path, templates: Callable[[str, str], str | None]) -> dict:
    """The server's own view from gunicorn's access log: request ms by route template."""
    by_route: defaultdict[str, list[float]] = defaultdict(list)
    statuses: defaultdict[str, defaultdict[int, int]] = defaultdict(lambda: defaultdict(int))
    with contextlib.suppress(FileNotFoundError), path.open(encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) != 4:
                continue
            method, url_path, status, ms = parts
            template = templates(method, url_path)
            if template is None:
                continue
            with contextlib.suppress(ValueError):
                by_route[template].append(float(ms))
                statuses[template][int(status)] += 1
    return {"ms": by_route, "statuses": statuses}


def weighted_choice(rng: random.Random, items: list[Any], weights: list[float]) -> Any:
    return rng.choices(items, weights=weights, k=1)[0]
