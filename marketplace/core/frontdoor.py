"""The front door: the hottest answers, given before Flask.

A few requests dominate the busiest moments: a flash crowd's taps that are turned away,
the public catalog read from its cache, and ``GET /me``, the app's first call. Each is
answered from one Redis round trip, yet on Flask's path it also pays for routing, the
request context, flask-smorest's decorators, before/after-request hooks and a
``Response`` object — most of its time.

This WSGI middleware runs first. A domain registers a *lane* for one method and path
(``route``): a function of the WSGI environ that returns a finished answer or None. A lane
answers only what it can answer exactly as the app would (the same status, body and
headers; each lane's tests compare the two); anything else — an answer it is unsure of,
Redis unavailable, an unexpected error — returns None and the request goes on to the app
unchanged (a lane that read the body puts it back). Lanes run inside an app context (the
app's Redis, clock and settings) but no request context. The door adds what every answer
of the app carries (``X-Request-ID``, ``X-Content-Type-Options``), as the app's
after-request hooks do.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from flask import Flask

log = logging.getLogger(__name__)
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")  # an incoming X-Request-ID we echo
REQUEST_ID_KEY = "linli.request_id"  # the answer's request id, in the environ for its lane

StartResponse = Callable[..., object]
WsgiApp = Callable[[dict, StartResponse], Iterable[bytes]]


@dataclass
class Answer:
    """A finished answer: its status line, headers and body (the door adds the request id
    and the content-type options; a body gets its Content-Length)."""

    status: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


Lane = Callable[[dict], Answer | None]


class FrontDoor:
    """WSGI middleware: each request whose method and path have a lane is offered to it;
    every other request, and every one a lane declines, goes to the app."""

    def __init__(self, app: Flask, inner: WsgiApp) -> None:
        self.app = app
        self.inner = inner
        self.exact: dict[tuple[str, str], Lane] = {}
        self.numbered: dict[tuple[str, str], Lane] = {}  # "/prefix/" + digits

    def route(self, method: str, path: str, lane: Lane) -> None:
        """Offer ``method path`` to ``lane``; a path ending in ``/<int>`` takes any positive
        decimal number there (the lane reads it from ``PATH_INFO``)."""
        if path.endswith("/<int>"):
            self.numbered[(method, path[: -len("<int>")])] = lane
        else:
            self.exact[(method, path)] = lane

    def lane_for(self, method: str, path: str) -> Lane | None:
        lane = self.exact.get((method, path))
        if lane is None and self.numbered:
            prefix, _, tail = path.rpartition("/")
            if tail.isdigit() and tail.isascii() and tail[0] != "0" and len(tail) < 10:
                lane = self.numbered.get((method, prefix + "/"))
        return lane

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        lane = self.lane_for(environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", ""))
        if lane is not None:
            incoming = environ.get("HTTP_X_REQUEST_ID", "")
            # as the app's own hook does; a lane's body may quote it (errors do)
            environ[REQUEST_ID_KEY] = (
                incoming if REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
            )
            try:
                with self.app.app_context():
                    answer = lane(environ)
            except Exception:  # the app answers whatever went wrong here, as it would anyway
                log.exception("the front door passed a request on after an error")
                answer = None
            if answer is not None:
                start_response(answer.status, self._headers(answer, environ))
                return [answer.body]
        return self.inner(environ, start_response)

    @staticmethod
    def _headers(answer: Answer, environ: dict) -> list[tuple[str, str]]:
        headers = list(answer.headers)
        if not answer.status.startswith("304"):
            headers.append(("Content-Length", str(len(answer.body))))
        headers.append(("X-Content-Type-Options", "nosniff"))
        headers.append(("X-Request-ID", environ[REQUEST_ID_KEY]))
        return headers


def front_door(app: Flask) -> FrontDoor:
    """The app's front door, wrapped around its WSGI app on first use."""
    door = app.extensions.get("linli.front_door")
    if door is None:
        door = app.extensions["linli.front_door"] = FrontDoor(app, app.wsgi_app)
        app.wsgi_app = door  # type: ignore[method-assign]
    return door
