"""Numbers typed into a URL or a form by hand: "²" is a digit to ``str.isdigit`` but not to
``int``, and ``int`` refuses more than 4,300 digits. Pages answer them as any other wrong
value (the first page, the form again), never with a 500."""

from __future__ import annotations

import pytest

from marketplace.accounts.models import Role
from marketplace.web.routing import is_number
from tests.factories import make_user
from tests.web.test_console_login import page_login


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("12", True), ("0", True), ("", False), ("²", False), ("١٢", False), ("1.5", False),
     ("-3", False), ("9" * 18, True), ("9" * 19, False), ("9" * 5000, False)],
)  # fmt: skip
def test_is_number_takes_plain_ascii_digits_only(raw, expected):
    assert is_number(raw) is expected


@pytest.mark.parametrize("page", ["²", "9" * 5000, "-1", "x"])
def test_crafted_page_numbers_show_the_first_page(app, client, page):
    make_user(app, Role.CS, username="cscrafted")
    assert page_login(client, "staff", "cscrafted").status_code == 303
    for path in ("/staff/cs/tickets", "/staff/cs/refunds"):
        response = client.get(path, query_string={"page": page})
        assert response.status_code == 200, (path, response.status_code)


def test_url_for_options_in_the_query_string_are_not_carried_into_links(app, client):
    make_user(app, Role.CS, username="csoptions")
    assert page_login(client, "staff", "csoptions").status_code == 303
    page = client.get("/staff/cs/tickets", query_string={"_scheme": "https", "_external": "1"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "https://" not in html and "_scheme" not in html
