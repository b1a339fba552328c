"""The Makefile sends wandb offline only where no API key is configured."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# A target added on the command line, so the Makefile itself needs no test-only target.
PRINT_MODE = 'print-wandb-mode: ; @echo "$${WANDB_MODE:-online}"'


def wandb_mode(home: Path, **env: str) -> str:
    """The WANDB_MODE that ``make`` gives its recipes (``online`` when it sets none)."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    clean = {k: v for k, v in os.environ.items() if k not in {"WANDB_MODE", "WANDB_API_KEY"}}
    clean.pop("NETRC", None)
    command = ["make", "-s", "--no-print-directory", f"--eval={PRINT_MODE}", "print-wandb-mode"]
    done = subprocess.run(
        command, cwd=ROOT, env={**clean, "HOME": str(home), **env}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_wandb_is_offline_only_without_a_configured_key(tmp_path):
    assert wandb_mode(tmp_path) == "offline"
    assert wandb_mode(tmp_path, WANDB_API_KEY="") == "offline"
    assert wandb_mode(tmp_path, WANDB_API_KEY="k" * 40) == "online"

    netrc = tmp_path / ".netrc"
    netrc.write_text("machine example.org\n  login me\n  password secret\n")
    assert wandb_mode(tmp_path) == "offline"
    netrc.write_text("machine api.wandb.ai\n  login user\n  password " + "k" * 40 + "\n")
    assert wandb_mode(tmp_path) == "online"  # what `wandb login` writes

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert wandb_mode(elsewhere) == "offline"
    assert wandb_mode(elsewhere, NETRC=str(netrc)) == "online"
    # A mode the user chose is kept, key or not.
    assert wandb_mode(elsewhere, WANDB_MODE="disabled") == "disabled"
    assert wandb_mode(tmp_path, WANDB_MODE="offline") == "offline"
