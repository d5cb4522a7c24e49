"""Apps depend one way: profiles <- identity <- merges (STYLE 12).

Models, services, selectors, tasks and commands import only their own app and those below it;
pages (views, urls) may compose the apps. What a lower app needs from a higher one goes through
a hook the higher app registers (identity.hooks).
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ["profiles", "identity", "merges"]  # each may import those before it
PAGES = {"views.py", "urls.py"}


def imported_modules(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def upward_imports(app):
    above = LAYERS[LAYERS.index(app) + 1:]
    for path in sorted((ROOT / app).rglob("*.py")):
        if path.name in PAGES:
            continue
        for lineno, module in imported_modules(path):
            if module.split(".")[0] in above:
                yield f"{path.relative_to(ROOT)}:{lineno} imports {module}"


@pytest.mark.parametrize("app", LAYERS)
def test_no_module_of_an_app_imports_an_app_above_it(app):
    assert list(upward_imports(app)) == []


def test_the_check_finds_an_upward_import(tmp_path, monkeypatch):
    app = tmp_path / "identity"
    app.mkdir()
    (app / "services.py").write_text("from merges.models import MergeJob\n")
    (app / "views.py").write_text("from merges.models import MergeJob\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)

    assert list(upward_imports("identity")) == [
        "identity/services.py:1 imports merges.models"
    ]
