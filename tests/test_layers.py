"""The layer contract (docs/architecture.md) holds, and every config names code that exists.

The contract lives in ``pyproject.toml`` (``[tool.importlinter]``): ``loop`` above ``fomm``
and ``fakedetect``, which never import each other, above ``datamodules``; imports inside
functions count as much as those at the top. ``train.py`` is a module, which import-linter
cannot take as a root, so its imports (and who imports it) are checked here.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra.utils import get_object

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("datamodules", "fomm", "fakedetect", "loop")
CONFIG_DIRS = (ROOT / "conf", ROOT / "tests" / "fakedetect" / "conf")


def lint_imports(project: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` on the project folder: its pyproject.toml, its packages."""
    command = [
        sys.executable,
        "-c",
        "from importlinter.cli import lint_imports; "
        "raise SystemExit(lint_imports(no_cache=True, no_logo=True))",
    ]
    return subprocess.run(command, cwd=project, capture_output=True, text=True, timeout=120)


def test_the_layer_contract_is_kept():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "imported"),
    [
        ("datamodules/shards.py", "fakedetect.augment"),
        ("fomm/landmarks.py", "fakedetect.metrics"),
        ("fakedetect/metrics.py", "fomm.inference"),
        ("fomm/media.py", "loop.run"),
    ],
)
def test_an_import_across_the_layers_inside_a_function_breaks_the_contract(
    tmp_path, module, imported
):
    """The contract is strict: one hidden import against the layers fails it."""
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    with (tmp_path / module).open("a") as source:
        source.write(f"\n\ndef _hidden() -> None:\n    import {imported}  # noqa: F401\n")
    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{module[:-3].replace('/', '.')} -> {imported}" in result.stdout


def project_imports(path: Path) -> set[str]:
    """The top-level packages of this project a file imports, inside functions too."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & {*PACKAGES, "train"}


def test_train_py_imports_only_the_data_layer():
    assert project_imports(ROOT / "train.py") == {"datamodules"}


@pytest.mark.parametrize("package", ["datamodules", "fomm", "fakedetect"])
def test_only_the_loop_imports_train_py(package):
    """``train.py`` is the entry above the papers: below the loop, nothing may import it."""
    importers = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / package).rglob("*.py"))
        if "train" in project_imports(path)
    ]
    assert importers == []


def config_targets() -> list[tuple[str, str]]:
    """``(config file, _target_)`` for every ``_target_`` in the Hydra configs."""
    found = []

    def walk(node, where: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "_target_":
                    found.append((where, value))
                walk(value, where)
        elif isinstance(node, list):
            for value in node:
                walk(value, where)

    for config_dir in CONFIG_DIRS:
        for file in sorted(config_dir.rglob("*.yaml")):
            walk(yaml.safe_load(file.read_text()), str(file.relative_to(ROOT)))
    return found


CONFIG_TARGETS = config_targets()


def test_the_configs_name_targets():
    assert len(CONFIG_TARGETS) > 50
    assert {"loop.fakes.generate.fomm_fakes_index", "datamodules.faces.FaceDataModule"} <= {
        target for _, target in CONFIG_TARGETS
    }


@pytest.mark.parametrize(
    ("config", "target"), CONFIG_TARGETS, ids=[f"{c}:{t}" for c, t in CONFIG_TARGETS]
)
def test_every_config_target_imports(config, target):
    """A module that moved leaves no config pointing at its old place."""
    assert callable(get_object(target)), f"{config}: _target_ {target} is not callable"
