"""Grading: whole stars 1–5 with a note; every change kept."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from marketplace.accounts.models import Role
from marketplace.core.db import db
from merchants.models import MerchantGrade
from tests.factories import make_merchant, staff


def grade(client, bd, merchant_id, **body):
    return client.post(f"/api/v1/merchants/{merchant_id}/grades", headers=bd.headers, json=body)


def test_history_is_kept_and_the_latest_is_current(app, client, clock):
    bd = staff(app, client, Role.BD)
    boss = staff(app, client, Role.ADMIN)
    merchant = make_merchant(client, bd)

    first = grade(
        client, bd, merchant["id"], grade=3, note="新店,口碑未知", reference="大众点评 3.9"
    )
    clock.advance(hours=6)
    second = grade(client, boss, merchant["id"], grade=5, note="排队一小时", reference="美团 4.8")

    assert first.status_code == second.status_code == 201
    history = client.get(
        f"/api/v1/merchants/{merchant['id']}/grades", headers=bd.headers
    ).get_json()
    assert [(g["grade"], g["previous_grade"], g["graded_by"]["id"]) for g in history] == [
        (5, 3, boss.id),
        (3, None, bd.id),
    ]
    assert history[0]["graded_at"] == "2026-11-23T16:00:00+08:00"
    assert history[1]["reference"] == "大众点评 3.9"
    current = client.get(f"/api/v1/merchants/{merchant['id']}", headers=bd.headers).get_json()
    assert current["current_grade"] == 5
    trail = client.get(f"/api/v1/merchants/{merchant['id']}/audit", headers=bd.headers)
    graded = [e for e in trail.get_json()["items"] if e["action"] == "merchant.graded"]
    assert [(e["data"]["from"], e["data"]["to"]) for e in graded] == [(3, 5), (None, 3)]


@pytest.mark.parametrize(
    "body",
    [
        {"grade": 0, "note": "n"},
        {"grade": 6, "note": "n"},
        {"grade": 3.5, "note": "n"},
        {"grade": "3", "note": "n"},
        {"grade": True, "note": "n"},
        {"grade": None, "note": "n"},
        {"grade": 3},
        {"grade": 3, "note": ""},
        {"grade": 3, "note": "n" * 501},
    ],
)
def test_bad_grades_are_422_and_write_nothing(app, client, body):
    bd = staff(app, client, Role.BD)
    merchant = make_merchant(client, bd)

    response = grade(client, bd, merchant["id"], **body)

    assert response.status_code == 422, response.get_json()
    assert response.get_json()["error"]["code"] == "validation_error"
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(MerchantGrade)) == 0
    assert (
        client.get(f"/api/v1/merchants/{merchant['id']}", headers=bd.headers).get_json()[
            "current_grade"
        ]
        is None
    )


def test_grading_is_bd_work(app, client):
    bd = staff(app, client, Role.BD)
    editor = staff(app, client, Role.EDITOR)
    merchant = make_merchant(client, bd)

    assert grade(client, editor, merchant["id"], grade=4, note="n").status_code == 403
    assert grade(client, bd, 424242, grade=4, note="n").status_code == 404
