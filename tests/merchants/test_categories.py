"""Merchant categories: the eight defaults, and admin adding, renaming, retiring."""

from __future__ import annotations

import pytest

from marketplace.accounts.models import Role
from tests.factories import make_merchant, staff

DEFAULT_SLUGS = [
    "hotpot-bbq", "milk-tea-desserts", "dining", "kids-family",
    "leisure", "beauty-health", "life-services", "attractions",
]  # fmt: skip


def test_the_eight_defaults_are_public_and_in_order(client):
    response = client.get("/api/v1/categories")

    assert response.status_code == 200
    categories = response.get_json()
    assert [c["slug"] for c in categories] == DEFAULT_SLUGS
    assert categories[0] == {
        "slug": "hotpot-bbq",
        "name_zh": "火锅烧烤",
        "name_en": "Hotpot & BBQ",
        "sort_order": 10,
        "retired": False,
    }


def test_admin_adds_and_renames_a_category(app, client):
    admin = staff(app, client, Role.ADMIN)

    created = client.post(
        "/api/v1/categories",
        headers=admin.headers,
        json={"slug": "pets", "name_zh": "宠物", "name_en": "Pets", "sort_order": 75},
    )
    renamed = client.patch(
        "/api/v1/categories/pets", headers=admin.headers, json={"name_zh": "萌宠乐园"}
    )

    assert created.status_code == 201
    assert renamed.status_code == 200 and renamed.get_json()["name_zh"] == "萌宠乐园"
    slugs = [c["slug"] for c in client.get("/api/v1/categories").get_json()]
    assert slugs.index("pets") == slugs.index("life-services") + 1


def test_a_retired_category_keeps_its_merchants_but_takes_no_new_ones(app, client):
    admin = staff(app, client, Role.ADMIN)
    bd = staff(app, client, Role.BD)
    existing = make_merchant(client, bd, category="attractions")

    retired = client.patch(
        "/api/v1/categories/attractions", headers=admin.headers, json={"retired": True}
    )
    new = client.post(
        "/api/v1/merchants",
        headers=bd.headers,
        json={"name": "大山包景区", "category": "attractions"},
    )

    assert retired.status_code == 200 and retired.get_json()["retired"] is True
    assert new.status_code == 422
    assert new.get_json()["error"]["code"] == "category_retired"
    kept = client.get(f"/api/v1/merchants/{existing['id']}", headers=bd.headers).get_json()
    assert kept["category"]["slug"] == "attractions"
    public = [c["slug"] for c in client.get("/api/v1/categories").get_json()]
    everything = client.get("/api/v1/categories?include_retired=true").get_json()
    assert "attractions" not in public
    assert {"slug": "attractions", "retired": True}.items() <= everything[-1].items()

    restored = client.patch(
        "/api/v1/categories/attractions", headers=admin.headers, json={"retired": False}
    )
    assert restored.get_json()["retired"] is False


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"slug": "hotpot-bbq", "name_zh": "重复", "name_en": "Dup"}, 409, "category_exists"),
        ({"slug": "Bad Slug", "name_zh": "坏", "name_en": "Bad"}, 422, "validation_error"),
        ({"slug": "x" * 41, "name_zh": "长", "name_en": "Long"}, 422, "validation_error"),
        ({"slug": "pets"}, 422, "validation_error"),
    ],
)
def test_bad_categories_are_refused(app, client, body, status, code):
    admin = staff(app, client, Role.ADMIN)

    response = client.post("/api/v1/categories", headers=admin.headers, json=body)

    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    assert len(client.get("/api/v1/categories").get_json()) == 8


def test_only_admin_manages_categories(app, client):
    bd = staff(app, client, Role.BD)

    response = client.post(
        "/api/v1/categories",
        headers=bd.headers,
        json={"slug": "pets", "name_zh": "宠物", "name_en": "Pets"},
    )

    assert response.status_code == 403


def test_unknown_category_is_404(app, client):
    admin = staff(app, client, Role.ADMIN)

    response = client.patch("/api/v1/categories/nope", headers=admin.headers, json={})

    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "category_not_found"
