"""The onboarding pipeline and its contract gate."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from marketplace.accounts.models import Role
from merchants.models import Merchant, Stage
from merchants.service import TRANSITIONS
from tests.factories import CONTRACT_KINDS, make_merchant, move, sign, staff

ALL = list(Stage)
# Every (from, to) pair the pipeline forbids, including staying put.
ILLEGAL = [(a, b) for a in ALL for b in ALL if b not in TRANSITIONS[a]]
PATH_TO = {
    Stage.LEAD: [],
    Stage.NEGOTIATING: ["negotiating"],
    Stage.CONTRACTED: ["negotiating", "contracted"],
    Stage.LIVE: ["negotiating", "contracted", "live"],
    Stage.SUSPENDED: ["negotiating", "contracted", "live", "suspended"],
    Stage.CHURNED: ["churned"],
}


def merchant_at(client, bd, stage: Stage) -> dict:
    merchant = make_merchant(client, bd)
    for kind in CONTRACT_KINDS:
        assert sign(client, bd, merchant["id"], kind).status_code == 201
    for step in PATH_TO[stage]:
        assert move(client, bd, merchant["id"], step).status_code == 200, step
    return merchant


def test_the_whole_path_with_contracts(app, client):
    bd = staff(app, client, Role.BD)
    merchant = make_merchant(client, bd)
    for kind in CONTRACT_KINDS:
        assert sign(client, bd, merchant["id"], kind).status_code == 201

    stages = []
    for step in ["negotiating", "contracted", "live", "suspended", "live", "churned"]:
        response = move(client, bd, merchant["id"], step, reason=f"to {step}")
        assert response.status_code == 200, response.get_json()
        stages.append(response.get_json()["stage"])

    assert stages == ["negotiating", "contracted", "live", "suspended", "live", "churned"]
    trail = client.get(f"/api/v1/merchants/{merchant['id']}/audit", headers=bd.headers)
    changes = [
        e["data"] for e in trail.get_json()["items"] if e["action"] == "merchant.stage_changed"
    ]
    assert [c["to"] for c in reversed(changes)] == stages
    assert trail.get_json()["items"][0]["reason"] == "to churned"
    assert trail.get_json()["items"][0]["actor"]["id"] == bd.id


@pytest.mark.parametrize(("start", "target"), ILLEGAL, ids=[f"{a}->{b}" for a, b in ILLEGAL])
def test_every_illegal_transition_is_a_409(app, client, start, target):
    bd = staff(app, client, Role.BD)
    merchant = merchant_at(client, bd, start)

    response = move(client, bd, merchant["id"], target.value)

    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "illegal_stage_transition"
    after = client.get(f"/api/v1/merchants/{merchant['id']}", headers=bd.headers).get_json()
    assert after["stage"] == start.value


def test_contracting_needs_all_three_documents(app, client):
    bd = staff(app, client, Role.BD)
    merchant = make_merchant(client, bd)
    assert move(client, bd, merchant["id"], "negotiating").status_code == 200

    missing_all = move(client, bd, merchant["id"], "contracted")
    sign(client, bd, merchant["id"], "entry_agreement")
    sign(client, bd, merchant["id"], "service_contract")
    missing_one = move(client, bd, merchant["id"], "contracted")
    sign(client, bd, merchant["id"], "service_schedule")
    complete = move(client, bd, merchant["id"], "contracted")

    assert missing_all.status_code == 409
    assert missing_all.get_json()["error"]["code"] == "contracts_missing"
    assert missing_all.get_json()["error"]["fields"]["missing_contracts"] == list(CONTRACT_KINDS)
    assert missing_one.get_json()["error"]["fields"]["missing_contracts"] == ["service_schedule"]
    assert complete.status_code == 200 and complete.get_json()["missing_contracts"] == []


def test_stage_change_with_a_stale_version_is_refused(app, client):
    bd = staff(app, client, Role.BD)
    merchant = make_merchant(client, bd)
    client.patch(
        f"/api/v1/merchants/{merchant['id']}",
        headers=bd.headers,
        json={"version": merchant["version"], "phone": "13900001111"},
    )

    response = move(client, bd, merchant["id"], "negotiating", version=merchant["version"])

    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "stale_version"


def test_only_bd_moves_merchants(app, client):
    bd = staff(app, client, Role.BD)
    cs = staff(app, client, Role.CS)
    merchant = make_merchant(client, bd)

    response = move(client, cs, merchant["id"], "negotiating")

    assert response.status_code == 403
    with app.app_context():
        from marketplace.core.db import db

        assert db.session.scalar(sa.select(Merchant.stage)) == "lead"


def test_unknown_stage_is_422(app, client):
    bd = staff(app, client, Role.BD)
    merchant = make_merchant(client, bd)

    response = move(client, bd, merchant["id"], "famous")

    assert response.status_code == 422
    assert "stage" in response.get_json()["error"]["fields"]
