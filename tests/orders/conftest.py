"""Fixtures of the flash tests: a BD and the live shop whose flash deals they sell."""

from __future__ import annotations

import pytest

from marketplace.accounts.models import Role
from tests.factories import live_merchant, staff


@pytest.fixture
def bd(app, client, clock):
    return staff(app, client, Role.BD)


@pytest.fixture
def merchant(client, bd):
    return live_merchant(client, bd)
