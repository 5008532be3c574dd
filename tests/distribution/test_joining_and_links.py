"""Joining under each policy, share links and the redirect."""

from __future__ import annotations

import pytest

from marketplace.accounts.models import Role
from tests.distribution.conftest import join, link, new_distributor
from tests.factories import quick_shopper, staff


def set_settings(app, client, **values):
    admin = staff(app, client, Role.ADMIN)
    response = client.patch("/api/v1/distribution/settings", json=values, headers=admin.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_open_policy_and_the_recruiter_chain(app, client, shop):
    _, parent_row = new_distributor(app, client)
    child, child_row = new_distributor(app, client, parent_row["invite_code"])

    assert parent_row["status"] == "active" and parent_row["recruiter_id"] is None
    assert child_row["recruiter_id"] == parent_row["id"]
    assert join(client, child).get_json()["error"]["code"] == "already_joined"
    bad = join(client, quick_shopper(app), "nope1234")
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "invalid_invite_code"


def test_application_policy_needs_staff_approval(app, client, shop):
    set_settings(app, client, join_policy="application")
    cs = staff(app, client, Role.CS)
    applicant = quick_shopper(app)

    applied = join(client, applicant).get_json()
    cannot_link = client.post("/api/v1/share-links", json={}, headers=applicant.headers)
    approved = client.post(
        f"/api/v1/distributors/{applied['id']}/approve", json={}, headers=cs.headers
    )

    assert applied["status"] == "applied"
    assert cannot_link.status_code == 409
    assert approved.get_json()["status"] == "active"
    assert (
        client.post(
            f"/api/v1/distributors/{applied['id']}/approve", json={}, headers=cs.headers
        ).status_code
        == 409
    )


def test_invitation_policy(app, client, shop):
    _, parent_row = new_distributor(app, client)
    set_settings(app, client, join_policy="invitation")

    without = join(client, quick_shopper(app))
    with_code = join(client, quick_shopper(app), parent_row["invite_code"])

    assert without.status_code == 403 and without.get_json()["error"]["code"] == (
        "invitation_required"
    )
    assert with_code.status_code == 201


def test_bad_settings_are_422(app, client):
    admin = staff(app, client, Role.ADMIN)

    for body in ({"join_policy": "lottery"}, {"rebind_after_days": 0}, {"binding_mode": "forever"}):
        assert (
            client.patch(
                "/api/v1/distribution/settings", json=body, headers=admin.headers
            ).status_code
            == 422
        )


def test_a_link_redirects_with_the_attribution_and_counts_the_visit(app, client, shop):
    account, _ = new_distributor(app, client)
    code = link(client, account, shop["deal"]["id"])
    home_code = link(client, account)

    followed = client.get(f"/s/{code}")
    home = client.get(f"/s/{home_code}")

    assert followed.status_code == 302
    assert followed.headers["Location"] == f"/deals/{shop['deal']['id']}?ref={code}"
    assert f"linli_ref={code}" in followed.headers["Set-Cookie"]
    assert home.headers["Location"] == f"/?ref={home_code}"
    unknown = client.get("/s/doesnotexist")  # a page people follow: the 404 page
    assert unknown.status_code == 404 and unknown.mimetype == "text/html"
    assert "这个分享链接不存在或已经失效。" in unknown.get_data(as_text=True)
    qr = client.get(f"/api/v1/share-links/{code}/qr.png", headers=account.headers)
    assert qr.status_code == 200 and qr.data.startswith(b"\x89PNG")
    other, _ = new_distributor(app, client)
    assert (
        client.get(f"/api/v1/share-links/{code}/qr.png", headers=other.headers).status_code == 404
    )


def test_a_suspended_distributor_makes_no_links(app, client, shop):
    cs = staff(app, client, Role.CS)
    account, row = new_distributor(app, client)

    client.post(
        f"/api/v1/distributors/{row['id']}/suspend", json={"reason": "刷单"}, headers=cs.headers
    )
    refused = client.post("/api/v1/share-links", json={}, headers=account.headers)

    assert refused.status_code == 409
    assert refused.get_json()["error"]["code"] == "distributor_not_active"


@pytest.mark.parametrize("who", ["self", "other"])
def test_a_distributor_reads_only_their_own_dashboard(app, client, shop, who):
    account, row = new_distributor(app, client)
    _, other_row = new_distributor(app, client)

    target = row if who == "self" else other_row
    response = client.get(f"/api/v1/distributors/{target['id']}", headers=account.headers)

    assert response.status_code == (200 if who == "self" else 403)
    mine = client.get("/api/v1/distributors/me", headers=account.headers).get_json()
    assert mine["distributor"]["id"] == row["id"]
