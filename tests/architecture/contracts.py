"""Contract types of our own for import-linter (`make lint`), beside its built-in ones.

- `stdlib_only`: the modules import the standard library and the allowed modules, nothing else.
- `framework_free`: outside the entry points (views, forms, CLI), no module of the containers
  reaches a web framework, even through other modules.
- `private_entry_points`: a feature's views are imported by no other package.
- `acyclic_modules`: no module of the containers imports itself through a chain of imports.
"""

from __future__ import annotations

import fnmatch
import sys
from collections.abc import Iterable

from grimp import ImportGraph
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck
from importlinter.domain.helpers import module_expressions_to_modules

# Modules that may use the web framework or the CLI: they parse input and call use cases.
ENTRY_POINTS = ("views", "*_views", "forms", "cli", "*_cli", "feature")
# What only the package itself may import.
PRIVATE = ("views", "*_views")


def _descendants(graph: ImportGraph, roots: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for root in roots:
        found.add(root)
        found |= graph.find_descendants(root)
    return found


def _expressions(graph: ImportGraph, values: object) -> set[str]:
    modules = module_expressions_to_modules(graph, values)  # type: ignore[arg-type]
    return {m.name for m in modules}


def _is_entry_point(module: str, patterns: Iterable[str]) -> bool:
    leaf = module.rsplit(".", 1)[-1]
    return any(fnmatch.fnmatchcase(leaf, p) for p in patterns)


def _render(check: ContractCheck) -> None:
    for line in check.metadata["problems"]:
        output.print_error(line, bold=False)
        output.new_line()


class StdlibOnlyContract(Contract):
    type_name = "stdlib_only"

    modules = fields.SetField(subfield=fields.ModuleExpressionField())
    allowed = fields.SetField(subfield=fields.ModuleExpressionField(), required=False)

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        sources = _descendants(graph, _expressions(graph, self.modules))
        allowed = sources | _descendants(graph, _expressions(graph, self.allowed or ()))
        problems = []
        for module in sorted(sources):
            for imported in sorted(graph.find_modules_directly_imported_by(module)):
                top = imported.split(".", 1)[0]
                if imported in allowed or top in sys.stdlib_module_names:
                    continue
                problems.append(f"{module} imports {imported}, outside the standard library")
        return ContractCheck(kept=not problems, metadata={"problems": problems})

    def render_broken_contract(self, check: ContractCheck) -> None:
        _render(check)


class FrameworkFreeContract(Contract):
    type_name = "framework_free"

    containers = fields.SetField(subfield=fields.ModuleExpressionField())
    frameworks = fields.SetField(subfield=fields.StringField())
    entry_points = fields.SetField(subfield=fields.StringField(), required=False)
    exempt = fields.SetField(subfield=fields.ModuleExpressionField(), required=False)

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        patterns = tuple(self.entry_points or ENTRY_POINTS)
        exempt = _descendants(graph, _expressions(graph, self.exempt or ()))
        sources = {m for m in _descendants(graph, _expressions(graph, self.containers))
                   if not _is_entry_point(m, patterns) and m not in exempt}
        frameworks = sorted(self.frameworks)
        problems = []
        for module in sorted(sources):
            for framework in frameworks:
                if framework not in graph.modules:
                    continue
                chain = graph.find_shortest_chain(importer=module, imported=framework)
                if chain:
                    problems.append(f"{module} reaches {framework}: " + " -> ".join(chain))
        return ContractCheck(kept=not problems, metadata={"problems": problems})

    def render_broken_contract(self, check: ContractCheck) -> None:
        _render(check)


class PrivateEntryPointsContract(Contract):
    type_name = "private_entry_points"

    containers = fields.SetField(subfield=fields.ModuleExpressionField())
    private = fields.SetField(subfield=fields.StringField(), required=False)

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        patterns = tuple(self.private or PRIVATE)
        problems = []
        for container in sorted(_expressions(graph, self.containers)):
            for module in sorted(graph.find_descendants(container)):
                if not _is_entry_point(module, patterns):
                    continue
                package = module.rsplit(".", 1)[0]
                for importer in sorted(graph.find_modules_that_directly_import(module)):
                    if importer != package and not importer.startswith(package + "."):
                        problems.append(f"{importer} imports {module}, a view of another "
                                        f"package")
        return ContractCheck(kept=not problems, metadata={"problems": problems})

    def render_broken_contract(self, check: ContractCheck) -> None:
        _render(check)


class AcyclicModulesContract(Contract):
    type_name = "acyclic_modules"

    containers = fields.SetField(subfield=fields.ModuleExpressionField())

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        modules = _descendants(graph, _expressions(graph, self.containers))
        problems = []
        seen: set[frozenset[str]] = set()
        for module in sorted(modules):
            for imported in sorted(graph.find_modules_directly_imported_by(module)):
                if imported not in modules or imported == module:
                    continue
                back = graph.find_shortest_chain(importer=imported, imported=module)
                if back:
                    cycle = frozenset(back)
                    if cycle not in seen:
                        seen.add(cycle)
                        problems.append("cycle: " + " -> ".join([module, *back]))
        return ContractCheck(kept=not problems, metadata={"problems": problems})

    def render_broken_contract(self, check: ContractCheck) -> None:
        _render(check)
