"""stripe-mock, Stripe's official mock server, for contract tests of our Stripe client.

stripe-mock validates every request against Stripe's published OpenAPI description and
answers with Stripe's fixture objects; it keeps no state and sends no webhooks. The binary is
not a Python package and is never committed; it is found, in this order, at
``$LINLI_STRIPE_MOCK``, as ``stripe-mock`` on PATH, at ``<repo>/../shared/tools/stripe-mock``
and at ``/work/shared/tools/stripe-mock``. Missing, the contract tests skip locally and fail
under ``CI=true`` (like PostgreSQL and Redis).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port, local_server, unavailable

REPO = Path(__file__).resolve().parents[2]


def find_stripe_mock() -> Path | None:
    candidates = [
        os.environ.get("LINLI_STRIPE_MOCK"),
        shutil.which("stripe-mock"),
        str(REPO.parent / "shared" / "tools" / "stripe-mock"),
        "/work/shared/tools/stripe-mock",
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def stripe_mock_url(tmp_path_factory) -> Iterator[str]:
    binary = find_stripe_mock()
    if binary is None:
        unavailable(
            "stripe-mock",
            "not found: set LINLI_STRIPE_MOCK, put stripe-mock on PATH, or keep it at "
            "shared/tools/stripe-mock beside the clone",
        )
    port = free_port()
    socket_path = tmp_path_factory.mktemp("stripe-mock") / "https.sock"
    command = [str(binary), "-http-addr", f"127.0.0.1:{port}", "-https-unix", str(socket_path)]
    with local_server("stripe-mock", command, port) as url:
        yield url
