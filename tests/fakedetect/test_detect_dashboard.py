"""The detector's dashboard: ROC curves, score histograms and attention overlays, read back."""

import cv2
import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from fakedetect.dashboard import DetectionPlots, histogram_figure, roc_figure
from fakedetect.module import BinaryDetectorModule
from fakedetect.nets import EfficientNetAutoAttB4, EfficientNetB4

ADAM = {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 1e-3}
SIZE = 32


class Faces(Dataset):
    """Six videos of two faces each, three real and three fake."""

    def __len__(self):
        return 12

    def __getitem__(self, index):
        generator = torch.Generator().manual_seed(index)
        video = index // 2
        return {
            "image": torch.randn(3, SIZE, SIZE, generator=generator),
            "label": torch.tensor(float(video % 2)),
            "video": f"v{video}",
            "frame": torch.tensor(index % 2),
        }


def validate(net_class, tmp_path, **plots):
    torch.manual_seed(0)
    net = net_class(backbone="test_efficientnet", pretrained=False)
    module = BinaryDetectorModule(net, ADAM)
    trainer = pl.Trainer(
        accelerator="cpu",
        logger=pl.loggers.CSVLogger(tmp_path, name="csv", version=""),
        callbacks=[DetectionPlots(**plots)],
        default_root_dir=tmp_path,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.validate(module, DataLoader(Faces(), batch_size=4))
    return module


def test_an_attention_detector_logs_roc_histograms_and_overlays(tmp_path):
    module = validate(EfficientNetAutoAttB4, tmp_path, faces_per_class=3, tile=40)
    images = tmp_path / "images"
    names = sorted(path.name for path in images.glob("*.png"))
    assert names == [
        "val_attention_step0000000.png",
        "val_roc_step0000000.png",
        "val_score_histogram_step0000000.png",
    ]
    overlay = cv2.imread(str(images / names[0]))
    # One row per class, each face beside its heat map (40 px) over a 22 px caption.
    assert overlay.shape == (2 * (40 + 22), 3 * 2 * 40, 3)
    # The heat map half differs from the face it is drawn over.
    face, heat = overlay[:40, :40].astype(int), overlay[:40, 40:80].astype(int)
    assert abs(face - heat).mean() > 5
    roc = cv2.imread(str(images / names[1]))
    assert roc.std() > 10  # a drawn plot, not a blank canvas
    assert module.latest_scores["val"]["frames"]["logit"].numel() == 12


def test_a_plain_detector_gets_no_overlay(tmp_path):
    validate(EfficientNetB4, tmp_path)
    assert {p.name.split("_step")[0] for p in (tmp_path / "images").glob("*.png")} == {
        "val_roc",
        "val_score_histogram",
    }


def test_plots_need_both_classes_for_a_roc_but_not_for_histograms():
    one_class = {"frame": {"logit": torch.tensor([0.5, -1.0]), "label": torch.tensor([1.0, 1.0])}}
    assert roc_figure(one_class) is None
    figure = histogram_figure(one_class, bins=10)
    (axes,) = figure.axes
    heights = [patch.get_height() for patch in axes.patches]
    assert sum(heights) == 2  # both fake frames counted, none as real


def test_bad_settings_are_refused_with_their_names():
    with pytest.raises(ValueError, match="faces_per_class >= 0"):
        DetectionPlots(faces_per_class=-1)
