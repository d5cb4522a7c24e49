"""Migrations import no live project code, so changing that code cannot break a fresh `migrate`."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ["identity", "merges", "profiles"]
LIVE = {"identity", "merges", "profiles", "config"}


def live_imports(path):
    """(line, import) for each import of live project code in the file at `path`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            # A relative import (from ..models import X) reaches into the app itself.
            names = ["." * node.level + (node.module or "")] if node.level else [node.module]
        else:
            continue
        for name in names:
            if name.startswith(".") or name.split(".")[0] in LIVE:
                found.append((node.lineno, ast.unparse(node)))
    return found


def test_migrations_import_no_live_project_code():
    files = sorted(path for app in APPS for path in (ROOT / app / "migrations").glob("*.py"))
    assert files, "no migration files found"
    offences = [
        f"{path.relative_to(ROOT)}:{line}: {statement}"
        for path in files
        for line, statement in live_imports(path)
    ]
    assert not offences, (
        "migrations must freeze what they need instead of importing live code:\n"
        + "\n".join(offences)
    )
