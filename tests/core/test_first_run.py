"""What a new user meets first: the API's front door and its documentation, served by the
app itself (no CDN, so it works without internet)."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.refs.append(value)


EXPECTED_TYPES = {".css": "text/css", ".js": "text/javascript"}


def test_the_docs_page_loads_only_same_origin_assets_that_answer(client):
    page = client.get("/api/v1/docs")

    assert page.status_code == 200 and page.mimetype == "text/html"
    parser = _References()
    parser.feed(page.get_data(as_text=True))
    assert len(parser.refs) == 3, parser.refs  # the stylesheet and two scripts
    for ref in parser.refs:
        parts = urlsplit(ref)
        assert not parts.scheme and not parts.netloc and ref.startswith("/"), ref
        asset = client.get(ref)
        assert asset.status_code == 200, ref
        suffix = ref[ref.rfind(".") :]
        assert asset.mimetype == EXPECTED_TYPES[suffix], (ref, asset.mimetype)
        assert len(asset.data) > 10_000, ref
    assert 'validatorUrl": null' in page.get_data(as_text=True)  # no call to swagger.io


def test_the_docs_assets_are_only_swagger_uis_files(client):
    assert client.get("/api/v1/docs/assets/LICENSE").status_code == 200
    assert "Apache" in client.get("/api/v1/docs/assets/LICENSE").get_data(as_text=True)
    for name in ("index.html", "../__init__.py", "%2e%2e%2f__init__.py", "nothing.js"):
        assert client.get(f"/api/v1/docs/assets/{name}").status_code == 404, name


def test_the_api_root_says_where_things_are(client):
    response = client.get("/api/v1/")

    assert response.status_code == 200
    index = response.get_json()
    assert index["docs"] == "/api/v1/docs" and index["openapi"] == "/api/v1/openapi.json"
    for key in ("docs", "openapi", "health", "ready"):
        assert client.get(index[key]).status_code == 200, key


def test_json_carries_chinese_as_utf8_characters(client):
    categories = client.get("/api/v1/categories")
    spec = client.get("/api/v1/openapi.json")

    assert categories.mimetype == "application/json"
    assert "火锅烧烤" in [c["name_zh"] for c in categories.get_json()]
    assert "火锅烧烤".encode() in categories.data and b"\\u" not in categories.data
    assert "邻里".encode() in spec.data and b"\\u90bb" not in spec.data
