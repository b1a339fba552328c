"""The occlusion study's measures of a map, and of TPSMM's multi-resolution masks.

FOMM has one occlusion map; TPSMM predicts one mask per inpainting level (coarse to
fine: 1/8, 1/4, 1/2 and the full frame side), each gating the warped source features at
its resolution, and only the finest blends the output. Measuring the finest alone would
treat TPSMM as an FOMM and miss what the coarser masks mark, so a TPSMM's frames also get
every level's two measures and those of the levels' mean, each mask resized to the
finest (``combined``). Each measure is then scored the same way (mean, correlation with
the error and, where the truth is known, with the covered face share): the per-measure
table that puts FOMM's one map and TPSMM's masks side by side.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor

from loop.studies.occlusion_truth import MEASURES as BASE_MEASURES
from loop.studies.occlusion_truth import measure_truth_scores
from loop.studies.report import correlations

# BASE_MEASURES, the two measures of one map: the share of pixels below the threshold,
# and one minus the map's mean (soft). Without a suffix they measure the map that blends
# the output; with one (``_level<k>``, ``_combined``), a TPSMM's other masks.
COMBINED = "combined"
MEASURE_COLUMNS = [
    "measure", "mask", "kind", "frames", "mean", "pearson_l1", "spearman_l1",
    "pearson_true", "auc_true", "mean_covered", "mean_clean",
]  # fmt: skip


def mask_names(levels: int) -> list[str]:
    """The masks measured besides the output's: ``level<k>`` (0: coarsest) and ``combined``.

    None for a model with one map (FOMM, a single-mask TPSMM): its one map is the output's.
    """
    if levels <= 1:
        return []
    return [f"level{k}" for k in range(levels)] + [COMBINED]


def level_columns(levels: int) -> list[str]:
    """The per-frame columns of a model with ``levels`` masks: ``<measure>_<mask>``."""
    return [f"{measure}_{mask}" for mask in mask_names(levels) for measure in BASE_MEASURES]


def map_measures(maps: Tensor, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """``(occluded_fraction, occlusion_mean)`` of each frame's ``(T, 1, h, w)`` map."""
    maps = maps.float()
    occluded = (maps < threshold).float().mean(dim=(1, 2, 3))
    soft = 1 - maps.mean(dim=(1, 2, 3))
    return occluded.numpy(), soft.numpy()


def combined_map(levels: Sequence[Tensor]) -> Tensor:
    """The mean of the masks, each resized to the finest one's size.

    Bilinear with aligned corners, as TPSMM's inpainting network resizes a mask.
    """
    size = levels[-1].shape[-2:]
    resized = [
        mask
        if mask.shape[-2:] == size
        else F.interpolate(mask.float(), size=size, mode="bilinear", align_corners=True)
        for mask in levels
    ]
    return torch.stack([mask.float() for mask in resized]).mean(dim=0)


def level_measures(levels: Sequence[Tensor], threshold: float) -> dict[str, np.ndarray]:
    """Every level's measures and the combined mask's, per frame (empty for one map).

    Args:
        levels: ``(T, 1, h_l, w_l)`` masks, coarse to fine.
        threshold: mask values below this count as occluded.

    Returns:
        ``<measure>_<mask>`` -> ``(T,)`` values, the columns :func:`level_columns` names.
    """
    if len(levels) <= 1:
        return {}
    maps = dict(zip(mask_names(len(levels)), [*levels, combined_map(levels)], strict=True))
    values = {}
    for mask, mask_maps in maps.items():
        occluded, soft = map_measures(mask_maps, threshold)
        values[f"occluded_fraction_{mask}"] = occluded
        values[f"occlusion_mean_{mask}"] = soft
    return values


def table_measures(table: pd.DataFrame) -> list[str]:
    """The occlusion measures a per-frame table holds: the output map's, then any masks'."""
    return [
        column
        for column in table.columns
        if column in BASE_MEASURES or column.startswith(tuple(f"{m}_" for m in BASE_MEASURES))
    ]


def measure_table(table: pd.DataFrame, covered_threshold: float | None) -> pd.DataFrame:
    """One row per occlusion measure of the per-frame table, each scored the same way.

    Args:
        table: the study's per-frame table (``l1``, ``face_covered`` and the measures).
        covered_threshold: frames with at least this share of the face covered count as
            occluded; None when the truth is unknown (its columns are then NaN).

    Returns:
        :data:`MEASURE_COLUMNS`: the measure, its ``mask`` (``output``: FOMM's map or
        TPSMM's finest; ``level<k>``; ``combined``), ``kind`` (``occluded_fraction``, hard;
        ``occlusion_mean``, soft), the frames, the mean occluded share, its Pearson and
        Spearman correlations with the L1, and against the truth its Pearson correlation
        with the covered share, the AUC of telling covered frames from clean ones and its
        means on each kind.
    """
    rows = []
    for measure in table_measures(table):
        kind = next(m for m in BASE_MEASURES if measure.startswith(m))
        error = correlations(table[measure], table["l1"])
        truth = dict.fromkeys(("pearson_true", "auc_true", "covered", "clean"), math.nan)
        if covered_threshold is not None and np.isfinite(table["face_covered"]).any():
            truth = measure_truth_scores(table, measure, covered_threshold)
        rows.append(
            {
                "measure": measure,
                "mask": measure.removeprefix(kind).removeprefix("_") or "output",
                "kind": kind,
                "frames": int(np.isfinite(table[measure]).sum()),
                "mean": float(table[measure].mean()),
                "pearson_l1": error["pearson"],
                "spearman_l1": error["spearman"],
                "pearson_true": truth["pearson_true"],
                "auc_true": truth["auc_true"],
                "mean_covered": truth["covered"],
                "mean_clean": truth["clean"],
            }
        )
    return pd.DataFrame(rows, columns=MEASURE_COLUMNS)
