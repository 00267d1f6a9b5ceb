"""The package's layout rules (docs/architecture.md): wings, no import cycles, kinds asked and never recognised."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "vae_helpers"
WINGS = ("core", "data", "models", "training", "measures", "viz", "applications")


def _modules() -> dict[str, Path]:
    return {".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"): p
            for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every module of the package that ``name`` imports, at the top or inside a function."""
    base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            target = ".".join(base[: len(base) - node.level + 1] + [node.module or ""]).strip(".") if node.level \
                else node.module or ""
            for alias in node.names:
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in modules and m not in (name, "vae_helpers")}


def test_the_top_level_holds_at_most_four_modules_and_the_wings_hold_the_rest():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 4, top
    assert sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__") == sorted(WINGS)
    for wing in WINGS:   # a wing's __init__ only documents it: importing a wing loads nothing
        tree = ast.parse((PACKAGE / wing / "__init__.py").read_text())
        assert all(isinstance(node, ast.Expr) for node in tree.body), wing


def test_no_import_cycles_and_no_hidden_imports():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    for name, path in modules.items():
        assert "import_module" not in path.read_text(), f"{name} imports by name (importlib)"

    def cycle_from(start):
        stack, seen = [(start, [start])], set()
        while stack:
            node, trail = stack.pop()
            for dep in graph[node]:
                if dep == start:
                    return trail + [dep]
                if dep not in seen:
                    seen.add(dep)
                    stack.append((dep, trail + [dep]))
        return None

    cycles = [c for c in map(cycle_from, graph) if c]
    assert not cycles, cycles


def test_the_cycle_check_finds_a_cycle(tmp_path):
    """The check above can fail: two modules that import each other, even inside a function, are found."""
    modules = {"vae_helpers.a": tmp_path / "a.py", "vae_helpers.b": tmp_path / "b.py"}
    modules["vae_helpers.a"].write_text("from .b import x\n")
    modules["vae_helpers.b"].write_text("def f():\n    from .a import y\n")
    assert _imports("vae_helpers.a", modules["vae_helpers.a"], modules) == {"vae_helpers.b"}
    assert _imports("vae_helpers.b", modules["vae_helpers.b"], modules) == {"vae_helpers.a"}


def test_outside_the_models_wing_no_code_recognises_a_model_kind_by_class_or_name():
    recognise = re.compile(r"isinstance\([^)]*\b(VAE|DiscreteVAE|IWAEVAE|DisentanglingVAE|ConditionalVAE|Autoencoder)\b"
                           r"|is_discrete|\.model\s*[!=]=\s*[\"']|model_kind\([\"']")
    for name, path in _modules().items():
        if ".models." in name:
            continue
        hits = [line for line in path.read_text().splitlines() if recognise.search(line)]
        assert not hits, (name, hits)
