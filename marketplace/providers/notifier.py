"""Messages to the team's channels (the CS group, the official account, WeCom). Dev prints
them; tests read them; production posts to a WeCom group robot (scheduled-jobs issue)."""

from __future__ import annotations

import logging
import threading
from typing import Protocol

import requests
from flask import Flask, current_app
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from marketplace.core.db import on_commit

log = logging.getLogger("linli.notify")


class Notifier(Protocol):
    def send(self, channel: str, markdown: str) -> None: ...


class ConsoleNotifier:
    def send(self, channel: str, markdown: str) -> None:
        log.warning("[%s] %s", channel, markdown)


class MemoryNotifier:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sent: list[tuple[str, str]] = []

    def send(self, channel: str, markdown: str) -> None:
        with self._lock:
            self.sent.append((channel, markdown))

    def clear(self) -> None:
        with self._lock:
            self.sent.clear()


class WeComNotifier:
    """A WeCom (企业微信) group robot per channel: POST {"msgtype": "markdown", …} to the
    robot's webhook URL; connection errors, 429 and 5xx are retried with backoff (urllib3).
    A robot that keeps failing raises, so the job that sent the message is retried by RQ."""

    def __init__(self, webhooks: dict[str, str], *, retries: int = 3, backoff: float = 0.5) -> None:
        self.webhooks = webhooks
        self.session = requests.Session()
        retry = Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=frozenset({"POST"}),
            backoff_factor=backoff,
            raise_on_status=False,
        )
        self.session.mount("http://", HTTPAdapter(max_retries=retry))
        self.session.mount("https://", HTTPAdapter(max_retries=retry))
        self.fallback = ConsoleNotifier()

    def send(self, channel: str, markdown: str) -> None:
        url = self.webhooks.get(channel)
        if url is None:
            log.warning("no WeCom robot for channel %r; logging instead", channel)
            self.fallback.send(channel, markdown)
            return
        response = self.session.post(
            url,
            json={"msgtype": "markdown", "markdown": {"content": markdown[:4000]}},
            timeout=(3.05, 10),
        )
        response.raise_for_status()
        body = response.json()
        if body.get("errcode", 0) != 0:
            raise RuntimeError(f"WeCom refused the message: {body}")


def parse_webhooks(text: str) -> dict[str, str]:
    """``cs=https://…,community=https://…`` → {channel: url}."""
    pairs = [item.split("=", 1) for item in text.split(",") if item.strip()]
    return {name.strip(): url.strip() for name, url in pairs}


def init_notifier(app: Flask) -> None:
    backend = app.config["LINLI_NOTIFIER_BACKEND"]
    if backend == "memory":
        app.extensions["linli.notifier"] = MemoryNotifier()
    elif backend == "wecom":
        app.extensions["linli.notifier"] = WeComNotifier(
            parse_webhooks(app.config["LINLI_WECOM_WEBHOOKS"])
        )
    else:
        app.extensions["linli.notifier"] = ConsoleNotifier()


def notifier() -> Notifier:
    return current_app.extensions["linli.notifier"]


CS_CHANNEL = "cs"


def tell_customer_service(text: str) -> None:
    """Customer service's channel, once the transaction that decided it has committed (a
    rolled-back decision tells nobody)."""
    on_commit(lambda: notifier().send(CS_CHANNEL, text))
