"""The package's import structure: no cycles, no stage importing a later stage, few modules loose beside the stages."""

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "atc"
STAGES = ("load", "link", "convert", "render", "site")
MAX_LOOSE = 6


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every atc module this module imports, at any depth of its code (imports inside functions count)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        found.update(t for t in targets if t in modules and t != name and not name.startswith(t + ".") and not t.startswith(name + "."))
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _stage(module: str) -> int | None:
    parts = module.split(".")
    return STAGES.index(parts[1]) if len(parts) > 1 and parts[1] in STAGES else None


def test_the_walker_sees_imports_inside_functions() -> None:
    graph = _graph()
    assert "atc.engine" in graph and graph["atc.engine"], "the walker found no import in the engine"
    assert any(module.startswith("atc.load.") for module in graph["atc.engine"])


def test_no_import_cycles() -> None:
    try:
        tuple(TopologicalSorter(_graph()).static_order())
    except CycleError as exc:
        raise AssertionError(f"import cycle: {' -> '.join(exc.args[1])}") from None


def test_no_stage_imports_a_later_stage() -> None:
    backwards = sorted(
        f"{module} -> {target}"
        for module, targets in _graph().items()
        for target in targets
        if (a := _stage(module)) is not None and (b := _stage(target)) is not None and b > a
    )
    assert backwards == []


def test_few_modules_loose_beside_the_stages() -> None:
    loose = sorted(path.stem for path in PACKAGE.glob("*.py") if path.name != "__init__.py")
    assert len(loose) <= MAX_LOOSE, f"{len(loose)} modules loose in atc/: {', '.join(loose)}"
