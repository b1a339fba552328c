"""fakedetect.predict backend=onnx: the same scores, logits and attention maps as torch."""

import numpy as np
import pandas as pd
import pytest
import torch
from pipeline_checkpoints import write_tiny_checkpoint
from pipeline_media import write_face_video

from datamodules.extraction.crops import CropSettings
from fakedetect.onnx_runtime import OnnxAttentionDetector, OnnxDetector, use_backend
from fakedetect.predict import main
from fakedetect.scoring import VideoScorer

pytest.importorskip("onnx", reason="backend=onnx needs onnx: pip install -e '.[export]'")
pytest.importorskip(
    "onnxruntime", reason="backend=onnx needs onnxruntime: pip install -e '.[export]'"
)
SETTINGS = dict(crop=CropSettings(frames_per_video=3, size=64), precision="fp32", device="cpu")


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict_onnx")
    video = write_face_video(root / "videos" / "talk.mp4", num_frames=9)
    attention = write_tiny_checkpoint(root / "att.ckpt", attention=True, seed=0)
    plain = write_tiny_checkpoint(root / "plain.ckpt", attention=False, seed=1)
    return video, attention, plain


def test_the_command_scores_alike_with_both_backends(media, make_cfg, tmp_path):
    video, attention, plain = media
    tables, threads = {}, torch.get_num_threads()
    for backend in ("torch", "onnx"):
        output = tmp_path / backend
        overrides = [
            f"videos={video}",
            f"output={output}",
            f"checkpoint=[{attention},{plain}]",
            f"backend={backend}",
            "frames_per_video=3",
            "size=64",
            "workers=0",
            "threads=1",
            "precision=fp32",
            "detector.min_face_size=20",
            "detector.device=cpu",
            "progress=false",
        ]
        try:
            main(make_cfg(overrides, config_name="predict"))
        finally:
            torch.set_num_threads(threads)  # main sets the thread count of this process
        tables[backend] = (pd.read_csv(output / "videos.csv"), pd.read_csv(output / "frames.csv"))
    (torch_videos, torch_frames), (onnx_videos, onnx_frames) = tables["torch"], tables["onnx"]
    assert len(torch_frames) == len(onnx_frames) == 3
    for column in ("logit", "logit_att", "logit_plain"):
        assert np.abs(onnx_frames[column] - torch_frames[column]).max() < 1e-4, column
    for column in ("score", "score_att", "score_plain"):
        assert np.abs(onnx_videos[column] - torch_videos[column]).max() < 1e-4, column
    assert onnx_videos["label"].tolist() == torch_videos["label"].tolist()


def test_attention_maps_and_checks(media):
    _, attention, plain = media
    scorer = VideoScorer.from_checkpoints([str(attention), str(plain)], **SETTINGS)
    crops = [
        np.random.default_rng(seed).integers(0, 255, (70, 60, 3), dtype=np.uint8)
        for seed in range(5)
    ]
    logits, maps = scorer.score_crops(crops), scorer.attention_maps(crops)
    use_backend(scorer, "onnx")
    assert isinstance(scorer.models["att"], OnnxAttentionDetector)
    assert type(scorer.models["plain"]) is OnnxDetector
    assert np.abs(scorer.score_crops(crops) - logits).max() < 1e-4
    assert np.abs(scorer.attention_maps(crops) - maps).max() < 1e-4
    with pytest.raises(ValueError, match="backend='tvm' is not one of torch, onnx"):
        use_backend(scorer, "tvm")
    with pytest.raises(ValueError, match="use precision=fp32 or auto"):
        use_backend(scorer, "onnx", precision="bf16")
