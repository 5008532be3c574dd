"""scripts/localstripe, the payment server `make run` starts: its state is its own file (or
memory), kept across restarts, and never the machine-wide /tmp/localstripe.pickle that
every plain localstripe shares."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.conftest import free_port

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "localstripe"
AUTH = {"Authorization": "Bearer sk_test_linli_dev"}


def start(*args: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - our own script
        [sys.executable, str(SCRIPT), "--port", str(port), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return process, f"http://127.0.0.1:{port}"
        except OSError:
            assert process.poll() is None, "scripts/localstripe exited"
            time.sleep(0.05)
    process.kill()
    raise AssertionError("scripts/localstripe did not start")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(10)


def new_intent(base: str) -> str:
    response = requests.post(
        f"{base}/v1/payment_intents",
        data={"amount": 990, "currency": "cny", "payment_method_types[]": "card"},
        headers=AUTH,
        timeout=5,
    )
    response.raise_for_status()
    return response.json()["id"]


def known(base: str, intent_id: str) -> bool:
    return requests.get(f"{base}/v1/payment_intents/{intent_id}", headers=AUTH, timeout=5).ok


def test_the_state_file_keeps_intents_across_a_restart(tmp_path):
    state = tmp_path / "localstripe.pickle"
    process, base = start("--state", str(state))
    try:
        intent = new_intent(base)
    finally:
        stop(process)

    process, base = start("--state", str(state))
    try:
        assert state.is_file()
        assert known(base, intent)
    finally:
        stop(process)


def test_from_scratch_keeps_nothing_and_two_servers_share_nothing(tmp_path):
    first, first_base = start("--from-scratch")
    second, second_base = start("--state", str(tmp_path / "other.pickle"))
    try:
        intent = new_intent(first_base)
        assert known(first_base, intent)
        assert not known(second_base, intent)
    finally:
        stop(first)
        stop(second)

    again, base = start("--from-scratch")
    try:
        assert not known(base, intent)
    finally:
        stop(again)
