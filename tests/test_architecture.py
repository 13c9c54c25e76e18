"""The shape of psykhe_cli, checked with ``ast`` so it stays true: no module over 500 lines,
none that imports or reaches another module's ``_private`` name, no import cycle (imports under
``TYPE_CHECKING`` and inside functions count too)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "psykhe_cli"
MAX_LINES = 500


@dataclass
class Module:
    """One module of the package: its dotted name, its file and its syntax tree."""

    name: str
    path: Path
    tree: ast.Module
    #: the psykhe_cli modules it imports, and where (line numbers)
    imports: dict[str, int] = field(default_factory=dict)

    @property
    def package(self) -> str:
        """The package relative imports start from."""
        if self.path.name == "__init__.py":
            return self.name
        return self.name.rpartition(".")[0]


def _modules() -> dict[str, Module]:
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        name = ".".join(parts)
        modules[name] = Module(name, path, ast.parse(path.read_text(), str(path)))
    return modules


MODULES = _modules()


def _absolute(module: Module, node: ast.ImportFrom) -> str:
    """The dotted name an ``from X import`` names, relative imports resolved."""
    if not node.level:
        return node.module or ""
    base = module.package.split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _owner(dotted: str) -> str | None:
    """The psykhe_cli module ``dotted`` is, or the one it is inside of."""
    while dotted:
        if dotted in MODULES:
            return dotted
        dotted = dotted.rpartition(".")[0]
    return None


@dataclass
class Findings:
    private: list[str] = field(default_factory=list)


def _scan(module: Module, found: Findings) -> None:
    """Fill ``module.imports``; note every reach into another module's private names."""
    where = f"{module.path.relative_to(PACKAGE.parent)}"
    #: local names bound to a psykhe_cli module (``import a.b as c``, ``from a import b``)
    aliases: dict[str, str] = {}
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                owner = _owner(alias.name)
                if owner is None:
                    continue
                module.imports.setdefault(owner, node.lineno)
                if any(map(_private, alias.name.split("."))):
                    found.private.append(f"{where}:{node.lineno} imports {alias.name}")
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    aliases[alias.name.split(".")[0]] = alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(module, node)
            owner = _owner(source)
            if owner is None:
                continue
            if any(map(_private, source.split("."))):
                found.private.append(f"{where}:{node.lineno} imports from {source}")
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                if submodule in MODULES:
                    module.imports.setdefault(submodule, node.lineno)
                    aliases[alias.asname or alias.name] = submodule
                else:
                    module.imports.setdefault(owner, node.lineno)
                if _private(alias.name) and owner != module.name:
                    found.private.append(
                        f"{where}:{node.lineno} imports {alias.name} from {source}"
                    )
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            target = _dotted(node.value)
            if target is None:
                continue
            head, _, rest = target.partition(".")
            if head not in aliases:
                continue
            dotted = f"{aliases[head]}.{rest}" if rest else aliases[head]
            if dotted in MODULES and dotted != module.name:
                found.private.append(f"{where}:{node.lineno} reaches {dotted}.{node.attr}")


def _dotted(node: ast.expr) -> str | None:
    """``a.b.c`` for a chain of names and attributes, else None."""
    names = []
    while isinstance(node, ast.Attribute):
        names.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    names.append(node.id)
    return ".".join(reversed(names))


def _cycles(modules: dict[str, Module]) -> list[list[str]]:
    """The import cycles: each strongly connected group of two or more modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        on_stack.add(name)
        for other in modules[name].imports:
            if other == name:
                continue
            if other not in index:
                visit(other)
                low[name] = min(low[name], low[other])
            elif other in on_stack:
                low[name] = min(low[name], index[other])
        if low[name] == index[name]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == name:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for name in modules:
        if name not in index:
            visit(name)
    return sorted(groups)


def _cycle_lines(modules: dict[str, Module], group: list[str]) -> Iterator[str]:
    members = set(group)
    for name in group:
        module = modules[name]
        for other, line in sorted(module.imports.items()):
            if other in members and other != name:
                yield f"    {module.path.relative_to(PACKAGE.parent)}:{line} imports {other}"


FINDINGS = Findings()
for _module in MODULES.values():
    _scan(_module, FINDINGS)


def test_no_module_is_over_500_lines() -> None:
    long = [
        f"{module.path.relative_to(PACKAGE.parent)}: {lines} lines"
        for module in MODULES.values()
        if (lines := len(module.path.read_text().splitlines())) > MAX_LINES
    ]
    assert not long, "modules over 500 lines:\n" + "\n".join(long)


def test_no_module_imports_or_reaches_another_modules_private_names() -> None:
    assert not FINDINGS.private, "private names used across modules:\n" + "\n".join(
        FINDINGS.private
    )


def test_no_import_cycle() -> None:
    groups = _cycles(MODULES)
    text = [
        " <-> ".join(group) + "\n" + "\n".join(_cycle_lines(MODULES, group)) for group in groups
    ]
    assert not groups, "import cycles:\n" + "\n".join(text)


#: what validation must know nothing of: where accepted lines go
UPLOAD_SIDE = ("deflate", "pacing", "meter", "spool", "push", "client", "http", "render")


def test_validation_knows_nothing_of_uploads() -> None:
    upload = tuple(f"psykhe_cli.{name}" for name in UPLOAD_SIDE)
    found = [
        f"{module.path.relative_to(PACKAGE.parent)}:{line} imports {other}"
        for module in MODULES.values()
        if module.name.startswith("psykhe_cli.validate")
        for other, line in module.imports.items()
        if other in upload or other.startswith(tuple(f"{name}." for name in upload))
    ]
    assert not found, "validation reaches the upload side:\n" + "\n".join(found)


def test_the_checks_see_what_they_look_for(tmp_path: Path) -> None:
    """A private import, a private attribute and a cycle in a made-up package are found."""
    sources = {
        "pkg": "",
        "pkg.a": "from pkg.b import _hidden\nimport pkg.c\nx = pkg.c._inner\n",
        "pkg.b": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n",
        "pkg.c": "from . import _d\n",
        "pkg._d": "",
    }
    modules = {
        name: Module(name, PACKAGE / f"{name.replace('.', '/')}.py", ast.parse(text))
        for name, text in sources.items()
    }
    saved = dict(MODULES)
    MODULES.clear()
    MODULES.update(modules)
    try:
        found = Findings()
        for module in modules.values():
            _scan(module, found)
        cycles = _cycles(modules)
    finally:
        MODULES.clear()
        MODULES.update(saved)
    assert [line.split(" ", 1)[1] for line in found.private] == [
        "imports _hidden from pkg.b",
        "reaches pkg.c._inner",
        "imports _d from pkg",
    ]
    assert cycles == [["pkg.a", "pkg.b"]]
