"""The shape of the code, checked: the layer contract itself is pyproject.toml's
[tool.importlinter] (run by `make test`); this file checks what the contract cannot see."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("marketplace", "merchants", "seed")


def _domain(module: str) -> str:
    """`marketplace.orders.actions` → `marketplace.orders`; `merchants.x` → `merchants`."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "marketplace" and len(parts) > 1 else parts[0]


def _explains(line: str) -> bool:
    """A comment that says something: not a bare tool directive such as ``# noqa``."""
    comment = line.partition("#")[2].strip()
    return bool(comment) and not comment.startswith(("noqa", "type:", "pragma", "fmt:"))


def _imported(node: ast.AST) -> list[str]:
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        return [node.module]
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    return []


def _lazy_imports_between_domains() -> list[tuple[Path, int, str]]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            module = module.removesuffix(".__init__")
            lines = path.read_text(encoding="utf-8").splitlines()
            tree = ast.parse("\n".join(lines))
            top_level = {id(node) for node in tree.body}
            for node in ast.walk(tree):
                if id(node) in top_level:
                    continue
                for target in _imported(node):
                    if not target.startswith(PACKAGES) or _domain(target) == _domain(module):
                        continue
                    line = node.lineno - 1
                    if not (
                        _explains(lines[line])
                        or (lines[line - 1].lstrip().startswith("#") and _explains(lines[line - 1]))
                    ):
                        found.append((path.relative_to(ROOT), node.lineno, target))
    return found


def test_no_unexplained_lazy_import_between_domains():
    """A function-level import from another domain hides a dependency (and, before the
    layers, an import cycle); where one must stay, a comment on or above it says why."""
    assert _lazy_imports_between_domains() == []


def _is_view(module: str) -> bool:
    return (
        module.startswith(PACKAGES)
        and module.rsplit(".", 1)[-1] in ("api", "cli")
        and module
        not in (
            "marketplace.core.api",
            "marketplace.core.cli",
        )
    )


def test_only_a_packages_init_app_imports_its_views():
    """The layer contract lists the few views allowed to call a higher domain; that is
    sound only while nothing but the package's own ``init_app`` imports a view (a service
    that imported a view could reach any layer through it, unseen by the contract)."""
    offenders = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            owner = module.removesuffix(".__init__")
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                targets = _imported(node)
                if isinstance(node, ast.ImportFrom) and targets:
                    targets += [f"{targets[0]}.{alias.name}" for alias in node.names]
                views = [t for t in targets if _is_view(t)]
                if not views or module == "marketplace.__init__":
                    continue
                own_view = path.name == "__init__.py" and all(v.startswith(owner) for v in views)
                if not own_view:
                    offenders.append((module, node.lineno, views[0]))
    assert offenders == []
