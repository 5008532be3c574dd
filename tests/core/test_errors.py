"""One error shape for every failure, with the right status; bad input writes nothing."""

from __future__ import annotations

import sqlalchemy as sa

from marketplace.accounts.models import OtpChallenge, User
from marketplace.core.db import db
from tests.conftest import build_app


def error_of(response) -> dict:
    body = response.get_json()
    assert set(body) == {"error"}, body
    assert {"code", "message"} <= set(body["error"]), body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_malformed_json_is_400(app, client):
    response = client.post("/api/v1/auth/otp", data="{not json", content_type="application/json")

    assert response.status_code == 400
    assert error_of(response)["code"] == "malformed_request"
    assert count(app, OtpChallenge) == 0


def test_json_that_is_not_an_object_is_rejected(client):
    response = client.post("/api/v1/auth/otp", json=["13812345678"])

    assert response.status_code in (400, 422)
    assert error_of(response)["code"] in ("malformed_request", "validation_error")


def test_wrong_types_unknown_fields_and_overlong_strings_are_422(app, client):
    cases = [
        ({"phone": 13812345678}, "phone"),
        ({"phone": "13812345678", "admin": True}, "admin"),
        ({"phone": "1" * 500}, "phone"),
        ({}, "phone"),
    ]
    for body, field in cases:
        response = client.post("/api/v1/auth/otp", json=body)
        assert response.status_code == 422, body
        error = error_of(response)
        assert error["code"] == "validation_error"
        assert field in error["fields"], (body, error)
    assert count(app, OtpChallenge) == 0


def test_token_request_must_pick_one_login_method(app, client):
    both = client.post(
        "/api/v1/auth/token",
        json={"phone": "13812345678", "code": "123456", "username": "a", "password": "b"},
    )
    half = client.post("/api/v1/auth/token", json={"phone": "13812345678"})
    bad_code = client.post("/api/v1/auth/token", json={"phone": "13812345678", "code": "12ab"})

    assert both.status_code == half.status_code == bad_code.status_code == 422
    assert "_schema" in error_of(both)["fields"]
    assert error_of(half)["fields"] == {"code": ["Missing data for required field."]}
    assert error_of(bad_code)["fields"] == {"code": ["The code is 6 digits."]}
    assert count(app, User) == 0


def test_unknown_route_and_wrong_method(client):
    missing = client.get("/api/v1/no-such-thing")
    wrong_method = client.put("/api/v1/auth/otp", json={})

    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"
    assert wrong_method.status_code == 405
    assert error_of(wrong_method)["code"] == "method_not_allowed"
    assert "POST" in wrong_method.headers["Allow"]


def test_every_error_carries_the_request_id(client):
    response = client.get("/api/v1/me", headers={"X-Request-ID": "support-42"})

    assert error_of(response)["request_id"] == "support-42"
    assert response.headers["X-Request-ID"] == "support-42"


def test_unexpected_exception_is_a_500_without_a_traceback(redis_url, tmp_path):
    app = build_app(f"sqlite:///{tmp_path / 'x.sqlite3'}", redis_url, str(tmp_path))
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/api/v1/boom")  # an API URL: a page URL answers an HTML page (tests/web)
    def boom():
        raise RuntimeError("secret internals: password=hunter2")

    response = app.test_client().get("/api/v1/boom")

    assert response.status_code == 500
    error = error_of(response)
    assert error["code"] == "internal_error"
    assert "hunter2" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    assert error["request_id"]


def test_redis_down_is_a_503_not_a_500(tmp_path):
    app = build_app(f"sqlite:///{tmp_path / 'x.sqlite3'}", "redis://127.0.0.1:1/0", str(tmp_path))
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()

    response = app.test_client().post("/api/v1/auth/otp", json={"phone": "13812345678"})

    assert response.status_code == 503
    assert error_of(response)["code"] == "redis_unavailable"
