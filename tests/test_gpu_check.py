"""benchmarks/gpu_check.py: the whole table on the CPU (--quick), and one failing row."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
PRECISIONS = ["fp32", "bf16-mixed", "16-mixed"]


@pytest.fixture
def gpu_check(monkeypatch):
    """The script as a module (benchmarks/ is a folder of scripts, on sys.path when run)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import gpu_check

    return gpu_check


def test_a_failing_row_records_its_error_and_the_next_row_still_runs(gpu_check, capsys):
    def broken():
        raise RuntimeError("CUDA out of memory\nwhile allocating")

    rows = [
        gpu_check.Row("detector", "broken", "bf16", 4, 64, "faces/s", broken),
        gpu_check.Row("detector", "working", "bf16", 4, 64, "faces/s", lambda: {"value": 8.0}),
    ]
    for row in rows:
        gpu_check.run_row(row, torch.device("cpu"), deadline=float("inf"))
    assert rows[0].status == "error: RuntimeError: CUDA out of memory while allocating"
    assert rows[0].value is None and "Traceback" in capsys.readouterr().err
    assert rows[1].status == "ok" and rows[1].value == 8.0
    table = gpu_check.markdown_table(rows).splitlines()
    assert len(table) == 4 and "error: RuntimeError" in table[2] and "| 8 |" in table[3]

    late = gpu_check.Row("fomm_compile", "late", "fp32", 2, 64, "samples/s", broken)
    gpu_check.run_row(late, torch.device("cpu"), deadline=0.0)
    assert late.status.startswith("skipped: over the time budget")


@pytest.mark.slow
def test_quick_cpu_run_prints_and_writes_every_row(tmp_path):
    stem = tmp_path / "check"
    command = [sys.executable, str(BENCHMARKS / "gpu_check.py"), "--device", "cpu", "--quick"]
    command += ["--output", str(stem), "--work-dir", str(tmp_path / "work")]
    # One thread: two on a 2-core machine shared with other work wait for each other.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    for line in ("torch: ", "cpu: ", "aim: the original FOMM", "54 samples/s"):
        assert line in done.stdout

    result = json.loads(stem.with_suffix(".json").read_text())
    rows = result["rows"]
    assert result["hardware"]["device"] == "cpu" and result["quick"] is True
    fomm = [r["setting"] for r in rows if r["group"] in ("fomm_train", "fomm_compile")]
    assert fomm == PRECISIONS + [f"{p} + torch.compile (eager)" for p in PRECISIONS]
    detector = [r["name"] for r in rows if r["group"] == "detector"]
    assert len(detector) == 4 and sum("inference" in name for name in detector) == 2
    assert len([r for r in rows if r["group"] == "animate"]) == 2
    runs = [r["name"] for r in rows if r["group"] == "fast_dev_run"]
    assert [name.split("model=")[1] for name in runs] == ["fomm", "effnet_att_st"]
    for row in rows:
        if row["setting"].startswith("16-mixed"):
            assert row["status"].startswith("skipped: 16-mixed needs CUDA")
        else:
            assert row["status"].startswith("ok"), row
            assert row["value"] > 0 and row["seconds"] > 0
        if row["group"].startswith("fomm_") and row["value"]:
            assert row["vs_aim"] == pytest.approx(row["value"] / 54)
    assert len(pd.read_csv(stem.with_suffix(".csv"))) == len(rows) == 14
    markdown = stem.with_suffix(".md").read_text()
    table = [line for line in markdown.splitlines() if line.startswith("| ")]
    assert len(table) == len(rows) + 2 and "- aim: the original FOMM" in markdown
