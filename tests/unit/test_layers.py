"""The parts of the map that import-linter cannot state: the domain imports the standard
library and itself only, and no folder of the bot grows past about fifteen modules."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = ROOT / "bot" / "upgrade"


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_domain_imports_only_the_standard_library_and_itself() -> None:
    modules = sorted(DOMAIN.glob("*.py"))
    assert len(modules) > 5
    foreign = {f"{path.name}: {name}" for path in modules for name in _imported(path)
               if name.split(".")[0] not in sys.stdlib_module_names
               and name != "__future__" and not name.startswith("bot.upgrade")}
    assert foreign == set()


def test_no_folder_of_the_bot_holds_more_than_fifteen_modules() -> None:
    folders = [ROOT / "handlers", *(p for p in (ROOT / "bot").iterdir() if p.is_dir()
                                    and (p / "__init__.py").exists())]
    sizes = {f.name: len([m for m in f.glob("*.py") if m.name != "__init__.py"])
             for f in folders}
    assert len(sizes) >= 9 and all(n > 0 for n in sizes.values()), sizes
    assert {name: n for name, n in sizes.items() if n > 15} == {}
