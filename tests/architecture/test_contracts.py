"""The import contracts of `make lint` hold, and each one fails when its rule is broken.

Each case copies the packages to a temporary folder, adds one forbidden import, and runs
import-linter there with the project's own configuration.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from exchange.platform.settings import ROOT

LINT = Path(sys.executable).with_name("lint-imports")


def _copy(tmp_path: Path) -> Path:
    for package in ("exchange", "keys", "retention"):
        shutil.copytree(ROOT / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "tests" / "architecture").mkdir(parents=True)
    for name in ("__init__.py",):
        (tmp_path / "tests" / name).write_text("")
    for name in ("__init__.py", "contracts.py"):
        shutil.copy(ROOT / "tests" / "architecture" / name, tmp_path / "tests" / "architecture")
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT), "--no-cache"], cwd=tree, capture_output=True, text=True,
                          env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
                          check=False, timeout=300)


def _append(path: Path, line: str) -> None:
    path.write_text(path.read_text() + "\n" + line + "\n")


def test_the_project_keeps_every_contract(tmp_path: Path) -> None:
    done = _lint(_copy(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "BROKEN" not in done.stdout


CASES = {
    "flask_in_the_domain": ("exchange/domain/dates.py", "import flask  # noqa",
                            "The domain imports the standard library only BROKEN"),
    "web_in_keys": ("keys/records.py", "import exchange.web.shell  # noqa",
                    "keys/ imports neither the portal nor a framework BROKEN"),
    "web_in_retention": ("retention/policy.py", "import exchange.web.guard  # noqa",
                         "retention/ never reaches the web layer nor Flask BROKEN"),
    "flask_in_a_use_case": ("exchange/fiches/drafts.py", "import flask_login  # noqa",
                            "only entry points do BROKEN"),
    "views_of_another_feature": ("exchange/dpo/rights.py", "import exchange.fiches.views  # noqa",
                                 "A feature's views are its own BROKEN"),
    "a_cycle": ("exchange/platform/types.py", "import exchange.acting  # noqa",
                "No import cycles between modules BROKEN"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_forbidden_import_breaks_its_contract(tmp_path: Path, case: str) -> None:
    relative, line, expected = CASES[case]
    tree = _copy(tmp_path)
    _append(tree / relative, line)
    done = _lint(tree)
    assert done.returncode != 0, done.stdout
    assert expected in done.stdout, done.stdout
