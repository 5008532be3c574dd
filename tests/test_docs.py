"""The repository explains itself: the README and docs/ link only to files inside it, and
every file path the docs name exists (a renamed module shows up here)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)")
CODE_PATH = re.compile(r"`((?:marketplace|merchants|seed|scripts|tests|migrations)/[\w./-]*)`")


def test_the_docs_exist_and_the_readme_links_them():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")

    assert (ROOT / "docs/architecture.md").is_file() and (ROOT / "docs/domain.md").is_file()
    assert "(docs/architecture.md)" in readme and "(docs/domain.md)" in readme


def test_links_stay_inside_the_repository_and_resolve():
    for doc in DOCS:
        for target in LINK.findall(doc.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target):
                continue  # a URL, not a file
            path = (doc.parent / target).resolve()
            assert path.is_relative_to(ROOT), f"{doc.name} links outside the repository: {target}"
            assert path.exists(), f"{doc.name} links a missing file: {target}"
        assert "../shared" not in doc.read_text(encoding="utf-8"), doc.name


def test_every_code_path_the_docs_name_exists():
    for doc in DOCS[1:]:
        for name in CODE_PATH.findall(doc.read_text(encoding="utf-8")):
            assert (ROOT / name.rstrip("/")).exists(), f"{doc.name} names a missing path: {name}"
