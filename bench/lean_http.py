"""A small keep-alive HTTP/1.1 client for the replay's load generator, on ``http.client``.

The replay's client processes run on the same two cores as the server they measure, so what
each request costs the client is taken from the server. ``requests`` spends about half a
millisecond of CPU a request (prepared requests, hooks, cookie jars, urllib3's pool);
``http.client`` on a connection kept per thread and per server spends a fraction of that
(``.venv/bin/python bench/lean_http.py`` measures both against the same gunicorn). The replay
needs little of requests: GET and POST with JSON or a form, no redirects followed, no cookies
(the API takes a bearer token), a timeout, and a response with ``status_code``, ``content``,
``headers`` and ``json()``.

A server closes a keep-alive connection that sat idle too long (gunicorn after 2 s): like
urllib3, ``Session`` looks before reusing one (a zero-timeout poll) and opens a new one if
the server has closed it. If the close crosses the request on the wire (the keep-alive
race), a browser sends the request again on a new connection and so does
``Session.request`` (once, and only when nothing of an answer arrived), reporting it through
``on_resend`` so the replay can count it.
"""

from __future__ import annotations

import http.client
import json as jsonlib
import select
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode, urlsplit


class HTTPError(Exception):
    """No answer: the connection failed, timed out, or closed without a response. ``kind``
    names what happened (``Timeout``, ``ConnectionRefusedError``, ...) for the report."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class Response:
    __slots__ = ("content", "headers", "status_code")

    def __init__(self, status_code: int, headers: dict[str, str], content: bytes) -> None:
        self.status_code = status_code
        self.headers = headers  # lower-cased names
        self.content = content

    def json(self) -> Any:
        return jsonlib.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


_URL_SAFE = "!#$%&'()*+,/:;=?@[]~"  # requests.utils.requote_uri's

# What a server closing an idle keep-alive connection looks like to the next request on it.
_STALE = (
    http.client.RemoteDisconnected,
    http.client.BadStatusLine,
    BrokenPipeError,
    ConnectionResetError,
    ConnectionAbortedError,
)


def _closed_by_peer(sock: socket.socket) -> bool:
    """An idle keep-alive socket that is readable has nothing to read but the peer's close
    (or, wrongly, stray bytes): either way it must not carry the next request."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


class Session:
    """One thread's connections, one per server (scheme://host:port). Not thread-safe: keep
    one per thread, as with ``requests.Session``."""

    def __init__(self, headers: dict[str, str] | None = None) -> None:
        self.headers = dict(headers or {})
        self._connections: dict[str, http.client.HTTPConnection] = {}

    def _connection(self, origin: str, timeout: float) -> http.client.HTTPConnection:
        connection = self._connections.get(origin)
        if connection is None:
            parts = urlsplit(origin)
            if parts.scheme != "http":
                raise ValueError(f"only plain http on loopback: {origin}")
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
            self._connections[origin] = connection
        connection.timeout = timeout
        if connection.sock is not None:
            if _closed_by_peer(connection.sock):
                # The server closed it while it sat idle (gunicorn after its keep-alive
                # seconds): open a new one now rather than lose a request on it, as
                # urllib3 does before reusing a connection.
                connection.close()
            else:
                connection.sock.settimeout(timeout)
        return connection

    def _drop(self, origin: str) -> None:
        connection = self._connections.pop(origin, None)
        if connection is not None:
            connection.close()

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        json: Any = None,
        data: dict[str, Any] | None = None,
        timeout: float = 30,
        on_resend: Callable[[], None] | None = None,
    ) -> Response:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        # as requests does: non-ASCII (a search word in Chinese) percent-encoded, the rest kept
        target = quote(parts.path + (f"?{parts.query}" if parts.query else ""), safe=_URL_SAFE)
        sent = {**self.headers, **(headers or {})}
        body: bytes | None = None
        if json is not None:
            body = jsonlib.dumps(json).encode()
            sent["Content-Type"] = "application/json"
        elif data is not None:
            body = urlencode(data).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (1, 2):
            connection = self._connection(origin, timeout)
            reused = connection.sock is not None
            try:
                connection.request(method, target, body=body, headers=sent)
                answer = connection.getresponse()
                content = answer.read()
            except _STALE as exc:
                self._drop(origin)
                if attempt == 1 and reused:
                    if on_resend is not None:
                        on_resend()
                    continue
                raise HTTPError(type(exc).__name__) from exc
            except (OSError, http.client.HTTPException) as exc:  # refused, timed out, ...
                self._drop(origin)
                kind = "Timeout" if isinstance(exc, socket.timeout) else type(exc).__name__
                raise HTTPError(kind) from exc
            except BaseException:  # our own mistake: never leave the connection half used
                self._drop(origin)
                raise
            if answer.will_close:
                self._drop(origin)
            return Response(answer.status, {k.lower(): v for k, v in answer.getheaders()}, content)
        raise AssertionError("unreachable")

    def get(self, url: str, **kwargs: Any) -> Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Response:
        return self.request("POST", url, **kwargs)

    def close(self) -> None:
        for origin in list(self._connections):
            self._drop(origin)


def _compare(n: int) -> None:
    """CPU per request of requests.Session and of this Session, against the same gunicorn
    serving /healthz (no database needed for it), one thread each, one after the other."""
    import os
    import tempfile
    import time

    import requests

    from bench.processes import gunicorn, server_env

    with tempfile.TemporaryDirectory(prefix="linli-lean-") as instance:
        env = server_env(instance, f"sqlite:///{instance}/unused.sqlite3")
        with gunicorn(env, workers=2, threads=2) as base:
            clients: list[tuple[str, Callable[[], int]]] = []
            old = requests.Session()
            clients.append(("requests.Session", lambda: old.get(base + "/healthz").status_code))
            new = Session()
            clients.append(
                ("bench.lean_http.Session", lambda: new.get(base + "/healthz").status_code)
            )
            for label, call in clients:
                for _ in range(200):  # warm: connections, imports
                    call()
                cpu, wall = time.process_time(), time.perf_counter()
                for _ in range(n):
                    assert call() == 200
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                print(
                    f"{label:<26} {n} GET /healthz: client CPU {cpu / n * 1e6:6.0f} µs a request, "
                    f"wall {wall / n * 1e6:6.0f} µs (pid {os.getpid()})"
                )


if __name__ == "__main__":
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    _compare(int(sys.argv[1]) if len(sys.argv) > 1 else 3000)
