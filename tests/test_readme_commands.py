"""Every command line the README shows composes: its options and config groups exist.

Each ``python train.py ...`` and ``python -m <module> ...`` line of the README's bash
blocks is composed with the primary config its command composes (the ``config_name`` of
the module's ``@hydra.main``), sweeps with every combination of their values, and its
values resolved; nothing is run, so lines that name real files or datasets are checked
too. ``make <target>`` anywhere in the README must be a target of the Makefile.
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import re
import shlex
from collections.abc import Callable
from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import ConfigCompositionException
from omegaconf import DictConfig, OmegaConf

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def bash_commands(markdown: str) -> list[str]:
    """The commands of the markdown's ```bash blocks, continuation lines joined.

    A placeholder such as ``<run>`` becomes ``run``: it stands for a name the reader puts in.
    """
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", markdown, flags=re.S):
        joined = re.sub(r"<(\w+)>", r"\1", re.sub(r"\\\n\s*", " ", block))
        for line in joined.splitlines():
            words = shlex.split(line, comments=True)
            if words:
                commands.append(" ".join(shlex.quote(word) for word in words))
    return commands


def python_commands(markdown: str) -> list[tuple[str, list[str]]]:
    """``(module, arguments)`` of every ``python train.py`` / ``python -m`` command."""
    found = []
    for command in bash_commands(markdown):
        words = shlex.split(command)
        if words[0] != "python":
            continue
        if words[1] == "train.py":
            found.append(("train", words[2:]))
        elif words[1] == "-m":
            found.append((words[2], words[3:]))
        else:
            raise AssertionError(f"the README runs a script this test does not know: {command}")
    return found


def main_source(module: str) -> str:
    """The source of what ``python -m module`` (or ``python train.py``) executes."""
    if module == "train":
        return (ROOT / "train.py").read_text()
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin, f"python -m {module}: no such module"
    if spec.submodule_search_locations:  # a package: python -m runs its __main__
        spec = importlib.util.find_spec(f"{module}.__main__")
        assert spec is not None, f"python -m {module}: the package has no __main__"
    return Path(spec.origin).read_text()


def expand_sweeps(arguments: list[str]) -> list[list[str]]:
    """Every combination of the values of a multirun's ``key=a,b`` overrides."""
    parsed = OverridesParser.create().parse_overrides(arguments)
    choices = []
    for argument, override in zip(arguments, parsed, strict=True):
        if not override.is_sweep_override():
            choices.append([argument])
            continue
        prefix = argument[: len(argument) - len(argument.lstrip("+~"))]
        key = override.get_key_element()
        choices.append([f"{prefix}{key}={value}" for value in override.sweep_string_iterator()])
    return [list(combination) for combination in itertools.product(*choices)]


def compose_command(module: str, arguments: list[str], make_cfg: Callable[..., DictConfig]):
    """Compose and resolve ``arguments`` the way ``module``'s command line would.

    ``make_cfg`` is the conftest fixture: it composes as a real run, Hydra's runtime set.
    """
    source = main_source(module)
    hydra_main = re.search(r"@hydra\.main\([^)]*config_name=\"([\w/]+)\"", source)
    assert hydra_main, f"python -m {module} is not a Hydra command"
    options = [a for a in arguments if a != "-m"]
    assert all(not a.startswith("-") for a in options), f"unknown flag in {arguments}"
    for overrides in expand_sweeps(options):
        cfg = make_cfg(overrides, config_name=hydra_main[1])
        resolvable = {key: value for key, value in cfg.items() if key != "hydra"}
        OmegaConf.to_container(OmegaConf.create(resolvable), resolve=True)


README_COMMANDS = python_commands(README.read_text())


def test_the_readme_shows_commands_of_every_kind():
    modules = {module for module, _ in README_COMMANDS}
    assert {"train", "fakedetect.predict", "loop.studies", "fomm.animate"} <= modules
    assert any("-m" in arguments for _, arguments in README_COMMANDS)


@pytest.mark.parametrize(
    ("module", "arguments"),
    README_COMMANDS,
    ids=[" ".join([module, *arguments])[:80] for module, arguments in README_COMMANDS],
)
def test_every_readme_command_composes(module, arguments, make_cfg):
    compose_command(module, arguments, make_cfg)


def test_every_make_target_the_readme_names_exists():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-zA-Z][\w-]*):", makefile, flags=re.M))
    named = set(re.findall(r"\bmake ([a-z][\w-]*)", README.read_text()))
    assert named, "the README names no make target"
    assert named <= targets, f"the Makefile has no target {sorted(named - targets)}"


def test_each_models_natural_dataset_is_what_the_docs_say(make_cfg):
    """ "`model=X` alone uses/picks `data=Y`" in the README and docs is what composes."""
    claims = []
    for page in [README, *sorted((ROOT / "docs").glob("*.md"))]:
        text = re.sub(r"\s+", " ", page.read_text())
        claims += re.findall(r"`model=(\w+)` alone (?:uses|picks) `data=(\w+)`", text)
    assert ("effnet_att_st", "ffpp") in claims
    for model, data in claims:
        cfg = make_cfg([f"model={model}"])
        assert cfg.hydra.runtime.choices.data == data, f"model={model} alone uses data={data}?"
    # The README's sentence for every model config: "FF++ (c23) for every detector
    # (...), VoxCeleb for `fomm`, `fomm_adv`, `tpsmm` and `tpsmm_avd`, the embedded talking
    # heads for `fomm_tiny`, `tpsmm_tiny` and `tpsmm_tiny_avd`".
    natural = {
        "fomm": "vox",
        "fomm_adv": "vox",
        "fomm_tiny": "embedded",
        "tpsmm": "vox",
        "tpsmm_avd": "vox",
        "tpsmm_tiny": "embedded",
        "tpsmm_tiny_avd": "embedded",
    }
    for config in sorted((ROOT / "conf" / "model").glob("*.yaml")):
        cfg = make_cfg([f"model={config.stem}"])
        detector = cfg.model._target_.startswith("fakedetect.")
        expected = "ffpp" if detector else natural.get(config.stem)
        assert cfg.hydra.runtime.choices.data == expected, config.stem
        if expected == "ffpp":
            assert cfg.data.index.compression == "c23"


def test_a_wrong_option_or_group_fails_the_check(make_cfg):
    """The check itself: a misspelt key, group option or index option is caught."""
    for module, arguments in [
        ("train", ["model=fomm", "data.root_dirr=/x"]),
        ("train", ["model=fomm_big"]),
        ("train", ["-m", "sweep=grid", "model=effnet_att", "model.optimizer.lrr=1e-5,1e-4"]),
        ("fakedetect.predict", ["videos=a", "checkpoints=b"]),
        ("loop.studies", ["-m", "study=occlusion,posture"]),
        ("datamodules.indexes.ffpp", ["root=/x", "output=y.csv", "compresion=c23"]),
        ("fomm.nonexistent", []),
    ]:
        with pytest.raises((AssertionError, ConfigCompositionException)):
            compose_command(module, arguments, make_cfg)
    markdown = (
        "```bash\npython train.py model=fomm \\\n    ckpt_path=<run>/a   # comment\nmake run\n```\n"
    )
    assert python_commands(markdown) == [("train", ["model=fomm", "ckpt_path=run/a"])]
