"""The package's imports point one way: no module imports itself round a loop, and the science never imports
the website tooling (`resbook.site` may import the science, not the reverse).

The map is drawn from the source with `ast`, without importing anything: every `import` and `from ... import`
statement anywhere in a module of src/resbook (at the top, inside functions, under `if TYPE_CHECKING:`),
relative imports resolved against the module's package, kept where they name a resbook module. `from pkg import
name` counts as importing the module `pkg.name` where that is a module, else `pkg` itself. Print the map with
`python tests/test_imports.py`.
"""

from __future__ import annotations

import ast
import pathlib

SRC = pathlib.Path(__file__).resolve().parents[1] / "src"
PACKAGE = "resbook"
SITE = "resbook.site"
# The command line sits above both halves: nothing imports it, and it runs the science and builds the site.
ENTRY_POINTS = {"resbook.__main__"}


def module_name(path: pathlib.Path) -> str:
    """src/resbook/site/execute.py -> resbook.site.execute; a package's __init__.py -> the package."""
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, pathlib.Path]:
    return {module_name(p): p for p in sorted((SRC / PACKAGE).rglob("*.py"))}


def imported(module: str, path: pathlib.Path, known: set[str]) -> set[str]:
    """The resbook modules that `module` (its source at `path`) imports, anywhere in its source."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # `from ..x import y` in a.b.c: up level - 1 packages from a.b
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found |= {f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names}
    return {name for name in found if name == PACKAGE or name.startswith(PACKAGE + ".")}


def import_map() -> dict[str, set[str]]:
    """module -> the resbook modules it imports."""
    files = modules()
    return {module: imported(module, path, set(files)) for module, path in files.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The loops of `graph`: its strongly connected components of more than one module, or a module importing
    itself (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def in_site(name: str) -> bool:
    return name == SITE or name.startswith(SITE + ".")


def test_the_map_sees_every_kind_of_import():
    graph = import_map()
    assert "resbook.record" in graph["resbook.forest"]  # from . import x
    assert "resbook.per_seed" in graph["resbook.chapters.ch1_degradation"]  # from .. import x, y
    assert "resbook.site.execute" in graph["resbook.site.colab"]  # from .execute import name
    assert "resbook.batched" in graph["resbook.bench"]  # an import inside a function
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}) == [["a", "b", "c"], ["e"]]


def test_no_module_imports_itself_round_a_loop():
    assert cycles(import_map()) == []


def test_only_the_website_tooling_imports_the_website_tooling():
    science = {m: targets for m, targets in import_map().items() if not in_site(m) and m not in ENTRY_POINTS}
    offenders = {m: sorted(filter(in_site, targets)) for m, targets in science.items() if any(map(in_site, targets))}
    assert offenders == {}, "the science must not import resbook.site: move what it needs out of site/"


if __name__ == "__main__":
    for module, targets in import_map().items():
        print(f"{module} -> {', '.join(sorted(targets)) or '(nothing in resbook)'}")
    print("loops:", cycles(import_map()) or "none")
