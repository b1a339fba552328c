"""Cross-dataset evaluation: the table, its caching, ensembles, calibration, bad input."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from crosseval_media import WHOLE_FRAME, write_alpha, write_beta
from pipeline_checkpoints import write_tiny_checkpoint

import fakedetect.crosseval.scoring as crosseval_scoring
from datamodules.extraction.crops import CropSettings
from fakedetect.calibration import Calibration
from fakedetect.crosseval import ScoringOptions, cross_evaluate
from fakedetect.crosseval.specs import detector_specs, load_eval_set
from fakedetect.crosseval.table import TABLE_COLUMNS
from fakedetect.scoring import VideoScorer

OPTIONS = ScoringOptions(device="cpu", precision="fp32", batch_size=16, progress=False)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("crosseval")
    alpha = write_alpha(root / "alpha")
    beta = write_beta(root / "beta")
    first = write_tiny_checkpoint(root / "first.ckpt", attention=True, seed=0)
    second = write_tiny_checkpoint(root / "second.ckpt", attention=False, seed=1)
    content = torch.load(second, weights_only=True)
    content["calibration"] = Calibration("platt", slope=0.5, bias=-0.2).to_dict()
    torch.save(content, second)
    return {"alpha": alpha, "beta": beta, "first": first, "second": second}


@pytest.fixture
def counted(monkeypatch):
    """Count the videos the networks score (the predict function crosseval reuses)."""
    calls = []
    original = crosseval_scoring.score_extracted

    def counting(scorer, faces_dir, rows, sampled):
        calls.append((scorer.model_names[0], rows["video"].iloc[0] if len(rows) else None))
        return original(scorer, faces_dir, rows, sampled)

    monkeypatch.setattr(crosseval_scoring, "score_extracted", counting)
    return calls


def test_table_cache_and_ensemble(media, counted, tmp_path):
    cache = tmp_path / "cache"
    detectors = {"first": str(media["first"]), "pair": [str(media["first"]), str(media["second"])]}
    run = lambda sets, out, dets=detectors: cross_evaluate(  # noqa: E731
        dets, sets, tmp_path / out, cache_dir=cache, faces=WHOLE_FRAME, options=OPTIONS
    )
    one = run({"alpha": str(media["alpha"])}, "one")
    # alpha's test split: 2 reals, 2 Deepfakes, 2 FaceSwap and a broken file; each of the
    # two networks scores the 6 readable videos once (the ensemble reuses first's scores).
    assert len(counted) == 12 and {name for name, _ in counted} == {"first", "second"}
    table = pd.read_csv(one.files["table"])
    assert table.columns.tolist() == TABLE_COLUMNS
    assert table["subset"].tolist() == ["all", "Deepfakes", "FaceSwap"] * 2
    whole = table[table["subset"] == "all"].set_index("detector")
    assert whole.loc["first", "videos"] == 6 and whole.loc["first", "unreadable"] == 1
    assert whole.loc["first", "real"] == 2 and whole.loc["first", "no_face"] == 0
    per_method = table[(table["detector"] == "first") & (table["subset"] == "Deepfakes")]
    assert per_method["videos"].item() == 4 and per_method["fake"].item() == 2
    for column in ("auc_video", "auc_frame", "ap_video", "bacc_video", "ece_video"):
        assert table[column].between(0, 1).all(), column
    assert (table["logloss_video"] > 0).all() and table["eer_video"].between(0, 1).all()
    # first has no calibration, so neither has the ensemble it is part of.
    assert table["calibration"].str.startswith("none").all()
    assert "first lack one" in whole.loc["pair", "calibration"]
    assert table["bacc_video_calibrated"].isna().all()
    assert one.unreadable == {"alpha": ["real/broken"]}
    for name in ("heatmap", "reliability/first", "reliability/pair", "summary"):
        assert one.files[name].is_file() and one.files[name].stat().st_size > 0

    # The ensemble's score is predict's: the mean of its members' logits per face.
    videos = one.videos.set_index(["detector", "test_set", "video"])
    scorer = VideoScorer.from_checkpoints(
        [str(media["first"]), str(media["second"])],
        detector=WHOLE_FRAME["detector"],
        crop=CropSettings.split_options(WHOLE_FRAME)[0],
        device="cpu",
        precision="fp32",
    )
    direct = scorer.score_video(media["alpha"].parent / "FaceSwap" / "001.mp4")
    assert videos.loc[("pair", "alpha", "FaceSwap/001"), "score"] == pytest.approx(
        direct.score, abs=1e-5
    )
    assert videos.loc[("pair", "alpha", "real/broken"), "status"] == "unreadable"

    # One more set: only its three videos are scored, by each network.
    counted.clear()
    two = run({"alpha": str(media["alpha"]), "beta": str(media["beta"])}, "two")
    assert len(counted) == 6
    assert {video for _, video in counted} == set(
        two.videos.loc[two.videos["test_set"] == "beta", "path"].map(_key_of)
    )
    again = pd.read_csv(two.files["table"])
    pd.testing.assert_frame_equal(again[again["test_set"] == "alpha"].reset_index(drop=True), table)
    beta = again[again["test_set"] == "beta"]
    assert beta["subset"].tolist() == ["all", "all"] and (beta["videos"] == 3).all()

    # A detector whose network is cached already scores nothing, and is calibrated.
    counted.clear()
    three = run({"beta": str(media["beta"])}, "three", {"second": str(media["second"])})
    assert counted == []
    row = three.table.iloc[0]
    assert row["calibration"].startswith("platt") and 0 <= row["bacc_video_calibrated"] <= 1
    scored = three.videos
    expected = 1 / (1 + np.exp(-(0.5 * np.log(scored["score"] / (1 - scored["score"])) - 0.2)))
    np.testing.assert_allclose(scored["score_calibrated"], expected, rtol=1e-6)
    summary = json.loads(three.files["summary"].read_text())
    assert summary["scored_this_run"] == {"second": 0}


def _key_of(path):
    from fakedetect.crosseval.specs import video_cache_key

    return video_cache_key(path)


def test_test_set_forms_and_bad_input(media, tmp_path):
    alpha = load_eval_set(None, str(media["alpha"]))
    assert alpha.name == "alpha_index" and len(alpha.videos) == 7  # the val video left out
    every = load_eval_set("all", {"index": str(media["alpha"]), "split": None, "max_videos": 1})
    assert every.videos["label"].value_counts().to_dict() == {0: 1, 1: 1}
    beta = load_eval_set(None, str(media["beta"]))
    assert beta.name == "beta" and beta.videos["label"].tolist() == [0, 1, 1]
    frame = load_eval_set("frame", pd.read_csv(media["alpha"]).assign(path=lambda t: t["path"]))
    assert frame.name == "frame"

    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_eval_set("missing", str(tmp_path / "nothing.csv"))
    unlabelled = tmp_path / "unlabelled.csv"
    pd.DataFrame({"path": ["a.mp4"]}).to_csv(unlabelled, index=False)
    with pytest.raises(ValueError, match="no 'label' column"):
        load_eval_set("x", str(unlabelled))
    odd = tmp_path / "odd.csv"
    pd.DataFrame({"path": ["a.mp4"], "label": ["maybe"]}).to_csv(odd, index=False)
    with pytest.raises(ValueError, match=r"labels \['maybe'\]"):
        load_eval_set("x", str(odd))
    with pytest.raises(ValueError, match="no videos in split 'train'"):
        load_eval_set("x", {"index": str(media["alpha"]), "split": "train"})
    with pytest.raises(ValueError, match="at least one detector"):
        detector_specs({})
    with pytest.raises(ValueError, match="Two detectors are called first"):
        detector_specs([str(media["first"]), str(media["first"])])
    with pytest.raises(ValueError, match="Unknown face settings"):
        cross_evaluate(
            [str(media["first"])], [str(media["beta"])], tmp_path / "out",
            faces={"frame_count": 3}, options=OPTIONS,
        )  # fmt: skip


def test_the_command_logs_a_wandb_table(media, make_cfg, tmp_path):
    from fakedetect.crosseval.__main__ import main

    cfg = make_cfg(
        [
            f"+detectors.first={media['first']}",
            f"+detectors.pair=[{media['first']},{media['second']}]",
            f"+test_sets.beta={media['beta']}",
            "detector=whole_frame", "faces.frames_per_video=2", "faces.policy=tight",
            "faces.size=48", "faces.margin=0.0", "device=cpu", "precision=fp32", "workers=0",
            "progress=false", "logger=wandb", f"cache_dir={tmp_path / 'cache'}",
        ],
        config_name="crosseval",
    )  # fmt: skip
    main(cfg)
    out = tmp_path / "logs" / "crosseval" / "runs"
    table = pd.read_csv(next(out.glob("*/crosseval.csv")))
    assert table["detector"].tolist() == ["first", "pair"] and (table["videos"] == 3).all()
    logged = list(out.glob("*/wandb/offline-run-*/files/media/table/crosseval/table_*.table.json"))
    assert len(logged) == 1
    wandb_table = json.loads(logged[0].read_text())
    assert wandb_table["columns"] == TABLE_COLUMNS and len(wandb_table["data"]) == 2
    images = list(out.glob("*/wandb/offline-run-*/files/media/images/crosseval/**/*.png"))
    assert len(images) == 3  # the heatmap and one reliability diagram per detector


def test_score_cache_survives_a_killed_run(tmp_path):
    from fakedetect.crosseval.cache import ScoreCache

    weights = tmp_path / "w.pth"
    weights.write_bytes(b"weights")
    member = {"path": str(weights), "architecture": None, "name": "w"}
    cache = ScoreCache(tmp_path / "scores", member, {"size": 48})
    faces = pd.DataFrame({"frame": [0, 5], "face_rank": [0, 0], "logit": [0.25, -1.5]})
    cache.add("a_1", 2, faces)
    cache.add("b_2", 3, faces.iloc[:0])  # no face: remembered, not scored again
    cache.add("c_3", 2, faces)
    text = cache.path.read_text()
    cache.path.write_text(text[: text.rindex("\n", 0, len(text) - 1) + 8])  # c_3's rows cut
    again = ScoreCache(tmp_path / "scores", member, {"size": 48})
    assert again.missing(["a_1", "b_2", "c_3"]) == ["c_3"]
    pd.testing.assert_frame_equal(again.faces("a_1"), faces)
    assert again.faces("b_2").empty and again.frames_sampled("b_2") == 3
    # Other settings or other weights: another cache.
    assert ScoreCache(tmp_path / "scores", member, {"size": 64}).missing(["a_1"]) == ["a_1"]
    weights.write_bytes(b"new weights")
    assert len(ScoreCache(tmp_path / "scores", member, {"size": 48})) == 0
