"""benchmarks/onnx_vs_torch.py --quick: both tasks, both runtimes, the hardware line."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("onnx", reason="the ONNX benchmark needs onnx: pip install -e '.[export]'")
pytest.importorskip(
    "onnxruntime", reason="the ONNX benchmark needs onnxruntime: pip install -e '.[export]'"
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_quick_run_prints_every_rate():
    command = [sys.executable, str(ROOT / "benchmarks" / "onnx_vs_torch.py"), "--quick"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command += ["--threads", "1"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert done.stdout.startswith("hardware: cpu=") and "1 intra-op threads" in done.stdout
    rows = re.findall(
        r"^\| (FOMM|Eff)[^|]*\| ([^|]+) \| ([\d.]+) (frames|faces)/s", done.stdout, re.M
    )
    runtimes = [(task, runtime.strip(), unit) for task, runtime, _, unit in rows]
    assert runtimes == [
        ("FOMM", "torch", "frames"),
        ("FOMM", "onnxruntime", "frames"),
        ("Eff", "torch", "faces"),
        ("Eff", "torch channels-last", "faces"),
        ("Eff", "onnxruntime", "faces"),
    ]
    assert all(float(rate) > 0 for _, _, rate, _ in rows)
