"""Bad input is a clear 4xx with nothing written, and no stored row breaks a list.

Every id, count, date, instant and month the API loads is bounded at the edge
(marketplace/core/fields.py); JSON bodies are required where documented and refused in
another format; the OpenAPI document states what the server enforces."""

from __future__ import annotations

from datetime import UTC, datetime

import marshmallow as ma
import pytest
import sqlalchemy as sa

from marketplace.accounts.models import Role
from marketplace.core.db import db
from marketplace.core.fields import MAX_ID, Day, IdConverter, LocalDateTime
from marketplace.deals.models import Deal
from merchants.models import Category
from tests.factories import deal_body, live_deal, live_merchant, quick_shopper, staff

BIG_IDS = (2**31, 2**63, 2**64)


def _argument_schemas(app):
    for endpoint, view in app.view_functions.items():
        for parameter in getattr(view, "_apidoc", {}).get("arguments", {}).get("parameters", []):
            schema = parameter["schema"]
            yield endpoint, parameter["in"], schema() if isinstance(schema, type) else schema


def _loaded_fields(schema: ma.Schema, path: str):
    for name, field in schema.fields.items():
        if field.dump_only:
            continue
        inner = field.inner if isinstance(field, ma.fields.List) else field
        if isinstance(inner, ma.fields.Nested):
            yield from _loaded_fields(inner.schema, f"{path}.{name}")
        else:
            yield f"{path}.{name}", inner


def test_every_field_a_route_loads_is_bounded(app):
    """The class of bug, not one instance: a new schema with an unbounded integer or a bare
    date fails here before it can be a 500 in production."""
    problems = []
    for endpoint, location, schema in _argument_schemas(app):
        for path, field in _loaded_fields(schema, f"{endpoint}:{location}:{type(schema).__name__}"):
            if isinstance(field, ma.fields.Integer):
                ranges = [v for v in field.validators if isinstance(v, ma.validate.Range)]
                if not ranges or ranges[0].min is None or ranges[0].max is None:
                    problems.append(f"{path}: integer without a Range(min, max)")
                elif ranges[0].max > MAX_ID:
                    problems.append(f"{path}: integer past the int4 range")
                if location == "json" and not field.strict:
                    problems.append(f"{path}: JSON integer that would truncate 1.9 to 1")
            elif isinstance(field, ma.fields.DateTime) and not isinstance(field, LocalDateTime):
                problems.append(f"{path}: use LocalDateTime (bounded, zone-aware)")
            elif isinstance(field, ma.fields.Date) and not isinstance(field, Day):
                problems.append(f"{path}: use Day (bounded)")
    assert problems == []
    for rule in app.url_map.iter_rules():
        for name, converter in rule._converters.items():
            if type(converter).__name__ == "IntegerConverter":
                problems.append(f"{rule.rule}: <{name}> is not an IdConverter")
            if isinstance(converter, IdConverter):
                assert converter.max == MAX_ID
    assert problems == []


@pytest.fixture
def bd(app, client):
    return staff(app, client, Role.BD)


@pytest.fixture
def admin(app, client):
    return staff(app, client, Role.ADMIN)


def _deal_count(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Deal))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sale_ends_at", "9999-12-31T23:59:59Z"),
        ("sale_starts_at", "0266-05-01T10:00:00+08:00"),
        ("sale_starts_at", "1900-01-01T10:00:00+08:00"),
        ("valid_until", "9999-12-31"),
        ("unavailable_dates", ["0001-01-01"]),
    ],
)
def test_a_date_outside_the_calendar_is_refused_and_nothing_is_written(
    app, client, clock, bd, field, value
):
    merchant = live_merchant(client, bd)
    response = client.post(
        "/api/v1/deals",
        json=deal_body(merchant["id"], "flash", **{field: value}),
        headers=bd.headers,
    )
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["error"]["fields"]
    assert _deal_count(app) == 0

    deal = live_deal(app, client, bd, merchant["id"], "flash")
    deal = client.get(f"/api/v1/manage/deals/{deal['id']}", headers=bd.headers).get_json()
    patched = client.patch(
        f"/api/v1/deals/{deal['id']}",
        json={"version": deal["version"], field: value},
        headers=bd.headers,
    )
    assert patched.status_code == 422
    after = client.get(f"/api/v1/manage/deals/{deal['id']}", headers=bd.headers).get_json()
    assert after["version"] == deal["version"]
    assert after["sale_ends_at"] == deal["sale_ends_at"]


def test_no_stored_instant_can_break_the_shop_window(app, client, clock, bd):
    """A row written before the bounds existed (or by hand) still lists; such an instant is
    shown exactly, in UTC, never with a historical offset like +08:05:43."""
    merchant = live_merchant(client, bd)
    deal = live_deal(app, client, bd, merchant["id"], "small_set")
    with app.app_context():
        row = db.session.get(Deal, deal["id"])
        row.sale_ends_at = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
        row.sale_starts_at = datetime(1800, 1, 1, tzinfo=UTC)
        db.session.commit()

    for url in ("/api/v1/deals", "/api/v1/home", f"/api/v1/deals/{deal['id']}"):
        assert client.get(url).status_code == 200, url
    managed = client.get("/api/v1/manage/deals", headers=bd.headers)
    assert managed.status_code == 200
    item = client.get(f"/api/v1/deals/{deal['id']}").get_json()
    assert item["sale_ends_at"] == "9999-12-31T23:59:59+00:00"
    assert item["sale_starts_at"] == "1800-01-01T00:00:00+00:00"


@pytest.mark.parametrize("big", BIG_IDS)
def test_ids_past_the_columns_range_are_404_in_paths_and_422_in_bodies(
    app, client, clock, bd, admin, big
):
    assert client.get(f"/api/v1/deals/{big}").status_code == 404
    assert client.get(f"/api/v1/deals/{big}").get_json()["error"]["code"] == "not_found"
    assert client.get("/api/v1/deals/0").status_code == 404
    assert client.get(f"/api/v1/manage/deals/{big}", headers=bd.headers).status_code == 404
    assert (
        client.put(
            f"/api/v1/customers/{big}/binding", json={"distributor_id": 1}, headers=admin.headers
        ).status_code
        == 404
    )

    shopper = quick_shopper(app)
    bodies = [
        ("post", "/api/v1/orders", {"deal_id": big}, shopper, "deal_id"),
        ("post", "/api/v1/share-links", {"deal_id": big}, shopper, "deal_id"),
        ("post", "/api/v1/tickets", {"order_id": big, "kind": "question",
                                     "subject": "s", "body": "b"}, shopper, "order_id"),
        ("post", "/api/v1/deals", deal_body(big), bd, "merchant_id"),
        ("post", "/api/v1/popup-bookings", {"deal_id": big, "date": "2026-12-01"}, bd, "deal_id"),
        ("put", "/api/v1/customers/1/binding", {"distributor_id": big}, admin, "distributor_id"),
        ("put", "/api/v1/distributor-tiers",
         {"name": "金牌", "min_orders": 1, "level1_bonus": 0, "sort_order": big},
         admin, "sort_order"),
    ]  # fmt: skip
    for method, url, body, who, field in bodies:
        response = getattr(client, method)(url, json=body, headers=who.headers)
        assert response.status_code == 422, (url, response.get_json())
        assert field in response.get_json()["error"]["fields"], (url, response.get_json())
    assert _deal_count(app) == 0


@pytest.mark.parametrize("month", ["0000-01", "9999-12", "1999-12", "2100-01", "2026-13"])
def test_months_at_the_calendars_edge_are_422(app, client, admin, month):
    requests = [
        client.post(
            "/api/v1/distributors/1/streak-bonus", json={"month": month}, headers=admin.headers
        ),
        client.post("/api/v1/settlements", json={"period": month}, headers=admin.headers),
        client.get(f"/api/v1/settlements/overview?period={month}", headers=admin.headers),
        client.get(f"/api/v1/settlements/reconciliation?period={month}", headers=admin.headers),
        client.get(f"/api/v1/settlements?period={month}", headers=admin.headers),
    ]
    for response in requests:
        assert response.status_code == 422, response.get_json()
        assert response.get_json()["error"]["code"] == "validation_error"


def test_the_slot_calendar_refuses_a_start_past_the_calendar(app, client, bd):
    response = client.get("/api/v1/publishing-slots?start=9999-12-31&days=14", headers=bd.headers)
    assert response.status_code == 422
    assert "query.start" in response.get_json()["error"]["fields"]
    last = client.get("/api/v1/publishing-slots?start=2099-12-31&days=14", headers=bd.headers)
    assert last.status_code == 200


# -- bodies ----------------------------------------------------------------------------------


def _category(app, slug: str = "hotpot-bbq") -> Category:
    with app.app_context():
        return db.session.scalars(sa.select(Category).where(Category.slug == slug)).one()


def test_a_required_body_that_is_missing_is_400(app, client, admin):
    shopper = quick_shopper(app)
    cases = [
        ("patch", "/api/v1/categories/hotpot-bbq", admin),
        ("patch", "/api/v1/distribution/settings", admin),
        ("patch", "/api/v1/distributors/1", admin),
        ("post", "/api/v1/distributors/1/suspend", admin),
        ("post", "/api/v1/distributors", shopper),
        ("post", "/api/v1/share-links", shopper),
    ]
    for method, url, who in cases:
        response = getattr(client, method)(url, headers=who.headers)
        assert response.status_code == 400, (url, response.get_json())
        assert response.get_json()["error"]["code"] == "body_required"


def test_a_body_that_is_not_json_is_refused_not_ignored(app, client, admin):
    before = _category(app)
    response = client.patch(
        "/api/v1/categories/hotpot-bbq",
        data='{"name_zh": "改了"}',
        headers={**admin.headers, "Content-Type": "text/plain"},
    )
    assert response.status_code == 415
    assert response.get_json()["error"]["code"] == "unsupported_media_type"
    assert _category(app).name_zh == before.name_zh
    # The same body as JSON does change it: the refusal was about the format only.
    ok = client.patch(
        "/api/v1/categories/hotpot-bbq", json={"name_zh": "改了"}, headers=admin.headers
    )
    assert ok.status_code == 200
    assert _category(app).name_zh == "改了"


def test_fractional_integers_are_refused_not_truncated(app, client, admin):
    for url, method, body in [
        ("/api/v1/categories", "post",
         {"slug": "pets", "name_zh": "宠物", "name_en": "Pets", "sort_order": 1.9}),
        ("/api/v1/categories/hotpot-bbq", "patch", {"sort_order": 1.9}),
        ("/api/v1/distributor-tiers", "put",
         {"name": "金牌", "min_orders": 1, "level1_bonus": 0, "sort_order": 1.9}),
    ]:  # fmt: skip
        response = getattr(client, method)(url, json=body, headers=admin.headers)
        assert response.status_code == 422, (url, response.get_json())
        assert "sort_order" in response.get_json()["error"]["fields"]
    assert _category(app).sort_order != 1


def test_idempotency_keys_are_capped_at_80_everywhere(app, client):
    cs = staff(app, client, Role.CS)
    shopper = quick_shopper(app)
    long_key = "k" * 81
    approve = client.post(
        "/api/v1/refund-requests/1/approve",
        json={"note": ""},
        headers={**cs.headers, "Idempotency-Key": long_key},
    )
    order = client.post(
        "/api/v1/orders",
        json={"deal_id": 1},
        headers={**shopper.headers, "Idempotency-Key": long_key},
    )
    for response in (approve, order):
        assert response.status_code == 422, response.get_json()
        assert "headers.Idempotency-Key" in response.get_json()["error"]["fields"]


# -- the document says what the server enforces -------------------------------------------


def test_the_openapi_document_states_the_rules_the_server_enforces(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    schemas, paths = spec["components"]["schemas"], spec["paths"]
    assert "pattern" in schemas["OtpRequest"]["properties"]["phone"]
    assert schemas["TokenRequest"]["oneOf"] == [
        {"required": ["phone", "code"]},
        {"required": ["username", "password"]},
    ]
    webhook = paths["/api/v1/payments/stripe/webhook"]["post"]["parameters"]
    assert {"in": "header", "name": "Stripe-Signature", "required": True}.items() <= webhook[
        0
    ].items()
    near = next(p for p in paths["/api/v1/deals"]["get"]["parameters"] if p["name"] == "near")
    assert "pattern" in near["schema"]
    code = paths["/api/v1/vouchers/{code}/redeem"]["parameters"][0]
    assert code["schema"]["pattern"]
    assert "pattern" in schemas["StaffCreate"]["properties"]["username"]
    assert schemas["Location"]["required"] == ["lat", "lng"]
    deal_id = paths["/api/v1/deals/{deal_id}"]["parameters"][0]["schema"]
    assert deal_id == {"type": "integer", "minimum": 1, "maximum": MAX_ID}


@pytest.mark.parametrize(
    ("phone", "status"),
    [
        ("13812345678", 202),
        ("+86 138 1234 5678", 202),
        ("138-1234-5678", 202),
        ("１３８１２３４５６７８", 422),  # full-width digits
        ("12812345678", 422),
        ("1381234567", 422),
    ],
)
def test_phone_numbers_are_checked_as_documented(client, phone, status):
    response = client.post("/api/v1/auth/otp", json={"phone": phone})
    assert response.status_code == status, response.get_json()


def test_a_location_needs_both_lat_and_lng(app, client, bd):
    merchant = live_merchant(client, bd)
    for location in ({"lat": 27.3}, {"lng": 103.7}, {}):
        response = client.patch(
            f"/api/v1/merchants/{merchant['id']}",
            json={"version": merchant["version"], "location": location},
            headers=bd.headers,
        )
        assert response.status_code == 422, response.get_json()


@pytest.mark.parametrize("owner", ["2147483648", "9999999999", "0", "٣"])
def test_an_owner_filter_past_the_id_range_is_422(app, client, bd, owner):
    """A user id in a query string is bounded like any id (on PostgreSQL it was a 500)."""
    for url in ("/api/v1/merchants", "/api/v1/merchants/overdue-follow-ups"):
        response = client.get(f"{url}?owner={owner}", headers=bd.headers)
        assert response.status_code == 422, (url, response.get_json())
        assert "query.owner" in response.get_json()["error"]["fields"]
    mine = client.get("/api/v1/merchants?owner=me", headers=bd.headers)
    assert mine.status_code == 200
    by_id = client.get(f"/api/v1/merchants?owner={bd.id}", headers=bd.headers)
    assert by_id.status_code == 200
