"""The cookie session belongs to the pages: the JSON API, images and probes get a null
session, so they never verify, read or re-sign the page cookie (they authenticate by
header), while the pages keep theirs."""

from __future__ import annotations

from flask import request


def test_machine_requests_get_a_null_session_and_pages_a_real_one(app):
    interface = app.session_interface
    for path, null in [
        ("/api/v1/me", True),
        ("/healthz", True),
        ("/media/deals/1.jpg", True),
        ("/", False),
        ("/login", False),
    ]:
        with app.test_request_context(path):
            assert interface.is_null_session(interface.open_session(app, request)) is null, path


def test_an_api_answer_never_sets_the_page_cookie(app, client):
    page = client.get("/login")
    assert page.status_code == 200
    assert client.get_cookie("linli_session") is not None  # the page's CSRF secret

    for path in ("/api/v1/home", "/api/v1/deals", "/healthz"):
        answer = client.get(path)
        assert answer.status_code == 200
        assert "Set-Cookie" not in answer.headers, path
