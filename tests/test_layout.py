"""The shape of the package (issue 11): `store/` alone speaks SQL; small modules, short functions.

Read from the source with `ast`, so an import inside a function or under `TYPE_CHECKING` counts
as much as one at the top of a module.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "mailbot"
STORE = PACKAGE / "store"


def sqlalchemy_imports(path: Path) -> list[int]:
    """The lines of `path` that import SQLAlchemy or anything from it."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        if any(name == "sqlalchemy" or name.startswith("sqlalchemy.") for name in names):
            lines.append(node.lineno)
    return lines


def test_the_check_sees_an_import_of_sqlalchemy() -> None:
    # The store does import it: a check that found nothing there could find nothing anywhere.
    assert sqlalchemy_imports(STORE / "handles.py")
    assert sqlalchemy_imports(STORE / "queries" / "mailbox.py")


def test_no_module_outside_store_imports_sqlalchemy() -> None:
    offenders = [f"{path.relative_to(PACKAGE.parent)}:{line}"
                 for path in sorted(PACKAGE.rglob("*.py"))
                 if not path.is_relative_to(STORE)
                 for line in sqlalchemy_imports(path)]
    assert not offenders, "SQLAlchemy imported outside store/:\n" + "\n".join(offenders)


def test_at_most_twelve_modules_directly_in_the_package() -> None:
    top = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(top) <= 12, top


def test_no_module_over_400_lines() -> None:
    long = {str(path.relative_to(PACKAGE.parent)): count
            for path in PACKAGE.rglob("*.py")
            if (count := len(path.read_text(encoding="utf-8").splitlines())) > 400}
    assert not long, long


def test_no_function_over_60_lines() -> None:
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > 60:
                    long.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} "
                                f"{node.name} ({length} lines)")
    assert not long, "\n".join(long)
