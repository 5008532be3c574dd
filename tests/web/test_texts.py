"""The texts: one file, a sentence for every error code, every key the pages use exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from marketplace.core.errors import HTTP_CODES
from marketplace.web import texts
from marketplace.web.shop.views import SORTS

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "marketplace" / "web"


def _constant(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def error_codes() -> set[str]:
    """Every stable code the API and the rules give, read from the source: ``code = "…"``
    (error classes and handlers), ``code="…"`` arguments, the deal rules'
    ``violations.add("…", field, message)``, the framework errors' ``HTTP_CODES``, and the
    reasons ``unavailable_reason`` returns for the buy button."""
    codes = {code for code, _ in HTTP_CODES.values()}
    for package in ("marketplace", "merchants"):
        for path in (ROOT / package).rglob("*.py"):
            if WEB in path.parents:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == "code" for t in node.targets
                ):
                    codes.add(_constant(node.value))
                elif isinstance(node, ast.Call):
                    codes.update(_constant(k.value) for k in node.keywords if k.arg == "code")
                    func = node.func
                    if (
                        isinstance(func, ast.Attribute)
                        and func.attr == "add"
                        and len(node.args) == 3
                    ):
                        codes.add(_constant(node.args[0]))
                elif isinstance(node, ast.FunctionDef) and node.name == "unavailable_reason":
                    codes.update(
                        _constant(r.value) for r in ast.walk(node) if isinstance(r, ast.Return)
                    )
    return {c for c in codes if c}


def test_the_source_gives_the_codes_this_test_expects():
    codes = error_codes()

    # one of each way a code is written, so a change of style cannot empty the list
    assert {"sold_out", "otp_expired", "flash_margin_not_zero", "internal_error"} <= codes
    assert {"sale_not_started", "sale_ended", "deal_paused", "stale_version"} <= codes
    assert len(codes) > 100


def test_every_error_code_has_a_sentence():
    sentences = texts.texts()["errors"]

    assert sorted(error_codes() - set(sentences)) == []
    assert all(s.strip() for s in sentences.values())


def test_every_text_the_pages_use_exists():
    used = set()
    for path in [*WEB.rglob("*.html"), *WEB.rglob("*.py")]:
        used.update(
            re.findall(r"""\bt\(\s*["']([a-z_]+\.[a-z0-9_]+)["']\s*[,)]""", path.read_text())
        )
    used.update(f"list.sort_{sort}" for sort in SORTS)
    used.update(f"weekdays.{day}" for day in range(1, 8))
    known = {f"{section}.{key}" for section, keys in texts.texts().items() for key in keys}

    assert len(used) > 50
    assert sorted(used - known) == []


def test_a_missing_text_fails_outside_production(app):
    with app.app_context():
        try:
            texts.t("home.no_such_text")
        except KeyError:
            pass
        else:
            raise AssertionError("a missing text must fail in development and tests")
    assert texts.t("home.no_such_text") == "home.no_such_text"  # no app: shown as the key


def test_sentences_take_their_values():
    assert texts.t("deal.sold", n=12) == "已售 12"
    assert texts.error_sentence("sold_out", 409) == "手慢了，这个团购已经抢光了。"
    assert texts.error_sentence("http_418", 418) == texts.texts()["error_pages"]["other"]
    assert texts.error_sentence(None, 404) == "页面不存在"
