"""python -m fakedetect.calibrate: a map fitted on validation videos, written beside the weights."""

import json

import pandas as pd
import pytest
from crosseval_media import WHOLE_FRAME
from pipeline_checkpoints import write_tiny_checkpoint
from pipeline_media import write_face_video

from fakedetect.calibrate import calibrate_weights, main
from fakedetect.calibration_store import read_calibration, sidecar_path
from fakedetect.crosseval import ScoringOptions, cross_evaluate

OPTIONS = ScoringOptions(device="cpu", precision="fp32", progress=False)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("calibrate")
    rows = []
    for split, count in (("val", 2), ("test", 1)):
        for label in (0, 1):
            for number in range(count):
                path = f"{split}/{label}_{number}.mp4"
                write_face_video(root / path, num_frames=3 + number + label, height=64, width=64)
                rows.append({"path": path, "label": label, "split": split})
    pd.DataFrame(rows).to_csv(root / "index.csv", index=False)
    pd.DataFrame(rows).drop(columns="split").to_csv(root / "nosplit.csv", index=False)
    return root


def test_calibrate_writes_a_sidecar_that_crosseval_applies(dataset, make_cfg, tmp_path):
    weights = write_tiny_checkpoint(tmp_path / "published.ckpt", attention=False)
    cfg = make_cfg(
        [
            f"checkpoint={weights}", f"videos={dataset / 'index.csv'}", "detector=whole_frame",
            "faces.frames_per_video=2", "faces.policy=tight", "faces.size=48",
            "faces.margin=0.0", "device=cpu", "precision=fp32", "workers=0", "progress=false",
            f"cache_dir={tmp_path / 'cache'}",
        ],
        config_name="calibrate",
    )  # fmt: skip
    main(cfg)
    stored = read_calibration(weights)
    assert stored.samples == 4 and stored.fitted_on.startswith("val split of")
    record = json.loads(sidecar_path(weights).read_text())
    assert record["weights"] == "published.ckpt" and record["method"] == "platt"
    run = tmp_path / "logs" / "calibrate" / "runs"
    assert next(run.glob("*/reliability.png")).stat().st_size > 0
    assert next(run.glob("*/calibration.json")).is_file()

    # crosseval reuses the validation scores through the shared cache, and applies the map.
    result = cross_evaluate(
        {"published": str(weights)},
        {"val": {"index": str(dataset / "index.csv"), "split": "val"}},
        tmp_path / "crosseval",
        cache_dir=tmp_path / "cache",
        faces=WHOLE_FRAME | {"frames_per_video": 2, "size": 48},
        options=OPTIONS,
    )
    assert result.scored == {"published": 0}
    row = result.table.iloc[0]
    assert row["calibration"].startswith("platt")
    assert row["logloss_video_calibrated"] == pytest.approx(stored.after["nll"], abs=1e-5)


def test_calibrate_refuses_test_and_unsplit_videos(dataset, tmp_path):
    weights = write_tiny_checkpoint(tmp_path / "w.ckpt")
    with pytest.raises(ValueError, match="never test"):
        calibrate_weights(weights, dataset / "index.csv", tmp_path, split="test")
    with pytest.raises(ValueError, match="has no split column"):
        calibrate_weights(weights, dataset / "nosplit.csv", tmp_path, faces=WHOLE_FRAME)
    assert not sidecar_path(weights).exists()
