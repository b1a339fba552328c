"""The MTCNN face-detection cascade, batched and vectorised, on facenet-pytorch's networks.

MTCNN (Zhang et al., 2016) runs three small networks: PNet scans an image pyramid for
face candidates, RNet and ONet re-score 24x24 and 48x48 crops of the survivors, refine
their boxes and (ONet) place five landmarks. We use the trained PNet/RNet/ONet that ship
inside the facenet-pytorch wheel (no download), and reimplement the glue around them:
facenet-pytorch crops each candidate in a Python loop with ``adaptive_avg_pool2d``,
which dominates its run time on CPU (about 80% on 32 video frames); here the pyramid is
built with OpenCV, each level shrunk from the previous one, candidates are cropped from the
uint8 frames with OpenCV, and the networks run channels-last (and RNet/ONet in bf16 where
that is fast).

The arithmetic (pyramid scales, box generation, regression, squaring, NMS thresholds,
the "Min" overlap of the last NMS) follows facenet-pytorch, so boxes and scores agree
with ``facenet_pytorch.MTCNN.detect`` to within a pixel or two; one deliberate change is
that crops reaching past the image border are zero-padded (as in the original MTCNN)
instead of squeezed into the visible part.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torchvision.ops import batched_nms

from datamodules.training.precision import bf16_is_fast

_PNET_STRIDE = 2
_PNET_CELL = 12


@dataclass
class CascadeOutput:
    """Detections of one image, in the pixel coordinates of the image given to the cascade.

    Attributes:
        boxes: ``(K, 4)`` float32, left, top, right, bottom.
        scores: ``(K,)`` float32 ONet face probabilities.
        landmarks: ``(K, 5, 2)`` float32 (x, y): the eye on the image's left, the other
            eye, the nose tip, the mouth corner on the image's left, the other corner.
    """

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray


def _load_networks(device: torch.device) -> tuple[torch.nn.Module, ...]:
    """Build PNet, RNet and ONet with the weights bundled in facenet-pytorch."""
    try:
        from facenet_pytorch.models.mtcnn import ONet, PNet, RNet
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "MTCNN needs facenet-pytorch: `pip install --no-deps facenet-pytorch==2.6.0` "
            "(or `make install`), or choose the dependency-free detector=haar."
        ) from error
    # channels_last halves the CPU time of these nets: max_pool2d with ceil_mode is
    # several times faster on that layout.
    return tuple(
        net().to(device).eval().to(memory_format=torch.channels_last) for net in (PNet, RNet, ONet)
    )


def _square(boxes: torch.Tensor) -> torch.Tensor:
    """Grow each box to a square around its centre (MTCNN's ``rerec``)."""
    width = boxes[:, 2] - boxes[:, 0]
    height = boxes[:, 3] - boxes[:, 1]
    side = torch.maximum(width, height)
    left = boxes[:, 0] + 0.5 * (width - side)
    top = boxes[:, 1] + 0.5 * (height - side)
    return torch.stack([left, top, left + side, top + side], dim=1)


def _regress(boxes: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Apply the refinement offsets an RNet/ONet predicts (fractions of the box size)."""
    width = boxes[:, 2] - boxes[:, 0] + 1
    height = boxes[:, 3] - boxes[:, 1] + 1
    scale = torch.stack([width, height, width, height], dim=1)
    return boxes + offsets * scale


def _nms_min(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Greedy NMS where overlap is intersection over the smaller box (MTCNN's "Min").

    Why: it removes a small box nested inside a bigger one (a detection of the mouth
    region inside the face), which intersection-over-union keeps.
    """
    area = (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)
    order = np.argsort(scores)[::-1]
    keep: list[int] = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        inter_w = np.maximum(
            0.0,
            np.minimum(boxes[best, 2], boxes[rest, 2])
            - np.maximum(boxes[best, 0], boxes[rest, 0])
            + 1,
        )
        inter_h = np.maximum(
            0.0,
            np.minimum(boxes[best, 3], boxes[rest, 3])
            - np.maximum(boxes[best, 1], boxes[rest, 1])
            + 1,
        )
        overlap = inter_w * inter_h / np.minimum(area[best], area[rest])
        order = rest[overlap <= threshold]
    return np.asarray(keep, dtype=np.int64)


class MTCNNCascade:
    """Run MTCNN on a batch of same-sized RGB images.

    Args:
        device: where the three networks run.
        min_face_size: the smallest face searched for, in pixels of the given images;
            smaller values add pyramid levels (slower) and false positives.
        thresholds: PNet, RNet, ONet score thresholds.
        pyramid_factor: scale step between pyramid levels.
        refine_precision: ``fp32``, ``bf16`` or ``auto`` (bf16 where :func:`bf16_is_fast`)
            for RNet and ONet, which score hundreds of crops per batch: bf16 makes
            ONet about 4x faster on AMX CPUs and moves probabilities by at most ~0.02.
            PNet always runs in fp32 (bf16 is slower for its thin layers).
    """

    def __init__(
        self,
        device: str | torch.device = "cpu",
        min_face_size: float = 20.0,
        thresholds: Sequence[float] = (0.6, 0.7, 0.7),
        pyramid_factor: float = 0.709,
        refine_precision: str = "auto",
    ) -> None:
        if refine_precision not in {"fp32", "bf16", "auto"}:
            raise ValueError(f"refine_precision must be fp32, bf16 or auto, got {refine_precision}")
        if len(thresholds) != 3:
            raise ValueError(f"MTCNN needs three thresholds (PNet, RNet, ONet), got {thresholds}")
        if not 0.0 < pyramid_factor < 1.0:
            raise ValueError(f"pyramid_factor must be in (0, 1), got {pyramid_factor}")
        if min_face_size < 12:
            raise ValueError(f"min_face_size must be at least 12 pixels, got {min_face_size}")
        self.device = torch.device(device)
        self.min_face_size = float(min_face_size)
        self.thresholds = tuple(float(t) for t in thresholds)
        self.pyramid_factor = float(pyramid_factor)
        self.pnet, self.rnet, self.onet = _load_networks(self.device)
        use_bf16 = refine_precision == "bf16" or (
            refine_precision == "auto" and bf16_is_fast(self.device)
        )
        self.refine_dtype = torch.bfloat16 if use_bf16 else torch.float32

    def _refine(self, net: torch.nn.Module, crops: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Run RNet or ONet at the refinement precision; outputs come back as fp32."""
        if self.refine_dtype == torch.float32:
            context = contextlib.nullcontext()
        else:
            context = torch.autocast(self.device.type, dtype=self.refine_dtype)
        with context:
            outputs = net(crops)
        return tuple(output.float() for output in outputs)

    def _scales(self, height: int, width: int) -> list[float]:
        scale = _PNET_CELL / self.min_face_size
        shortest = min(height, width) * scale
        scales = []
        while shortest >= _PNET_CELL:
            scales.append(scale)
            scale *= self.pyramid_factor
            shortest *= self.pyramid_factor
        return scales

    @staticmethod
    def _normalise(images: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
        # (N, H, W, 3) permuted to (N, 3, H, W) is already channels_last in memory.
        tensor = torch.as_tensor(images, device=device).permute(0, 3, 1, 2).float()
        return ((tensor - 127.5) * 0.0078125).contiguous(memory_format=torch.channels_last)

    def _propose(self, images: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Stage 1: PNet over the pyramid; returns squared boxes ``(K, 5)`` and image ids."""
        count, height, width = images.shape[:3]
        all_boxes, all_ids = [], []
        level = images
        for scale in self._scales(height, width):
            size = (int(width * scale + 1), int(height * scale + 1))
            # Each level is shrunk from the previous one: the pyramid costs about two
            # resizes of its first level instead of one full-image resize per level.
            level = np.stack([cv2.resize(im, size, interpolation=cv2.INTER_AREA) for im in level])
            offsets, probs = self.pnet(self._normalise(level, self.device))
            face_prob = probs[:, 1]
            image_ids, ys, xs = torch.nonzero(face_prob >= self.thresholds[0], as_tuple=True)
            if image_ids.numel() == 0:
                continue
            cells = torch.stack([xs, ys], dim=1).float()
            top_left = torch.floor((_PNET_STRIDE * cells + 1) / scale)
            bottom_right = torch.floor((_PNET_STRIDE * cells + _PNET_CELL) / scale)
            scores = face_prob[image_ids, ys, xs]
            regression = offsets[image_ids, :, ys, xs]
            boxes = torch.cat([top_left, bottom_right], dim=1)
            keep = batched_nms(boxes, scores, image_ids, 0.5)
            box_w = (boxes[keep, 2] - boxes[keep, 0]).unsqueeze(1)
            box_h = (boxes[keep, 3] - boxes[keep, 1]).unsqueeze(1)
            refined = boxes[keep] + regression[keep] * torch.cat([box_w, box_h] * 2, dim=1)
            all_boxes.append(torch.cat([boxes[keep], scores[keep, None], refined], dim=1))
            all_ids.append(image_ids[keep])
        if not all_boxes:
            return torch.zeros(0, 5, device=self.device), torch.zeros(0, dtype=torch.long)
        boxes = torch.cat(all_boxes)
        image_ids = torch.cat(all_ids)
        keep = batched_nms(boxes[:, :4], boxes[:, 4], image_ids, 0.7)
        boxes, image_ids = boxes[keep], image_ids[keep]
        squared = _square(boxes[:, 5:9])
        return torch.cat([squared, boxes[:, 4:5]], dim=1), image_ids

    def _crops(
        self, images: np.ndarray, boxes: torch.Tensor, image_ids: torch.Tensor, size: int
    ) -> torch.Tensor:
        """Cut every box out of its uint8 image and area-resize it to ``size``.

        Pixels outside the image are black, as in the original MTCNN. OpenCV per box is
        much faster on CPU than ``roi_align`` over the float batch (which reads the whole
        batch tensor) or facenet-pytorch's ``adaptive_avg_pool2d`` per box.
        """
        height, width = images.shape[1:3]
        corners = boxes[:, :4].cpu().numpy()
        ids = image_ids.cpu().numpy()
        out = np.zeros((len(corners), size, size, 3), np.uint8)
        for k, ((x1, y1, x2, y2), index) in enumerate(zip(corners, ids, strict=True)):
            left, top, right, bottom = int(x1) - 1, int(y1) - 1, int(x2), int(y2)
            if right <= left or bottom <= top:
                continue
            inside = images[
                index, max(top, 0) : min(bottom, height), max(left, 0) : min(right, width)
            ]
            if inside.shape[:2] != (bottom - top, right - left):
                padded = np.zeros((bottom - top, right - left, 3), np.uint8)
                if inside.size:
                    row, col = max(top, 0) - top, max(left, 0) - left
                    padded[row : row + inside.shape[0], col : col + inside.shape[1]] = inside
                inside = padded
            out[k] = cv2.resize(inside, (size, size), interpolation=cv2.INTER_AREA)
        return self._normalise(out, self.device)

    @torch.inference_mode()
    def __call__(self, images: np.ndarray) -> list[CascadeOutput]:
        """Detect faces in ``(N, H, W, 3)`` uint8 RGB images of one size."""
        images = np.ascontiguousarray(images)
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"expected (N, H, W, 3) RGB images, got shape {images.shape}")
        count = len(images)
        empty = CascadeOutput(
            np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32)
        )
        boxes, image_ids = self._propose(images)
        if boxes.shape[0] == 0:
            return [empty for _ in range(count)]

        offsets, probs = self._refine(self.rnet, self._crops(images, boxes, image_ids, 24))
        keep = probs[:, 1] > self.thresholds[1]
        boxes = torch.cat([boxes[keep, :4], probs[keep, 1:2]], dim=1)
        image_ids, offsets = image_ids[keep], offsets[keep]
        keep = batched_nms(boxes[:, :4], boxes[:, 4], image_ids, 0.7)
        boxes, image_ids, offsets = boxes[keep], image_ids[keep], offsets[keep]
        boxes = torch.cat([_square(_regress(boxes[:, :4], offsets)), boxes[:, 4:5]], dim=1)
        if boxes.shape[0] == 0:
            return [empty for _ in range(count)]

        offsets, points, probs = self._refine(self.onet, self._crops(images, boxes, image_ids, 48))
        keep = probs[:, 1] > self.thresholds[2]
        boxes, points, offsets = boxes[keep], points[keep], offsets[keep]
        image_ids, scores = image_ids[keep], probs[keep, 1]
        width = (boxes[:, 2] - boxes[:, 0] + 1)[:, None]
        height = (boxes[:, 3] - boxes[:, 1] + 1)[:, None]
        xs = width * points[:, :5] + boxes[:, 0:1] - 1
        ys = height * points[:, 5:] + boxes[:, 1:2] - 1
        landmarks = torch.stack([xs, ys], dim=2)
        boxes = _regress(boxes[:, :4], offsets)

        boxes_np = boxes.cpu().numpy().astype(np.float32)
        scores_np = scores.cpu().numpy().astype(np.float32)
        landmarks_np = landmarks.cpu().numpy().astype(np.float32)
        ids_np = image_ids.cpu().numpy()
        outputs = []
        for index in range(count):
            mine = np.flatnonzero(ids_np == index)
            kept = mine[_nms_min(boxes_np[mine], scores_np[mine], 0.7)] if mine.size else mine
            outputs.append(CascadeOutput(boxes_np[kept], scores_np[kept], landmarks_np[kept]))
        return outputs
