"""The loop's self-blended detector, its robustness study and the cross-dataset table, tiny."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from omegaconf import open_dict

from datamodules.embedded import EmbeddedSpec, ensure_embedded_dataset
from datamodules.video_io import read_video
from datamodules.video_writer import write_video
from fakedetect.calibration import fit_calibration
from fakedetect.reliability import expected_calibration_error
from fakedetect.self_blend import SelfBlend
from loop import report_guide as guide
from loop.cross_table import calibration_rows, table_row
from loop.report_sbi import sbi_section
from loop.sbi_stage import reals_outside_test, run_sbi_stages
from loop.self_blended_videos import write_self_blended_videos

SPEC = EmbeddedSpec(
    train_identities=3,
    test_identities=2,
    val_identities=2,
    train_videos_per_identity=1,
    test_videos_per_identity=1,
    val_videos_per_identity=1,
    num_frames=4,
    size=32,
)
TINY = {
    "sbi_detector": [
        "logger=csv",
        "model.net.backbone=test_efficientnet",
        "model.max_steps=2",
        "model.val_every_n_steps=2",
        "trainer.num_sanity_val_steps=0",
        "data.image_size=32",
        "data.batch_size=4",
        "data.eval_batch_size=8",
        "data.extract.frames_per_video=2",
    ],
    "study_overrides": ["logger=csv", "scorer.frames_per_video=2", "scorer.size=32"],
    # the split, one video a label, two frames, and one of the six perturbations
    "robustness": [
        "study.split=test",
        "options.max_videos=1",
        "options.max_frames=2",
        *[f"~study.perturbations.{name}" for name in ("rotate", "gaussian_noise", "jpeg", "h264")],
        "~study.perturbations.gaussian_blur",
        "study.perturbations.downscale.strengths=[1.0,0.5]",
    ],
}


def write_generated_layout(data_dir):
    """The layout of ``loop.fakes`` (real/<split>/, fake/<split>/, labels.csv), without FOMM.

    Each "fake" is another person's video with inverted colours: the self-blended detector
    must never train or validate on one.
    """
    embedded = ensure_embedded_dataset(data_dir / "embedded", SPEC)
    root, rows = data_dir / "fakes", []
    videos = sorted(embedded.glob("*/*.mp4"))
    for number, source in enumerate(videos):
        split, name = source.parent.name, source.stem
        same_split = [v for v in videos if v.parent.name == split and v != source]
        driver = same_split[number % len(same_split)]
        real, fake = f"real/{split}/{name}", f"fake/{split}/{name}__{driver.stem}"
        write_video(root / f"{real}.mp4", read_video(source), 25)
        write_video(root / f"{fake}.mp4", 255 - read_video(driver), 25)
        common = {"split": split, "source_identity": name.split("#")[0], "method": ""}
        rows.append({"video": real, "path": f"{real}.mp4", "label": 0, "original": ""} | common)
        rows.append({"video": fake, "path": f"{fake}.mp4", "label": 1, "original": real} | common)
    labels = root / "labels.csv"
    pd.DataFrame(rows).to_csv(labels, index=False)
    return labels


def test_the_index_keeps_fakes_only_in_test(tmp_path):
    labels = write_generated_layout(tmp_path)
    index = pd.read_csv(reals_outside_test(labels, tmp_path / "sbi" / "index.csv"))
    source = pd.read_csv(labels)
    assert set(index.loc[index["label"] == 1, "split"]) == {"test"}
    assert (index["label"] == 0).sum() == (source["label"] == 0).sum()
    assert len(index[index["split"] == "test"]) == len(source[source["split"] == "test"])
    assert all(pd.io.common.file_exists(path) for path in index["path"])


def test_self_blended_copies_change_the_face_and_keep_the_reals(tmp_path):
    labels = write_generated_layout(tmp_path)
    blend = SelfBlend(landmarks=None, blend_ratios=[1.0])
    out = tmp_path / "self_blended"
    written = write_self_blended_videos(
        labels, out, blend, landmarks_csv=tmp_path / "embedded" / "landmarks.csv"
    )
    table = pd.read_csv(written)
    assert set(table["split"]) == {"val", "test"} and (table["label"] == 1).sum() == 4
    for fake in table[table["label"] == 1].itertuples():
        real = table.set_index("video").loc[fake.original]
        real_frames, fake_frames = read_video(out / real.path), read_video(out / fake.path)
        assert real_frames.shape == fake_frames.shape
        assert np.abs(real_frames.astype(int) - fake_frames).mean() > 0.5
    before = written.stat().st_mtime_ns
    assert write_self_blended_videos(labels, out, blend).stat().st_mtime_ns == before


def test_calibration_maps_keep_the_ranking_and_platt_moves_the_threshold():
    logits = np.array([2.0, 2.5, 3.0, 3.5, 5.0, 6.0, 7.0, 8.0])  # reals all above 0
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    platt = fit_calibration(logits, labels, "platt")
    temperature = fit_calibration(logits, labels, "temperature")
    assert platt.slope > 0 and temperature.slope > 0 and temperature.bias == 0
    assert (platt.apply(logits)[labels == 0] < 0).all() and (platt.apply(logits)[4:] > 0).all()
    assert (temperature.apply(logits) > 0).all()  # a temperature cannot cross the threshold
    assert expected_calibration_error(np.array([0.9, 0.9]), np.array([0, 0])) == pytest.approx(0.9)
    with pytest.raises(ValueError, match="real and fake"):
        fit_calibration(logits[:4], labels[:4])


@pytest.mark.slow
def test_the_table_counts_what_it_could_not_score_and_scores_the_rest():
    # Two faces of each scored video; "c" had no face, "d" could not be read.
    faces = pd.DataFrame(
        {
            "video": ["a", "a", "b", "b", "e", "e"],
            "label": [0, 0, 1, 1, 1, 1],
            "logit_x": [-2.0, 0.0, 1.0, 3.0, -4.0, -4.0],
            "logit": 0.0,  # the scorer's ensemble logit: the table must not read it
        }
    )
    videos = pd.DataFrame(
        {
            "video": list("abcde"),
            "label": [0, 1, 1, 0, 1],
            "status": ["ok", "ok", "no_face", "unreadable", "ok"],
        }
    )
    row = table_row("x", "set", faces, videos)
    assert (row["videos"], row["real"], row["fake"]) == (3, 1, 2)
    assert (row["no_face"], row["unreadable"]) == (1, 1)
    # video logits -1 (real), 2 and -4 (fakes): one fake ranks below the real one
    assert row["auc_video"] == pytest.approx(0.5)
    assert row["bacc_video"] == pytest.approx(0.75)
    # Calibration curves: the raw scores and each map's, per test set.
    rows, curves = calibration_rows("x", "set (val)", faces, {"set": faces}, ["temperature"])
    assert len(rows) == 1 and set(curves["set"]) == {"raw", "temperature"}
    np.testing.assert_allclose(np.sort(curves["set"]["raw"][0]), 1 / (1 + np.exp([4, 1, -2])))


def test_the_sbi_stages_train_stress_and_compare_both_detectors(make_cfg, tmp_path):
    labels = write_generated_layout(tmp_path)
    out = tmp_path / "loop"
    cfg = make_cfg([f"output_dir={out}", f"paths.data_dir={tmp_path}"], config_name="loop")
    with open_dict(cfg):
        pipeline = cfg.pipeline
        pipeline.sbi_detector = [*pipeline.sbi_detector, *TINY["sbi_detector"]]
        pipeline.study_overrides = [*pipeline.study_overrides, *TINY["study_overrides"]]
        pipeline.studies = {"robustness": TINY["robustness"]}
        pipeline.crosseval.self_blended_videos.max_frames = 2
    # The cross table needs a second detector: the self-blended one's last checkpoint
    # stands in for the supervised one (it exists by the time the table is made).
    supervised = out / "sbi" / "checkpoints" / "last.ckpt"
    timings = {}
    metrics = run_sbi_stages(cfg, out, labels, supervised, timings)

    for key in ("sbi_video_auc", "sbi_frame_auc", "sbi_balanced_accuracy"):
        assert isinstance(metrics[key], float) and 0 <= metrics[key] <= 1, key
    assert any(key.startswith("robustness_sbi/") for key in metrics)
    assert set(timings) == {"sbi_detector", "study_robustness_sbi", "crosseval"}
    # It never saw a FOMM fake: its index holds fakes in the test split only, and its
    # validation was self-blended.
    index = pd.read_csv(out / "sbi" / "index.csv")
    assert set(index.loc[index["label"] == 1, "split"]) == {"test"}
    scored = pd.read_csv(out / "sbi" / "test" / "videos.csv")
    assert len(scored) == 4  # the two test reals and their FOMM-layout fakes

    table = pd.read_csv(out / "crosseval" / "crosseval.csv")
    assert set(zip(table["detector"], table["test_set"], strict=True)) == {
        (d, s) for d in ("supervised", "sbi") for s in ("fomm_fakes", "self_blended")
    }
    assert (table["real"] == 2).all() and (table["fake"] == 2).all()
    calibration = pd.read_csv(out / "crosseval" / "calibration.csv")
    assert set(calibration["fitted_on"]) == {"fomm_fakes (val)", "self_blended (val)"}
    assert (
        calibration.loc[calibration["detector"] == "sbi", "fitted_on"]
        .eq("self_blended (val)")
        .all()
    )
    assert math.isfinite(metrics["calibration/sbi/ece_after"])
    summary = json.loads((out / "crosseval" / "summary.json").read_text())
    assert len(summary["table"]) == 4

    # The report reads the supervised detector's robustness beside the self-blended one's.
    (out / "studies" / "robustness").mkdir()
    summary_file = out / "studies" / "robustness_sbi" / "summary.json"
    (out / "studies" / "robustness" / "summary.json").write_bytes(summary_file.read_bytes())
    section = "\n".join(sbi_section(out, metrics))
    auc = f"{metrics['sbi_video_auc']:.3g}"
    assert f"| video AUC, held-out real vs FOMM fake (`sbi_video_auc`) | n/a | {auc} |" in section
    for paragraph in (guide.SBI, guide.CROSS_TABLE, guide.CALIBRATION):
        assert paragraph in section
    assert "| `auc_clean` |" in section  # robustness, both detectors
    assert section.count("-> ") == 3 * len(calibration)  # every calibration row, before/after
    images = [line.split("](")[1].rstrip(")") for line in section.splitlines() if "![" in line]
    assert "sbi/self_blend_preview.png" in images and all((out / i).is_file() for i in images)
    assert any(image.startswith("studies/robustness_sbi/") for image in images)
    # A reliability diagram per calibrated detector, shown in the report.
    assert {i for i in images if i.startswith("crosseval/reliability/")} == {
        "crosseval/reliability/supervised.png",
        "crosseval/reliability/sbi.png",
    }
    rerun = run_sbi_stages(cfg, out, labels, supervised, {})
    assert rerun == metrics
