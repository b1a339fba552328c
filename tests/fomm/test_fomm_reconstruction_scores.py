import math

import pytest
import torch

from fomm.reconstruction_scores import ReconstructionScores


def test_a_repeated_video_counts_once_and_videos_weigh_by_frames():
    scores = ReconstructionScores(["l1", "l1_no_motion"])
    scores.update("a", 10, {"l1": torch.tensor(0.1), "l1_no_motion": torch.tensor(0.3)})
    scores.update("b", 30, {"l1": torch.tensor(0.5), "l1_no_motion": torch.tensor(0.7)})
    # What a distributed sampler pads a short share with: a video seen again.
    scores.update("a", 10, {"l1": torch.tensor(0.1), "l1_no_motion": torch.tensor(0.3)})
    result = scores.compute()
    assert result["l1"].item() == pytest.approx((10 * 0.1 + 30 * 0.5) / 40)
    assert result["l1_no_motion"].item() == pytest.approx((10 * 0.3 + 30 * 0.7) / 40)
    scores.reset()
    with pytest.warns(UserWarning, match="before the ``update``"):
        assert all(math.isnan(value) for value in scores.compute().values())
