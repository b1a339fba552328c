import math

import pytest
import torch

from datamodules.video_keys import video_key
from fakedetect.metrics import DetectionScores, detection_metrics, equal_error_rate


def test_detect_metrics_hand_checked():
    # probabilities 0.1, 0.4 (real) and 0.35, 0.8 (fake), as logits
    probabilities = torch.tensor([0.1, 0.4, 0.35, 0.8])
    logits = torch.logit(probabilities)
    labels = torch.tensor([0, 0, 1, 1])
    metrics = detection_metrics(logits, labels)
    # 3 of the 4 (fake, real) pairs are ordered right
    assert metrics["auc"] == pytest.approx(0.75)
    # precision at the fakes' ranks: 0.8 -> 1/1, 0.35 -> 2/3
    assert metrics["ap"] == pytest.approx((1 + 2 / 3) / 2)
    # at threshold 0.4: one real of two above (FPR 0.5), one fake of two below (FNR 0.5)
    assert metrics["eer"] == pytest.approx(0.5)
    # at 0.5 only 0.8 is called fake: real recall 1, fake recall 0.5
    assert metrics["bacc"] == pytest.approx(0.75)
    expected_logloss = -(math.log(0.9) + math.log(0.6) + math.log(0.35) + math.log(0.8)) / 4
    assert metrics["logloss"] == pytest.approx(expected_logloss, rel=1e-5)


def test_detect_eer_interpolates_between_curve_points():
    fpr = torch.tensor([0.0, 0.0, 0.2, 0.6, 1.0])
    tpr = torch.tensor([0.0, 0.5, 0.6, 0.9, 1.0])
    # FNR - FPR: 1, 0.5, 0.2, -0.5, -1 -> crosses between points 2 and 3 at weight 0.2/0.7
    assert equal_error_rate(fpr, tpr) == pytest.approx(0.2 + 0.2 / 0.7 * 0.4)
    perfect = detection_metrics(torch.tensor([-3.0, -1.0, 2.0]), torch.tensor([0, 0, 1]))
    assert perfect["eer"] == 0 and perfect["auc"] == 1


def test_detect_metrics_single_class_are_nan_not_zero():
    metrics = detection_metrics(torch.tensor([1.0, -1.0]), torch.tensor([1, 1]))
    assert math.isnan(metrics["auc"]) and math.isnan(metrics["ap"]) and math.isnan(metrics["eer"])
    assert metrics["bacc"] == pytest.approx(0.5)
    assert all(math.isnan(v) for v in detection_metrics(torch.zeros(0), torch.zeros(0)).values())


def test_detect_video_scores_average_frame_logits_and_drop_duplicates():
    scores = DetectionScores()
    a, b, c = (video_key(name) for name in ("a", "b", "c"))
    scores.update(
        torch.tensor([-2.0, 1.0, 3.0, 1.0, 0.5]),
        torch.tensor([0, 0, 1, 1, 1]),
        torch.tensor([a, a, b, b, c]),
        torch.tensor([0, 1, 0, 1, 0]),
    )
    # a DistributedSampler pads with repeats: the same (video, frame, face) must count once
    scores.update(torch.tensor([-2.0]), torch.tensor([0]), torch.tensor([a]), torch.tensor([0]))
    result = scores.compute()
    assert len(result["frames"]["logit"]) == 5
    videos = result["videos"]
    by_key = {int(k): i for i, k in enumerate(videos["video_key"])}
    assert videos["logit"][by_key[a]] == pytest.approx(-0.5)
    assert videos["logit"][by_key[b]] == pytest.approx(2.0)
    assert videos["score"][by_key[b]] == pytest.approx(torch.sigmoid(torch.tensor(2.0)).item())
    assert videos["frames"].tolist() == [
        2 if k in (a, b) else 1 for k in videos["video_key"].tolist()
    ]
    metrics = result["metrics"]
    assert metrics["auc_video"] == 1 and metrics["eer_video"] == 0
    # frame level, 6 (fake, real) pairs: 4 right, fake 1.0 ties real 1.0 (half), 0.5 < 1.0 wrong
    assert metrics["auc_frame"] == pytest.approx(4.5 / 6)


def test_detect_video_key_is_stable_and_distinct():
    assert video_key("ffpp/000") == video_key("ffpp/000")
    keys = {video_key(f"video_{i}") for i in range(1000)}
    assert len(keys) == 1000
    assert all(-(2**63) <= key < 2**63 for key in keys)
