"""The whole API fuzzed from its own OpenAPI document (schemathesis), on both databases.

One test per operation. The cases are schemathesis's coverage cases (every boundary the
document defines, valid and invalid: lengths, ranges, patterns, missing and extra fields,
wrong types) and random valid and invalid input on top. They are sent in turn as an admin,
a shopper and a merchant's owner, and every other valid case carries the world's real ids
in its path, so requests reach past the 404s into the rules. The world is a live shop with
deals, a paid order with vouchers, and a distributor. Any 5xx, or any response whose
status, content type or body the document does not describe, fails the operation's test
with a curl line that reproduces it.

``LINLI_FUZZ_EXAMPLES`` (default 5) is the number of random cases per operation and mode on
top of the coverage cases; raise it for a deeper run: ``LINLI_FUZZ_EXAMPLES=200 make test``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from marketplace import create_app
from marketplace.accounts import service as accounts
from marketplace.accounts.models import Role, User
from marketplace.core.clock import FrozenClock
from marketplace.core.db import db
from tests.conftest import FROZEN_AT, reset
from tests.factories import (
    buy,
    live_deal,
    live_merchant,
    pay,
    portal_account,
    quick_shopper,
    staff,
)

EXAMPLES = int(os.environ.get("LINLI_FUZZ_EXAMPLES", "5"))
MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _operation_labels() -> list[str]:
    """Every operation of the document, read from an app that needs no services."""
    with tempfile.TemporaryDirectory() as instance:
        app = create_app(
            {
                "LINLI_ENV": "testing",
                "SQLALCHEMY_DATABASE_URI": "sqlite://",
                "LINLI_INSTANCE_PATH": instance,
                "LINLI_SMS_BACKEND": "memory",
                "LINLI_NOTIFIER_BACKEND": "memory",
            }
        )
        document = app.test_client().get("/api/v1/openapi.json").get_json()
    return [
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    ]


@pytest.fixture(scope="module")
def fuzz_world(backend_app: Flask) -> Iterator[dict]:
    """Built once per database for all the operations, wiped afterwards like any test's."""
    backend_app.extensions["linli.clock"] = FrozenClock(FROZEN_AT)
    client = backend_app.test_client()
    bd = staff(backend_app, client, Role.BD)
    admin = staff(backend_app, client, Role.ADMIN)
    merchant = live_merchant(client, bd)
    live_deal(backend_app, client, bd, merchant["id"], "flash")
    small = live_deal(backend_app, client, bd, merchant["id"], "small_set")
    owner = portal_account(backend_app, client, bd, merchant["id"], "owner")
    shopper = quick_shopper(backend_app)
    order = buy(client, shopper, small["id"], quantity=2).get_json()
    pay(backend_app, order, via="reconcile")
    vouchers = client.get("/api/v1/vouchers", headers=shopper.headers).get_json()["items"]
    joined = client.post("/api/v1/distributors", json={}, headers=shopper.headers)
    assert joined.status_code == 201, joined.get_json()
    config = schemathesis.Config.from_dict({"generation": {"deterministic": True}})
    yield {
        "app": backend_app,
        "schema": schemathesis.openapi.from_wsgi(
            "/api/v1/openapi.json", backend_app, config=config
        ),
        "users": [admin.id, shopper.id, owner.id],
        "known": {
            "deal_id": small["id"],
            "merchant_id": merchant["id"],
            "order_id": order["order"]["id"],
            "shopper_id": shopper.id,
            "distributor_id": joined.get_json()["id"],
            "code": vouchers[0]["code"],
            "slug": "hotpot-bbq",
        },
    }
    reset(backend_app)


def _random_cases(operation, mode: GenerationMode) -> list:
    drawn: list = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def draw(case):
        drawn.append(case)

    try:
        draw()
    except Unsatisfiable:
        pass  # no invalid input exists for, e.g., an operation without parameters
    return drawn


def _token(app: Flask, user_id: int) -> str:
    with app.app_context():
        token = accounts.issue_token(db.session.get(User, user_id)).token
        db.session.commit()
    return token


@pytest.mark.parametrize("label", _operation_labels())
def test_operation_answers_as_documented(label, fuzz_world):
    app, schema, known = fuzz_world["app"], fuzz_world["schema"], fuzz_world["known"]
    method, path = label.split(" ", 1)
    operation = schema[path][method]
    cases = list(
        schema.iter_coverage_cases(
            operation, generation_modes=MODES, generation_config=schema.config.generation
        )
    )
    for mode in MODES:
        cases.extend(_random_cases(operation, mode))
    # Fresh sessions for every operation: logging out or changing a password in one case
    # only blinds the rest of that operation's cases.
    tokens = [_token(app, user_id) for user_id in fuzz_world["users"]]
    failures = []
    for index, case in enumerate(cases):
        valid = case.meta is None or case.meta.generation.mode is GenerationMode.POSITIVE
        if valid and index % 2 and case.path_parameters:
            case.path_parameters = {
                name: known.get(name, value) for name, value in case.path_parameters.items()
            }
        headers = {"Authorization": f"Bearer {tokens[index % len(tokens)]}"}
        response = case.call(headers=headers)
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except Exception as exc:
            summary = (str(exc).strip() or repr(exc)).splitlines()[0]
            failures.append(
                f"{response.status_code} {summary}\n  {case.as_curl_command(headers)}\n"
                f"  {response.text[:300]}"
            )
    assert not failures, f"{label}: {len(failures)} of {len(cases)} cases failed\n" + "\n".join(
        failures[:10]
    )
