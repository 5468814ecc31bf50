"""The layout tells the architecture: the library's floors stand the right way up, nothing loops,
and the library knows nothing of the web, Redis or the experiments (read from the source with
``ast``, so a test that imports lazily inside a function counts too)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("recommender", "service", "experiments", "bench")

#: Library modules below the models: they may not import any ``recommender.models`` module.
BELOW_MODELS = (
    "recommender.matrices",
    "recommender.ranking",
    "recommender.ann",
    "recommender.catalog",
    "recommender.identifiers",
    "recommender.library",
    "recommender.features",
    "recommender.embeddings",
    "recommender.similarity",
    "recommender.io",
    "recommender.datasets",
)
#: Library modules above the models: they may use the registry and the contract only, and the
#: index wrapper, which is a model of the contract over any model that scores by vectors.
CONTRACT_ONLY = (
    "recommender.serving",
    "recommender.training",
    "recommender.evaluation",
    "recommender.artifacts",
)
ALLOWED_FROM_ABOVE = {"recommender.models", "recommender.models.base", "recommender.models.indexed"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports() -> dict[str, set[str]]:
    """Every module of the packages -> the project modules it imports (anywhere in its body).
    ``from package import submodule`` counts as importing the submodule only."""
    raw: dict[str, list[tuple[str, list[str]]]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = _module_name(path)
            is_package = path.name == "__init__.py"
            found: list[tuple[str, list[str]]] = []
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    found += [(a.name, []) for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    if node.level:  # relative: resolve against this module's package
                        base = name.split(".")
                        base = base[: len(base) - node.level + (1 if is_package else 0)]
                        mod = ".".join(base + ([node.module] if node.module else []))
                    else:
                        mod = node.module or ""
                    found.append((mod, [a.name for a in node.names]))
            raw[name] = found
    modules = set(raw)
    graph: dict[str, set[str]] = {}
    for name, found in raw.items():
        deps: set[str] = set()
        for mod, names in found:
            subs = {f"{mod}.{n}" for n in names} & modules
            deps |= subs
            if len(subs) < len(names) or not names:
                deps.add(mod)
        graph[name] = (deps & modules) - {name}
    return graph


def _under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_the_library_imports_neither_the_service_nor_the_experiments_nor_web_code() -> None:
    for path in (ROOT / "recommender").rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            for n in names:
                top = n.split(".")[0]
                assert top not in ("service", "experiments", "bench", "fastapi", "redis"), (
                    f"{path.relative_to(ROOT)} imports {n}"
                )


def test_floors_below_the_models_import_no_model_module() -> None:
    graph = _imports()
    for module, deps in graph.items():
        if _under(module, BELOW_MODELS):
            bad = sorted(d for d in deps if _under(d, ("recommender.models",)))
            assert not bad, f"{module} (below the models) imports {bad}"
        if _under(module, CONTRACT_ONLY):
            bad = sorted(
                d
                for d in deps
                if _under(d, ("recommender.models",)) and d not in ALLOWED_FROM_ABOVE
            )
            assert not bad, f"{module} imports model modules beyond the registry: {bad}"


def test_no_import_loops() -> None:
    graph = _imports()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        path.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                loop = path[path.index(d) :] + [d]
                raise AssertionError("import loop: " + " -> ".join(loop))
            if d not in state:
                visit(d)
        path.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
