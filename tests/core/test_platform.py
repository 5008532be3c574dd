"""Probes, the OpenAPI document, and migrations matching the models."""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from marketplace.core.db import db
from marketplace.web.routing import MACHINE_PREFIXES
from tests.conftest import build_app


def test_healthz(client):
    response = client.get("/healthz")

    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_readyz_checks_database_and_redis(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


def test_readyz_is_503_when_redis_is_down(tmp_path):
    app = build_app(f"sqlite:///{tmp_path / 'r.sqlite3'}", "redis://127.0.0.1:1/0", str(tmp_path))

    response = app.test_client().get("/readyz")

    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("unavailable")


def test_openapi_documents_every_route(app, client):
    spec = client.get("/api/v1/openapi.json").get_json()
    documented = {(path, method.upper()) for path, item in spec["paths"].items() for method in item}
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith(("static", "api-docs")):
            continue
        if not rule.rule.startswith(MACHINE_PREFIXES):  # the HTML pages are not the API
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            served.add((path, method))

    assert served - documented == set()
    assert {
        ("/api/v1/auth/otp", "POST"),
        ("/api/v1/auth/token", "POST"),
        ("/api/v1/auth/token", "DELETE"),
        ("/api/v1/me", "GET"),
    } <= documented


def test_openapi_documents_errors_and_auth(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    me = spec["paths"]["/api/v1/me"]["get"]
    token = spec["paths"]["/api/v1/auth/token"]["post"]

    assert me["security"] == [{"bearerAuth": []}]
    assert {"401", "403", "default"} <= set(me["responses"])
    assert {"401", "422", "429"} <= set(token["responses"])
    error = spec["components"]["schemas"]["Error"]
    assert "error" in error["properties"]


def test_migrations_produce_the_models_schema(app):
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)

    assert diff == []


def test_migrations_keep_every_check_constraint_of_the_models(app):
    # compare_metadata does not look at CHECK constraints, and on SQLite a migration that
    # alters a table rebuilds it (batch mode), where a CHECK could silently be lost.
    with app.app_context():
        inspector = sa.inspect(db.engine)
        for table in db.metadata.sorted_tables:
            declared = {
                c.name for c in table.constraints if isinstance(c, sa.CheckConstraint) and c.name
            }
            found = {c["name"] for c in inspector.get_check_constraints(table.name)}

            assert found == declared, table.name
            if table.name == "deals":
                assert "ck_deals_known_expiry_policy" in found


def test_migrating_a_filled_sqlite_database_down_and_up_keeps_every_row(
    tmp_path, redis_url, stripe_url
):
    """0014 rebuilds ``deals`` on SQLite (batch mode: copy, DROP, rename). With foreign keys
    enforced that DROP failed on a deal with orders and cascaded away the price history,
    daily sales and popup bookings of a deal without; migrations/env.py turns them off while
    migrating and checks every reference after."""
    from flask_migrate import downgrade, upgrade

    app = build_app(
        f"sqlite:///{tmp_path / 'filled.sqlite3'}",
        redis_url,
        str(tmp_path),
        LINLI_STRIPE_API_BASE=stripe_url,
    )
    with app.app_context():
        upgrade()
    seeded = app.test_cli_runner().invoke(args=["seed"])
    assert seeded.exit_code == 0, seeded.output

    def counts() -> dict[str, int]:
        with app.app_context():
            pointing = [
                t.name
                for t in db.metadata.sorted_tables
                if any(fk.column.table.name == "deals" for fk in t.foreign_keys)
            ]
            found = {
                name: db.session.scalar(sa.select(sa.func.count()).select_from(sa.table(name)))
                for name in ["deals", *pointing]
            }
            db.session.remove()
            return found

    before = counts()
    assert before["deals"] and before["orders"] and before["vouchers"]
    with app.app_context():
        downgrade(revision="0013_reviews_care")
        assert counts() == before
        upgrade()
    assert counts() == before
    with app.app_context(), db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_openapi_documents_multipart_uploads_whole(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    body = spec["paths"]["/api/v1/merchants/{merchant_id}/contracts"]["post"]["requestBody"]

    schema_ref = body["content"]["multipart/form-data"]["schema"]["$ref"]
    schema = spec["components"]["schemas"][schema_ref.rsplit("/", 1)[-1]]
    assert set(schema["properties"]) == {"kind", "signatory", "signed_on", "file"}
    assert schema["properties"]["file"]["format"] == "binary"


def test_openapi_documents_the_review_form_with_its_photos(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    body = spec["paths"]["/api/v1/vouchers/{code}/review"]["post"]["requestBody"]

    schema_ref = body["content"]["multipart/form-data"]["schema"]["$ref"]
    schema = spec["components"]["schemas"][schema_ref.rsplit("/", 1)[-1]]
    assert body["required"] is True
    assert set(schema["properties"]) == {"stars", "text", "photos"}
    assert schema["required"] == ["stars"]
    assert schema["properties"]["photos"]["items"]["format"] == "binary"
