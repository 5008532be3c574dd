"""Signed documents: recorded with a scan, type and size checked, history kept."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from marketplace.accounts.models import Role, User
from marketplace.core.db import db
from merchants import service
from merchants.models import ContractKind, Merchant, MerchantContract
from tests.factories import PDF, PNG, make_merchant, sign, staff


def stored_files(app) -> list[Path]:
    root = Path(app.instance_path) / "uploads" / "contracts"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture(autouse=True)
def _empty_uploads(app):
    for path in stored_files(app):
        path.unlink()


def test_recording_a_contract_keeps_who_when_and_the_file(app, client, clock):
    bd = staff(app, client, Role.BD)
    merchant = make_merchant(client, bd)

    response = sign(client, bd, merchant["id"], "entry_agreement", PDF, "入驻协议.pdf")

    assert response.status_code == 201, response.get_json()
    contract = response.get_json()
    assert contract["kind"] == "entry_agreement" and contract["signatory"] == "张老板"
    assert contract["signed_on"] == "2026-11-20"
    assert contract["recorded_by"]["id"] == bd.id
    assert contract["content_type"] == "application/pdf" and contract["size"] == len(PDF)
    assert contract["file_name"] == "入驻协议.pdf"
    download = client.get(
        f"/api/v1/merchants/{merchant['id']}/contracts/{contract['id']}/file", headers=bd.headers
    )
    assert download.status_code == 200 and download.data == PDF
    assert download.mimetype == "application/pdf"
    trail = client.get(f"/api/v1/merchants/{merchant['id']}/audit", headers=bd.headers)
    assert trail.get_json()["items"][0]["action"] == "merchant.contract_recorded"


def test_images_are_accepted_and_resigning_keeps_history(app, client):
    bd = staff(app, client, Role.BD)
    merchant = make_merchant(client, bd)

    first = sign(client, bd, merchant["id"], "service_contract", PNG, "scan.png")
    second = sign(client, bd, merchant["id"], "service_contract", PDF, "v2.pdf")

    assert first.status_code == second.status_code == 201
    assert first.get_json()["content_type"] == "image/png"
    listed = client.get(f"/api/v1/merchants/{merchant['id']}/contracts", headers=bd.headers)
    assert [c["file_name"] for c in listed.get_json()] == ["v2.pdf", "scan.png"]
    assert len(stored_files(app)) == 2


@pytest.mark.parametrize(
    ("data", "filename", "status", "code"),
    [
        (b"MZ\x90\x00 this is an exe", "contract.pdf", 422, "file_type_not_allowed"),
        (b"<html>not a pdf</html>", "contract.pdf", 422, "file_type_not_allowed"),
        (b"", "empty.pdf", 422, "validation_error"),
        (b"%PDF-1.4\n" + b"0" * (10 * 1024 * 1024), "huge.pdf", 413, "file_too_large"),
    ],
)
def test_bad_files_are_refused_and_nothing_is_stored(app, client, data, filename, status, code):
    bd = staff(app, client, Role.BD)
    merchant = make_merchant(client, bd)

    response = sign(client, bd, merchant["id"], "entry_agreement", data, filename)

    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    assert stored_files(app) == []
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(MerchantContract)) == 0


def test_request_over_the_body_limit_is_413(app, client):
    bd = staff(app, client, Role.BD)
    merchant = make_merchant(client, bd)

    response = sign(client, bd, merchant["id"], "entry_agreement", b"%PDF" + b"0" * (13 << 20))

    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"kind": "marriage_certificate"}, "kind"),
        ({"signed_on": "2026-11-24"}, "signed_on"),  # tomorrow in Asia/Shanghai
        ({"signed_on": "yesterday"}, "signed_on"),
        ({"signatory": ""}, "signatory"),
    ],
)
def test_bad_contract_fields_are_422(app, client, clock, form, field):
    import io

    bd = staff(app, client, Role.BD)
    merchant = make_merchant(client, bd)
    data = {
        "kind": "entry_agreement",
        "signatory": "张老板",
        "signed_on": "2026-11-20",
        "file": (io.BytesIO(PDF), "c.pdf"),
        **form,
    }

    response = client.post(
        f"/api/v1/merchants/{merchant['id']}/contracts",
        data=data,
        headers=bd.headers,
        content_type="multipart/form-data",
    )

    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["error"]["fields"]
    assert stored_files(app) == []


def test_missing_file_is_422(app, client):
    bd = staff(app, client, Role.BD)
    merchant = make_merchant(client, bd)

    response = client.post(
        f"/api/v1/merchants/{merchant['id']}/contracts",
        headers=bd.headers,
        data={"kind": "entry_agreement", "signatory": "张", "signed_on": "2026-11-20"},
        content_type="multipart/form-data",
    )

    assert response.status_code == 422
    assert "file" in response.get_json()["error"]["fields"]


def test_a_rolled_back_recording_removes_its_file(app, client):
    bd = staff(app, client, Role.BD)
    merchant = make_merchant(client, bd)

    with app.app_context():
        actor = db.session.get(User, bd.id)
        service.record_contract(
            db.session.get(Merchant, merchant["id"]),
            ContractKind.ENTRY_AGREEMENT,
            "张老板",
            date(2026, 11, 20),
            service.Upload("c.pdf", PDF),
            actor,
        )
        assert len(stored_files(app)) == 1
        db.session.rollback()

    assert stored_files(app) == []
