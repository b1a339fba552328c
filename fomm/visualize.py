"""Image grids of what FOMM sees and makes: keypoints, warped source, occlusion, prediction."""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor


@functools.lru_cache(maxsize=8)
def keypoint_colors(num_kp: int) -> Tensor:
    """(K, 3) RGB colours from the ``gist_rainbow`` map, as the original visualiser draws."""
    from matplotlib import colormaps

    cmap = colormaps["gist_rainbow"]
    return torch.tensor([cmap(i / num_kp)[:3] for i in range(num_kp)], dtype=torch.float32)


def draw_keypoints(images: Tensor, kp_value: Tensor, radius: float | None = None) -> Tensor:
    """Paint each keypoint as a coloured disc.

    Args:
        images: (B, 3, H, W) in [0, 1].
        kp_value: (B, K, 2) keypoints (x, y) in [-1, 1].
        radius: disc radius in pixels; default ``max(1, W / 64)``.

    Returns:
        A new (B, 3, H, W) tensor.
    """
    images = images.detach().float().clone()
    batch, _, height, width = images.shape
    radius = radius if radius is not None else max(1.0, width / 64)
    pixels = (
        (kp_value.detach().float() + 1)
        / 2
        * torch.tensor([width - 1, height - 1], device=kp_value.device, dtype=torch.float32)
    )
    ys = torch.arange(height, device=images.device, dtype=torch.float32).view(1, 1, height, 1)
    xs = torch.arange(width, device=images.device, dtype=torch.float32).view(1, 1, 1, width)
    px = pixels[..., 0].view(batch, -1, 1, 1).to(images.device)
    py = pixels[..., 1].view(batch, -1, 1, 1).to(images.device)
    discs = (xs - px) ** 2 + (ys - py) ** 2 <= radius**2  # (B, K, H, W)
    colors = keypoint_colors(kp_value.shape[1]).to(images.device)
    for k in range(kp_value.shape[1]):
        mask = discs[:, k : k + 1]
        images = torch.where(mask, colors[k].view(1, 3, 1, 1), images)
    return images


def points_of(kp: dict[str, Tensor]) -> Tensor:
    """The points of FOMM keypoints (``value``) or of TPSMM control points (``fg_kp``)."""
    return kp["value"] if "value" in kp else kp["fg_kp"]


def animation_grid(
    source: Tensor,
    driving: Tensor,
    generated: dict[str, Tensor],
    kp_source: dict[str, Tensor],
    kp_driving: dict[str, Tensor],
    max_items: int = 4,
) -> Tensor:
    """Rows of source, driving (with keypoints), deformed source, occlusion, prediction.

    The points are FOMM's keypoints (``value``) or TPSMM's control points (``fg_kp``).

    Returns:
        (3, rows * H, columns * W) float tensor in [0, 1] on the CPU.
    """
    count = min(max_items, driving.shape[0])
    size = driving.shape[2:]

    def expand(t: Tensor) -> Tensor:
        return t[:count] if t.shape[0] >= count else t.expand(count, *t.shape[1:])

    columns = [
        draw_keypoints(expand(source), expand(points_of(kp_source))),
        draw_keypoints(driving[:count], points_of(kp_driving)[:count]),
    ]
    if "deformed" in generated:
        columns.append(generated["deformed"][:count])
    if "occlusion_map" in generated:
        occlusion = F.interpolate(generated["occlusion_map"][:count].float(), size=size)
        columns.append(occlusion.expand(-1, 3, -1, -1))
    columns.append(generated["prediction"][:count])
    columns = [c.detach().float().cpu().clamp(0, 1) for c in columns]
    rows = torch.cat(columns, dim=3)  # (count, 3, H, columns * W)
    return torch.cat(list(rows), dim=1)
