"""What a feature package declares, and how the app, the CLI, the scheduler and the audit trail
find every one of them.

A feature is a package of `exchange` holding a `feature` module with a `FEATURE`. The package
declares its blueprints and who may reach them, its public endpoints, its CLI groups, its audit
actions with their French labels, and its periodic jobs; its `models` module, if any, holds its
tables. The collectors below walk the packages, so adding a feature edits no central list.

References to blueprints, CLI groups and jobs are `"module:attribute"` strings, imported only
when the app is built: reading the declarations (for the audit trail's list of actions, say)
imports neither Flask nor the feature's views.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType
from typing import Any

PACKAGE = "exchange"
# Tables outside `exchange` (retention keeps its legal holds and reports in its own package).
EXTRA_MODEL_MODULES = ("retention.models",)


@dataclass(frozen=True)
class Job:
    """A periodic job: `function(services)` every `every_seconds`; `flask jobs run <name>` runs
    it once, for deployments that schedule with timers instead (`LIAISON_SCHEDULER=0`)."""

    name: str
    function: str
    every_seconds: int
    start_at_once: bool = False
    # A setting, in hours, that sets the pace instead when the deployment chooses it.
    every_hours_setting: str | None = None

    def interval(self, settings: Any) -> int:
        if self.every_hours_setting is not None:
            return int(getattr(settings, self.every_hours_setting)) * 3600
        return self.every_seconds


@dataclass(frozen=True)
class Feature:
    name: str
    blueprints: tuple[str, ...] = ()
    # blueprint name -> the roles that may reach it (the guard refuses everyone else)
    roles: Mapping[str, frozenset[str]] = field(default_factory=dict)
    public_endpoints: frozenset[str] = frozenset()
    cli: tuple[str, ...] = ()
    # audit action -> its label in the DPO's screens
    actions: Mapping[str, str] = field(default_factory=dict)
    jobs: tuple[Job, ...] = ()


def resolve(reference: str) -> Any:
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)


def _packages() -> Iterator[str]:
    root = importlib.import_module(PACKAGE)
    for info in sorted(pkgutil.iter_modules(root.__path__), key=lambda i: i.name):
        if info.ispkg:
            yield f"{PACKAGE}.{info.name}"


def _has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


@cache
def features() -> tuple[Feature, ...]:
    found = []
    for package in _packages():
        if _has_module(f"{package}.feature"):
            declared = importlib.import_module(f"{package}.feature").FEATURE
            if not isinstance(declared, Feature):
                raise TypeError(f"{package}.feature.FEATURE is not a Feature")
            found.append(declared)
    return tuple(found)


@cache
def actions() -> Mapping[str, str]:
    """Every audit action a feature declares, with its label; one name declared twice with two
    labels is a mistake, caught here."""
    table: dict[str, str] = {}
    for feature in features():
        for action, label in feature.actions.items():
            if table.setdefault(action, label) != label:
                raise ValueError(f"audit action {action!r} declared twice")
    return MappingProxyType(table)


def load_models() -> None:
    """Import every module that holds tables, so that the metadata knows them all."""
    for package in _packages():
        if _has_module(f"{package}.models"):
            importlib.import_module(f"{package}.models")
    for module in EXTRA_MODEL_MODULES:
        importlib.import_module(module)


def jobs() -> tuple[Job, ...]:
    return tuple(job for feature in features() for job in feature.jobs)


def job_function(job: Job) -> Callable[[Any], None]:
    function = resolve(job.function)
    if not callable(function):
        raise TypeError(f"job {job.name}: {job.function} is not callable")
    return function  # type: ignore[no-any-return]
