"""Sending text messages. Production plugs a carrier (Aliyun/Tencent SMS) in behind
``SmsSender``; dev prints to the log, tests read an in-memory outbox."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Protocol

from flask import Flask, current_app

log = logging.getLogger("linli.sms")


class SmsSender(Protocol):
    def send(self, phone: str, text: str) -> None: ...


class ConsoleSms:
    def send(self, phone: str, text: str) -> None:
        log.warning("SMS to %s: %s", phone, text)


@dataclass(frozen=True)
class SentSms:
    phone: str
    text: str


class MemorySms:
    """Keeps every message so tests can read the code a shopper would receive."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.outbox: list[SentSms] = []

    def send(self, phone: str, text: str) -> None:
        with self._lock:
            self.outbox.append(SentSms(phone, text))

    def messages_to(self, phone: str) -> list[str]:
        with self._lock:
            return [m.text for m in self.outbox if m.phone == phone]

    def clear(self) -> None:
        with self._lock:
            self.outbox.clear()


def init_sms(app: Flask) -> None:
    backend = app.config["LINLI_SMS_BACKEND"]
    app.extensions["linli.sms"] = MemorySms() if backend == "memory" else ConsoleSms()


def sms_sender() -> SmsSender:
    return current_app.extensions["linli.sms"]
