"""Animation via disentanglement (AVD): identity from the source, pose from the driving frame."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from fomm.tpsmm.nets.tps import POINTS_PER_TPS

_HIDDEN = (256, 512, 1024)


def _mlp(sizes: list[int], inplace: bool) -> nn.Sequential:
    """Linear, BatchNorm1d, ReLU per hidden layer, then a Linear (the original's indices)."""
    layers: list[nn.Module] = []
    for i, (width_in, width_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(width_in, width_out))
        if i < len(sizes) - 2:
            layers += [nn.BatchNorm1d(width_out), nn.ReLU(inplace=inplace)]
    return nn.Sequential(*layers)


class AVDNetwork(nn.Module):
    """Map (source, driving) control points to new driving points that keep the source's shape.

    Why: relative motion transfer assumes the driving frame 0 is in the source's pose;
    AVD instead encodes the source's points into an identity code and the driving frame's
    into a pose code, and decodes points with the source's identity in the driving pose.
    It is trained afterwards, on a frozen model, to undo random rescalings of the driving
    points (:mod:`fomm.tpsmm.losses.avd`).

    Args:
        num_tps: number of TPS transforms K (the points are 5K x 2 numbers).
        id_bottle_size: identity code size.
        pose_bottle_size: pose code size.
    """

    def __init__(self, num_tps: int, id_bottle_size: int = 64, pose_bottle_size: int = 64) -> None:
        super().__init__()
        self.num_tps = num_tps
        size = num_tps * POINTS_PER_TPS * 2
        self.id_encoder = _mlp([size, *_HIDDEN, id_bottle_size], inplace=True)
        self.pose_encoder = _mlp([size, *_HIDDEN, pose_bottle_size], inplace=True)
        self.decoder = _mlp(
            [pose_bottle_size + id_bottle_size, *_HIDDEN[::-1], size], inplace=False
        )

    def forward(
        self, kp_source: dict[str, Tensor], kp_driving: dict[str, Tensor]
    ) -> dict[str, Tensor]:
        """New driving control points.

        Args:
            kp_source: ``fg_kp`` (B or 1, 5K, 2) of the source (the identity).
            kp_driving: ``fg_kp`` (B, 5K, 2) of the driving frames (the pose).

        Returns:
            ``fg_kp``: (B, 5K, 2).
        """
        driving = kp_driving["fg_kp"]
        batch = driving.shape[0]
        source = kp_source["fg_kp"].expand(batch, *kp_source["fg_kp"].shape[1:])
        pose = self.pose_encoder(driving.reshape(batch, -1))
        identity = self.id_encoder(source.reshape(batch, -1))
        points = self.decoder(torch.cat([pose, identity], dim=1))
        return {"fg_kp": points.view(batch, self.num_tps * POINTS_PER_TPS, 2)}
