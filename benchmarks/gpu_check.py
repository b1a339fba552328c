"""GPU check: training and inference speed of both papers' models, and the GPU smoke runs.

One script, under 8 minutes on one GPU. Rows (each isolated: a failing row prints its
error and the table goes on):

- FOMM vox-256 training step (``model=fomm data=vox``: conf/model/fomm.yaml with
  conf/recipe/fomm_vox.yaml) at batch 16 in ``32``, ``bf16-mixed`` and ``16-mixed``,
  eager and with ``torch.compile``: samples (source/driving pairs) per second, peak memory;
- the detector's training step (EfficientNetB4, EfficientNetAutoAttB4; batch 32, 224 px)
  in bf16-mixed, and its inference (batch 128, bf16, channels-last): faces per second;
- FOMM animation (``fomm.inference.animate``) at 256 px, fp32 and bf16: frames per second;
- ``python train.py trainer=gpu debug=fast_dev_run`` for ``model=fomm`` and
  ``model=effnet_att_st`` on tiny synthetic data, pretrained weights off: pass and seconds.

The aim: the original FOMM trained vox-256 at about 18 samples/s on two Titan X; here
3x that per GPU, 54 samples/s (the ``vs aim`` column). Timed steps follow untimed warm-up
steps; the device is synchronised around them; peak memory is
``torch.cuda.max_memory_allocated``.

    python benchmarks/gpu_check.py                          # on the GPU
    python benchmarks/gpu_check.py --device cpu --quick     # tiny sizes, about a minute
    python benchmarks/gpu_check.py --rows fomm_train,animate --output results/h200

The table is printed and written to ``<output>.md``, ``.csv`` and ``.json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import pandas as pd  # noqa: E402
import pytorch_lightning as pl  # noqa: E402
import torch  # noqa: E402

from datamodules.training.precision import bf16_is_fast, cpu_features, hardware_banner  # noqa: E402

from gpu_check_rows import (  # noqa: E402
    FULL,
    QUICK,
    Sizes,
    detector_inference,
    detector_training,
    fomm_animation,
    fomm_training,
)
from gpu_check_runs import fast_dev_run  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ORIGINAL_SAMPLES_PER_S = 18.0  # vox-256 on two Titan X (the FOMM authors' set-up)
AIM_SAMPLES_PER_S = 3 * ORIGINAL_SAMPLES_PER_S  # per GPU
GROUPS = ("fomm_train", "detector", "animate", "fast_dev_run", "fomm_compile")
PRECISION_NAMES = {"32": "fp32", "bf16-mixed": "bf16-mixed", "16-mixed": "16-mixed"}


@dataclass
class Row:
    """One line of the table: what was run, and what it gave."""

    group: str
    name: str
    setting: str
    batch: int | None
    size: int | None
    unit: str
    measure: Callable[[], dict[str, Any]] = field(repr=False)
    skip: str | None = None
    value: float | None = None
    peak_gib: float | None = None
    vs_aim: float | None = None
    seconds: float | None = None
    status: str = "not run"

    def record(self) -> dict[str, Any]:
        """The row as written to JSON and CSV."""
        return {k: v for k, v in asdict(self).items() if k not in ("measure", "skip")}


def plan_rows(sizes: Sizes, device: torch.device, work: Path, timeout_s: float) -> list[Row]:
    """Every row, cheapest and most telling first, so a time budget cuts the compile rows."""
    cuda = device.type == "cuda"
    fomm_name = f"FOMM {sizes.fomm_model} train step ({sizes.fomm_data} recipe)"
    rows = []
    for compiled in (False, True):
        group = "fomm_compile" if compiled else "fomm_train"
        for precision in PRECISION_NAMES:
            setting = PRECISION_NAMES[precision]
            if compiled:
                setting += f" + torch.compile ({sizes.compile_backend})"
            measure = lambda p=precision, c=compiled: fomm_training(sizes, device, p, c)  # noqa: E731
            row = Row(group, fomm_name, setting, sizes.fomm_batch, sizes.fomm_size, "samples/s",
                      measure)  # fmt: skip
            if precision == "16-mixed" and not cuda:
                row.skip = "16-mixed needs CUDA (on the CPU Lightning runs bf16-mixed instead)"
            rows.append(row)
    backbone = f" [{sizes.detector_backbone}]" if sizes.detector_backbone else ""
    size = sizes.detector_size
    for model, net in (("effnet_b4", "EfficientNetB4"), ("effnet_att", "EfficientNetAutoAttB4")):
        train = lambda m=model: detector_training(sizes, device, m)  # noqa: E731
        infer = lambda m=model: detector_inference(sizes, device, m)  # noqa: E731
        rows.append(
            Row("detector", f"{net}{backbone} train step", "bf16-mixed",
                sizes.detector_train_batch, size, "faces/s", train)
        )  # fmt: skip
        rows.append(
            Row("detector", f"{net}{backbone} inference", "bf16 channels-last",
                sizes.detector_infer_batch, size, "faces/s", infer)
        )  # fmt: skip
    for name, dtype in (("fp32", None), ("bf16 autocast", torch.bfloat16)):
        measure = lambda d=dtype: fomm_animation(sizes, device, d)  # noqa: E731
        rows.append(
            Row("animate", f"FOMM {sizes.fomm_model} animation ({sizes.animation_frames} frames)",
                name, sizes.animation_batch, sizes.fomm_size, "frames/s", measure)
        )  # fmt: skip
    trainer = "gpu" if cuda else "cpu"
    for model in ("fomm", "effnet_att_st"):
        measure = lambda m=model: fast_dev_run(m, sizes, cuda, work, timeout_s)  # noqa: E731
        rows.append(
            Row("fast_dev_run", f"train.py trainer={trainer} debug=fast_dev_run model={model}",
                "subprocess", None, None, "s", measure)
        )  # fmt: skip
    return sorted(rows, key=lambda row: GROUPS.index(row.group))


def run_row(row: Row, device: torch.device, deadline: float) -> None:
    """Measure one row in place; an error is recorded and printed, never raised."""
    if row.skip:
        row.status = f"skipped: {row.skip}"
        return
    if time.monotonic() > deadline:
        row.status = "skipped: over the time budget (--budget-min)"
        return
    started = time.perf_counter()
    try:
        result = row.measure()
        row.value, row.peak_gib = result["value"], result.get("peak_gib")
        if row.group.startswith("fomm_"):
            row.vs_aim = row.value / AIM_SAMPLES_PER_S
        row.status = "ok" if "detail" not in result else f"ok: {result['detail']}"
    except Exception as error:  # noqa: BLE001 - one row's failure must not stop the check
        traceback.print_exc()
        message = " ".join(str(error).split())[:300]
        row.status = f"error: {type(error).__name__}: {message}"
    finally:
        row.seconds = time.perf_counter() - started
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()


def hardware(device: torch.device) -> dict[str, Any]:
    """What the numbers were measured on."""
    info: dict[str, Any] = {
        "device": str(device),
        "torch": torch.__version__,
        "lightning": pl.__version__,
        "python": platform.python_version(),
        "cpu": cpu_features().model,
        "cpu_path": cpu_features().widest_path,
        "cpu_threads": torch.get_num_threads(),
        "bf16_fast_on_cpu": bf16_is_fast(torch.device("cpu")),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info |= {
            "gpu": props.name,
            "gpu_memory_gib": round(props.total_memory / 1024**3, 1),
            "compute_capability": f"{props.major}.{props.minor}",
            "cuda_runtime": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
            "driver": _nvidia_driver(),
            "bf16_supported": torch.cuda.is_bf16_supported(),
            "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
            "matmul_precision": torch.get_float32_matmul_precision(),
        }
    return info


def _nvidia_driver() -> str:
    if not shutil.which("nvidia-smi"):
        return "unknown (no nvidia-smi)"
    query = ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]
    done = subprocess.run(query, capture_output=True, text=True, timeout=30)
    return done.stdout.strip().splitlines()[0] if done.returncode == 0 else "unknown"


def _number(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}g}"


def markdown_table(rows: list[Row]) -> str:
    """The table as Markdown, to paste into docs and notes."""
    lines = [
        "| row | setting | batch | size | result | unit | peak GiB | vs aim | row s | status |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        cells = [row.name, row.setting, _number(row.batch), _number(row.size),
                 _number(row.value), row.unit, _number(row.peak_gib), _number(row.vs_aim, 2),
                 _number(row.seconds, 2), row.status.replace("|", "/")]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def header_lines(info: dict[str, Any], quick: bool) -> list[str]:
    """The hardware and the aim, printed before the rows and written with the table."""
    lines = [f"{key}: {value}" for key, value in info.items()]
    lines.append(f"sizes: {'--quick (tiny; not comparable with the aim)' if quick else 'full'}")
    lines.append(
        f"aim: the original FOMM trained vox-256 at ~{ORIGINAL_SAMPLES_PER_S:g} samples/s on "
        f"two Titan X; 3x that per GPU = {AIM_SAMPLES_PER_S:g} samples/s ('vs aim' = ratio)"
    )
    return lines


def write_outputs(stem: Path, info: dict, quick: bool, rows: list[Row]) -> None:
    """``<stem>.json``, ``.csv`` and ``.md``."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    records = [row.record() for row in rows]
    document = {"hardware": info, "quick": quick, "aim_samples_per_s": AIM_SAMPLES_PER_S}
    stem.with_suffix(".json").write_text(json.dumps(document | {"rows": records}, indent=2))
    pd.DataFrame(records).to_csv(stem.with_suffix(".csv"), index=False)
    header = "\n".join(f"- {line}" for line in header_lines(info, quick))
    stem.with_suffix(".md").write_text(f"{header}\n\n{markdown_table(rows)}\n")


def main() -> int:
    """Run the rows, print the table, write it; exit 1 if any row failed."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--quick",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="tiny sizes (default: on for the CPU, off for a GPU)",
    )
    parser.add_argument("--rows", default=",".join(GROUPS), help=f"groups: {','.join(GROUPS)}")
    parser.add_argument("--output", type=Path, default=None, help="file stem of .md/.csv/.json")
    parser.add_argument("--budget-min", type=float, default=6.5, help="start no row after this")
    parser.add_argument("--timeout-s", type=float, default=300, help="per fast_dev_run")
    parser.add_argument("--work-dir", type=Path, default=None, help="synthetic data (temporary)")
    args = parser.parse_args()
    device = torch.device(args.device)
    quick = device.type == "cpu" if args.quick is None else args.quick
    unknown = set(args.rows.split(",")) - set(GROUPS)
    if unknown:
        parser.error(f"unknown --rows {sorted(unknown)}; choose from {', '.join(GROUPS)}")
    if device.type == "cuda":
        if device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        torch.cuda.set_device(device)
    for name in ("pytorch_lightning", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    stem = (
        args.output
        or ROOT / "logs" / "gpu_check" / f"gpu_check_{device.type}{'_quick' if quick else ''}"
    )
    info = hardware(device)
    print(hardware_banner(device), flush=True)
    print("\n".join(header_lines(info, quick)), flush=True)
    deadline = time.monotonic() + 60 * args.budget_min
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="gpu_check_"))
    sizes = QUICK if quick else FULL
    rows = [
        row
        for row in plan_rows(sizes, device, work.resolve(), args.timeout_s)
        if row.group in args.rows.split(",")
    ]
    try:
        for row in rows:
            print(f"-- {row.name}, {row.setting} ...", flush=True)
            run_row(row, device, deadline)
            if row.seconds is None:
                print(f"   {row.status}")
            else:
                print(f"   {_number(row.value)} {row.unit} in {row.seconds:.1f} s: {row.status}")
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    print(markdown_table(rows))
    write_outputs(stem, info, quick, rows)
    print(f"written: {stem}.md, .csv, .json")
    return 1 if any(row.status.startswith("error") for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
