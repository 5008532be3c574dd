"""Portal accounts: BD creates them; merchant staff see and change only their own shop."""

from __future__ import annotations

import pytest

from marketplace.accounts.models import Role
from tests.factories import PASSWORD, live_merchant, login_password, portal_account, sign, staff


@pytest.fixture
def two_shops(app, client):
    bd = staff(app, client, Role.BD)
    a = live_merchant(client, bd, name="A火锅")
    b = live_merchant(client, bd, name="B奶茶", category="milk-tea-desserts")
    return {
        "bd": bd,
        "a": a,
        "b": b,
        "a_owner": portal_account(app, client, bd, a["id"], "owner"),
        "a_clerk": portal_account(app, client, bd, a["id"], "clerk"),
        "b_owner": portal_account(app, client, bd, b["id"], "owner"),
    }


def test_bd_creates_an_account_that_must_change_its_password(app, client):
    bd = staff(app, client, Role.BD)
    shop = live_merchant(client, bd)

    created = client.post(
        f"/api/v1/merchants/{shop['id']}/staff",
        headers=bd.headers,
        json={"username": "laoban", "role": "owner", "display_name": "张老板"},
    )

    assert created.status_code == 201
    body = created.get_json()
    assert body["account"]["role"] == "owner" and body["account"]["must_change_password"] is True
    assert len(body["initial_password"]) >= 10
    token = login_password(client, "laoban", body["initial_password"])
    auth = {"Authorization": f"Bearer {token}"}
    blocked = client.get("/api/v1/merchant", headers=auth)
    assert blocked.status_code == 403
    assert blocked.get_json()["error"]["code"] == "password_change_required"
    me = client.get("/api/v1/me", headers=auth).get_json()
    assert me["roles"] == ["merchant_staff"]
    assert me["merchant"] == {"id": shop["id"], "role": "owner"}


def test_the_portal_shows_my_shop(client, two_shops):
    response = client.get("/api/v1/merchant", headers=two_shops["a_clerk"].headers)

    assert response.status_code == 200
    assert response.get_json()["role"] == "clerk"
    assert response.get_json()["merchant"]["name"] == "A火锅"


def test_merchant_staff_read_only_their_own_shop(client, two_shops):
    a, b = two_shops["a"], two_shops["b"]
    owner = two_shops["a_owner"]

    own = client.get(f"/api/v1/merchants/{a['id']}", headers=owner.headers)
    other = client.get(f"/api/v1/merchants/{b['id']}", headers=owner.headers)
    listing = client.get("/api/v1/merchants", headers=owner.headers)
    filtered = client.get("/api/v1/merchants?category=milk-tea-desserts", headers=owner.headers)

    assert own.status_code == 200
    assert other.status_code == 404
    assert other.get_json()["error"]["code"] == "merchant_not_found"
    assert [m["name"] for m in listing.get_json()["items"]] == ["A火锅"]
    assert filtered.get_json()["items"] == []


def test_merchant_staff_cannot_write_to_another_shop(client, two_shops):
    b = two_shops["b"]
    owner = two_shops["a_owner"]

    edit = client.patch(
        f"/api/v1/merchants/{b['id']}",
        headers=owner.headers,
        json={"version": b["version"], "phone": "13000000000"},
    )
    staff_list = client.get(f"/api/v1/merchants/{b['id']}/staff", headers=owner.headers)

    assert edit.status_code == 404 and staff_list.status_code == 404
    after = client.get(f"/api/v1/merchants/{b['id']}", headers=two_shops["bd"].headers)
    assert after.get_json()["phone"] == b["phone"]


def test_owner_edits_contact_details_but_not_what_bd_decides(client, two_shops):
    a = two_shops["a"]
    owner = two_shops["a_owner"]
    url = f"/api/v1/merchants/{a['id']}"

    allowed = client.patch(
        url,
        headers=owner.headers,
        json={
            "version": a["version"],
            "phone": "13912345678",
            "business_hours": [{"days": [1, 2, 3, 4, 5], "open": "10:00", "close": "22:00"}],
        },
    )
    forbidden = client.patch(
        url,
        headers=owner.headers,
        json={"version": allowed.get_json()["version"], "is_headliner": True, "name": "天下第一"},
    )

    assert allowed.status_code == 200 and allowed.get_json()["phone"] == "13912345678"
    assert forbidden.status_code == 403
    assert set(forbidden.get_json()["error"]["fields"]) == {"is_headliner", "name"}
    assert client.get(url, headers=owner.headers).get_json()["name"] == "A火锅"


def test_a_clerk_cannot_edit_the_shop(client, two_shops):
    a = two_shops["a"]

    response = client.patch(
        f"/api/v1/merchants/{a['id']}",
        headers=two_shops["a_clerk"].headers,
        json={"version": a["version"], "phone": "13000000000"},
    )

    assert response.status_code == 403
    assert (
        client.get(f"/api/v1/merchants/{a['id']}", headers=two_shops["bd"].headers).get_json()[
            "phone"
        ]
        == a["phone"]
    )


def test_merchant_staff_cannot_use_bd_tools(client, two_shops):
    a = two_shops["a"]
    owner = two_shops["a_owner"]

    calls = [
        client.post(
            "/api/v1/merchants", headers=owner.headers, json={"name": "x", "category": "dining"}
        ),
        client.post(
            f"/api/v1/merchants/{a['id']}/stage", headers=owner.headers, json={"stage": "suspended"}
        ),
        client.post(
            f"/api/v1/merchants/{a['id']}/grades",
            headers=owner.headers,
            json={"grade": 5, "note": "我们最好"},
        ),
        client.get(f"/api/v1/merchants/{a['id']}/audit", headers=owner.headers),
        client.post(
            f"/api/v1/merchants/{a['id']}/staff",
            headers=owner.headers,
            json={"username": "sneaky", "role": "owner"},
        ),
        sign(client, owner, a["id"], "entry_agreement"),
    ]

    assert [c.status_code for c in calls] == [403] * len(calls)


def test_owner_sees_the_shop_accounts_and_contracts_clerk_does_not(client, two_shops):
    a = two_shops["a"]
    bd = two_shops["bd"]
    contract_id = client.get(
        f"/api/v1/merchants/{a['id']}/contracts", headers=bd.headers
    ).get_json()[0]["id"]
    file_url = f"/api/v1/merchants/{a['id']}/contracts/{contract_id}/file"

    owner_list = client.get(
        f"/api/v1/merchants/{a['id']}/staff", headers=two_shops["a_owner"].headers
    )
    clerk_list = client.get(
        f"/api/v1/merchants/{a['id']}/staff", headers=two_shops["a_clerk"].headers
    )

    assert sorted(s["role"] for s in owner_list.get_json()) == ["clerk", "owner"]
    assert clerk_list.status_code == 403
    assert client.get(file_url, headers=two_shops["a_owner"].headers).status_code == 200
    assert client.get(file_url, headers=two_shops["a_clerk"].headers).status_code == 403
    other_file = f"/api/v1/merchants/{two_shops['b']['id']}/contracts/{contract_id}/file"
    assert client.get(other_file, headers=two_shops["b_owner"].headers).status_code == 404


def test_duplicate_username_and_weak_password_are_refused(app, client, two_shops):
    bd, a = two_shops["bd"], two_shops["a"]
    url = f"/api/v1/merchants/{a['id']}/staff"

    taken = client.post(
        url, headers=bd.headers, json={"username": two_shops["a_owner"].username, "role": "clerk"}
    )
    weak = client.post(
        url, headers=bd.headers, json={"username": "newclerk", "role": "clerk", "password": "123"}
    )
    bad_role = client.post(url, headers=bd.headers, json={"username": "boss", "role": "king"})

    assert taken.status_code == 409 and taken.get_json()["error"]["code"] == "username_taken"
    assert weak.status_code == 422 and bad_role.status_code == 422
    assert login_password(client, two_shops["a_owner"].username, PASSWORD)
