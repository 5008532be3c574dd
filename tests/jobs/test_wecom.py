"""The WeCom group-robot notifier against a real local HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from marketplace.providers.notifier import WeComNotifier, parse_webhooks


@pytest.fixture
def robot() -> Iterator[dict]:
    """A stand-in WeCom robot on loopback that fails the first ``fail`` posts with 502."""
    state = {"fail": 0, "received": []}

    @Request.application
    def app(request: Request) -> Response:
        state["received"].append(json.loads(request.get_data()))
        if state["fail"] > 0:
            state["fail"] -= 1
            return Response("bad gateway", status=502)
        return Response(json.dumps({"errcode": 0, "errmsg": "ok"}), content_type="application/json")

    server = make_server("127.0.0.1", 0, app, threaded=True)
    # shutdown() waits for the loop's next poll: 0.5 s by default
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    ).start()
    state["url"] = f"http://127.0.0.1:{server.server_port}/cgi-bin/webhook/send?key=test"
    yield state
    server.shutdown()


def test_markdown_is_posted_to_the_channels_robot(robot):
    notifier = WeComNotifier({"cs": robot["url"]}, backoff=0)

    notifier.send("cs", "**SLA breached** ticket #7")

    assert robot["received"] == [
        {"msgtype": "markdown", "markdown": {"content": "**SLA breached** ticket #7"}}
    ]


def test_a_failing_robot_is_retried(robot):
    robot["fail"] = 2
    notifier = WeComNotifier({"cs": robot["url"]}, retries=3, backoff=0)

    notifier.send("cs", "hello")

    assert len(robot["received"]) == 3


def test_a_robot_that_keeps_failing_raises_so_the_job_is_retried(robot):
    robot["fail"] = 10
    notifier = WeComNotifier({"cs": robot["url"]}, retries=2, backoff=0)

    with pytest.raises(requests.HTTPError):
        notifier.send("cs", "hello")
    assert len(robot["received"]) == 3


def test_unconfigured_channels_fall_back_to_the_log(robot, caplog):
    notifier = WeComNotifier(parse_webhooks(f"cs={robot['url']}"))

    notifier.send("community", "weekly hits")

    assert robot["received"] == [] and "weekly hits" in caplog.text


def test_customer_service_is_told_only_once_the_decision_commits(app):
    import sqlalchemy as sa

    from marketplace.core.db import db
    from marketplace.providers.notifier import tell_customer_service

    sent = app.extensions["linli.notifier"].sent
    with app.app_context():
        db.session.execute(sa.text("SELECT 1"))  # a decision in a transaction
        tell_customer_service("rolled back")
        db.session.rollback()
        db.session.execute(sa.text("SELECT 1"))
        tell_customer_service("committed")
        assert sent == []  # nothing before the commit
        db.session.commit()
    assert sent == [("cs", "committed")]
