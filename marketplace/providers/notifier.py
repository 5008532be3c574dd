"""Messages to the team's channels (the CS group, the official account, WeCom). Dev prints
them; tests read them; production posts to a WeCom group robot (scheduled-jobs issue)."""

from __future__ import annotations

import logging
import threading
from typing import Protocol

from flask import Flask, current_app

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


def init_notifier(app: Flask) -> None:
    backend = app.config["LINLI_NOTIFIER_BACKEND"]
    app.extensions["linli.notifier"] = (
        MemoryNotifier() if backend == "memory" else ConsoleNotifier()
    )


def notifier() -> Notifier:
    return current_app.extensions["linli.notifier"]
