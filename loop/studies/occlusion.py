"""Occlusion: does FOMM err where its occlusion map says the source cannot be warped?

The generator's occlusion map (paper, Sec. 3.2) is 1 where the warped source is used
and 0 where the generator must inpaint. For every frame of every video, reconstructed
from frame 0 with absolute keypoints (the paper's protocol), this study relates the
share of the map marked occluded to the reconstruction L1: a scatter with a least-squares
line, Pearson and Spearman correlations, and means over bins of the occluded share.

Two occlusion measures: ``occluded_fraction``, the share of map pixels below
``occlusion_threshold`` (what :mod:`fomm.reconstruction` reports), and
``occlusion_mean``, one minus the map's mean (soft; it moves even when no pixel crosses
the threshold). Large head motion raises both occlusion and error, so the correlation
is also given with the motion (mean keypoint displacement from the source) partialled
out.

A TPSMM's multi-resolution masks are all measured: its frames also get each level's two
measures (``<measure>_level<k>``, 0 the coarsest) and those of the levels' mean resized
to the finest (``<measure>_combined``); the two plain measures are of its finest mask,
the one that blends the output (:mod:`loop.studies.occlusion_measures`). Every measure,
FOMM's two and a TPSMM's ten, is scored the same way in ``occlusion_measures.csv`` (and
``summary.json``'s ``measures``), the table the loop compares the two models by.

Where the truth is known (``events_csv``: the embedded dataset's
``occlusion_events.csv``, in which a hand or an object crosses the face in a share of
the videos), each frame also gets ``face_covered``, the share of the face really hidden,
and the summary says how well each measure finds those frames
(:mod:`loop.studies.occlusion_truth`).
"""

from __future__ import annotations

import heapq
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from pytorch_lightning.loggers import Logger

from datamodules.command_errors import InputError
from fomm.animators import occlusion_mask_levels
from fomm.reconstruction import reconstruct
from loop.studies.inputs import eval_mode, to_tensor, to_uint8
from loop.studies.occlusion_measures import (
    BASE_MEASURES,
    COMBINED,
    level_columns,
    level_measures,
    map_measures,
    measure_table,
    table_measures,
)
from loop.studies.occlusion_truth import OcclusionTruth, truth_results
from loop.studies.options import StudyOptions
from loop.studies.report import (
    StudyReport,
    StudyResult,
    binned_means,
    correlations,
    new_figure,
)

log = logging.getLogger(__name__)

STUDY = "occlusion"
COLUMNS = [
    "video", "frame", "l1", "occluded_fraction", "occlusion_mean", "motion", "face_covered",
]  # fmt: skip


@dataclass(order=True)
class _Example:
    soft: float
    occluded: float = field(compare=False)
    key: str = field(compare=False)
    panels: list[np.ndarray] = field(compare=False)


def partial_correlation(x: np.ndarray, y: np.ndarray, control: np.ndarray) -> float:
    """Pearson correlation of ``x`` and ``y`` after regressing ``control`` out of both."""
    keep = np.isfinite(x) & np.isfinite(y) & np.isfinite(control)
    x, y, control = x[keep], y[keep], control[keep]
    if len(x) < 4 or np.ptp(control) == 0:
        return math.nan
    design = np.stack([control, np.ones_like(control)], axis=1)
    residual_x = x - design @ np.linalg.lstsq(design, x, rcond=None)[0]
    residual_y = y - design @ np.linalg.lstsq(design, y, rcond=None)[0]
    if np.ptp(residual_x) == 0 or np.ptp(residual_y) == 0:
        return math.nan
    return float(np.corrcoef(residual_x, residual_y)[0, 1])


def occlusion_study(
    networks: torch.nn.Module,
    options: StudyOptions,
    occlusion_threshold: float = 0.5,
    num_bins: int = 5,
    num_examples: int = 4,
    events_csv: str | None = None,
    covered_threshold: float = 0.1,
    loggers: Sequence[Logger] = (),
) -> StudyResult:
    """Relate each frame's occluded share to its reconstruction error.

    Args:
        networks: an FOMM model with an occlusion map, or a TPSMM (every mask of its
            multi-resolution masks is measured); put in eval mode for the study and
            restored after.
        options: the videos, frame reading and output folder every study shares.
        occlusion_threshold: map values below this count as occluded.
        num_bins: bins (equal counts) of the occluded share for ``occlusion_summary.csv``.
        num_examples: the most occluded frames drawn in ``occlusion_examples.png``.
        events_csv: the true occlusions of the videos (the embedded dataset's
            ``occlusion_events.csv``); None: not known.
        covered_threshold: with ``events_csv``, frames with at least this share of the
            face covered count as occluded.
        loggers: Lightning loggers for the per-bin numbers, the table and the plots.

    Returns:
        The per-frame table and the summary.

    Raises:
        InputError: no videos, a model without an occlusion map, or other settings than
            an earlier table's in ``output_dir``.
    """
    if not 0 < occlusion_threshold <= 1:
        raise InputError(f"occlusion_threshold={occlusion_threshold} must be in (0, 1]")
    truth = OcclusionTruth(events_csv, covered_threshold) if events_csv else None
    table = options.video_table()
    if truth is not None and not any(truth.knows(video) for video in table["video"]):
        raise InputError(
            f"none of the studied videos is in {events_csv}: give the events table of the "
            "dataset the videos come from, or no study.events_csv"
        )
    side = options.frame_side(networks, table)
    parameters = {
        "occlusion_threshold": occlusion_threshold,
        "events_csv": str(events_csv) if events_csv else None,
        "covered_threshold": covered_threshold,
        "max_frames": options.max_frames,
        "size": side,
        "fit": options.fit,
    }
    levels = occlusion_mask_levels(networks)
    columns = COLUMNS + level_columns(levels)
    if levels > 1:  # a table of another model's columns is refused on a rerun
        parameters["occlusion_levels"] = levels
    report = options.open_report(STUDY, parameters, columns, "video", ("video",))
    examples: list[_Example] = []
    mask_sizes: list[list[int]] = []
    with eval_mode(networks):
        for row in options.pending(report, table):
            try:
                frames = options.read_frames(row["path"], side).frames
            except InputError as error:
                report.skip(row["video"], str(error))
                continue
            result = reconstruct(
                networks,
                to_tensor(frames),
                batch_size=options.batch_size,
                return_occlusion_maps=True,
                return_occlusion_levels=levels > 1,
            )
            if result.occlusion_maps is None:
                raise InputError(
                    "this FOMM model estimates no occlusion map (generator_params."
                    "estimate_occlusion_map is false): nothing to study"
                )
            maps = result.occlusion_maps[:, 0].numpy()
            occluded, soft = map_measures(result.occlusion_maps, occlusion_threshold)
            motion = np.linalg.norm(result.kp_driving - result.kp_source[None], axis=-1).mean(1)
            by_mask = level_measures(result.occlusion_levels or [], occlusion_threshold)
            mask_sizes = [list(level.shape[-2:]) for level in result.occlusion_levels or []]
            report.add(
                [
                    {
                        "video": row["video"],
                        "frame": index,
                        "l1": float(result.l1[index]),
                        "occluded_fraction": float(occluded[index]),
                        "occlusion_mean": float(soft[index]),
                        "motion": float(motion[index] * side / 2),
                        "face_covered": (
                            truth.face_covered(row["video"], index) if truth else math.nan
                        ),
                        **{column: float(values[index]) for column, values in by_mask.items()},
                    }
                    for index in range(len(frames))
                ]
            )
            _keep_examples(
                examples, row["video"], frames, result.prediction, maps, occluded, num_examples
            )
    return _finish(report, examples, num_bins, loggers, truth, mask_sizes if levels > 1 else [])


def _keep_examples(
    examples: list[_Example],
    video: str,
    frames: np.ndarray,
    prediction: torch.Tensor,
    maps: np.ndarray,
    occluded: np.ndarray,
    count: int,
) -> None:
    """Keep the ``count`` most occluded frames (by the soft measure) seen so far."""
    if count <= 0:
        return
    generated = to_uint8(prediction)
    soft = 1 - maps.mean(axis=(1, 2))
    for index in np.argsort(-soft)[:count]:
        panels = [frames[0], frames[index], generated[index], maps[index]]
        item = _Example(
            float(soft[index]), float(occluded[index]), f"{video} frame {index}", panels
        )
        if len(examples) < count:
            heapq.heappush(examples, item)
        else:
            heapq.heappushpop(examples, item)


def _finish(
    report: StudyReport,
    examples: list[_Example],
    num_bins: int,
    loggers: Sequence[Logger],
    truth: OcclusionTruth | None,
    mask_sizes: list[list[int]],
) -> StudyResult:
    table = report.table
    if table.empty:
        raise InputError(
            f"occlusion study: no video could be studied ({len(report.skipped)} skipped)"
        )
    for column in report.columns[1:]:
        table[column] = pd.to_numeric(table[column], errors="coerce")
    measures = table_measures(table)
    combined = [f"{m}_{COMBINED}" for m in BASE_MEASURES if f"{m}_{COMBINED}" in table]
    bins = []
    for measure in measures:
        binned = binned_means(
            table[measure], {"l1": table["l1"], "motion": table["motion"]}, num_bins
        )
        binned.insert(0, "measure", measure)
        bins.append(binned)
    by_setting = pd.concat(bins, ignore_index=True).rename(
        columns={"x_low": "occlusion_low", "x_high": "occlusion_high", "x_mean": "occlusion"}
    )
    frame_level = correlations(table["occluded_fraction"], table["l1"])
    soft = correlations(table["occlusion_mean"], table["l1"])
    per_video = table.groupby("video")[["occluded_fraction", "occlusion_mean", "l1"]].mean()
    video_level = correlations(per_video["occlusion_mean"], per_video["l1"])
    controlled = partial_correlation(
        table["occlusion_mean"].to_numpy(), table["l1"].to_numpy(), table["motion"].to_numpy()
    )
    results = {
        "frames": len(table),
        "occluded_fraction_mean": table["occluded_fraction"].mean(),
        "occlusion_mean": table["occlusion_mean"].mean(),
        "l1_mean": table["l1"].mean(),
        "pearson_occluded_l1": frame_level["pearson"],
        "spearman_occluded_l1": frame_level["spearman"],
        "slope_occluded_l1": frame_level["slope"],
        "pearson_soft_l1": soft["pearson"],
        "spearman_soft_l1": soft["spearman"],
        "pearson_soft_l1_given_motion": controlled,
        "spearman_soft_l1_videos": video_level["spearman"],
    }
    if combined:  # a TPSMM's multi-resolution masks: their mean's headline numbers
        soft_combined = correlations(table[f"occlusion_mean_{COMBINED}"], table["l1"])
        results[f"occlusion_mean_{COMBINED}"] = table[f"occlusion_mean_{COMBINED}"].mean()
        results[f"spearman_occlusion_mean_{COMBINED}_l1"] = soft_combined["spearman"]
    constant = "the occluded share is the same in every frame (no pixel crosses the threshold?)"
    reasons = {
        "pearson_occluded_l1": constant,
        "spearman_occluded_l1": constant,
        "slope_occluded_l1": constant,
        "pearson_soft_l1": "the occlusion map is constant",
        "spearman_soft_l1": "the occlusion map is constant",
        "pearson_soft_l1_given_motion": "fewer than 4 frames, or no motion",
        "spearman_soft_l1_videos": "fewer than 3 videos",
        f"spearman_occlusion_mean_{COMBINED}_l1": "the combined mask is constant",
    }
    if table["occluded_fraction"].nunique() <= 1:
        report.note(
            f"no frame has a different share of map pixels below the threshold "
            f"({report.parameters['occlusion_threshold']}); read the soft measure "
            "(occlusion_mean) instead"
        )
    if truth is not None:
        known, why = truth_results(table, truth.covered_threshold, [*BASE_MEASURES, *combined])
        results |= known
        reasons |= why
    scored = measure_table(table, truth.covered_threshold if truth is not None else None)
    scored.to_csv(report.output_dir / f"{STUDY}_measures.csv", index=False)
    extra = {
        "correlation_occluded_l1": frame_level,
        "correlation_soft_l1": soft,
        "correlation_soft_l1_videos": video_level,
        "measures": scored.to_dict(orient="records"),
    }
    if mask_sizes:
        extra["occlusion_mask_sizes"] = mask_sizes
    _plot(report, table, num_bins)
    _plot_examples(report, examples)
    return report.finish(
        by_setting, results, reasons, group_column="measure", extra=extra, loggers=loggers
    )


def _plot(report: StudyReport, table: pd.DataFrame, num_bins: int) -> None:
    panels = [
        ("occluded_fraction", "occluded share of the map"),
        ("occlusion_mean", "1 - mean occlusion map (soft)"),
        ("motion", "keypoint motion from the source (px)"),
    ]
    if f"occlusion_mean_{COMBINED}" in table:
        panels.append((f"occlusion_mean_{COMBINED}", "1 - mean of the masks of all levels (soft)"))
    if np.isfinite(table["face_covered"]).any():
        panels.append(("face_covered", "true share of the face covered"))
    figure, axes = new_figure(len(panels))
    for ax, (measure, label) in zip(axes, panels, strict=True):
        x, y = table[measure].to_numpy(), table["l1"].to_numpy()
        ax.scatter(x, y, s=6, alpha=0.3, color="0.5")
        fit = correlations(x, y)
        if math.isfinite(fit["slope"]):
            line = np.linspace(np.nanmin(x), np.nanmax(x), 2)
            ax.plot(line, fit["intercept"] + fit["slope"] * line, color="C3", label="least squares")
        bins = binned_means(x, {"l1": y}, num_bins)
        ax.errorbar(
            bins["x_mean"],
            bins["l1_mean"],
            yerr=bins["l1_std"],
            fmt="o-",
            color="C0",
            label="binned mean",
        )
        title = f"Pearson {fit['pearson']:.2f}, Spearman {fit['spearman']:.2f} (n={fit['n']})"
        if np.nanmax(x) == np.nanmin(x):
            title = f"constant ({np.nanmax(x):.3g}) in every frame"
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(label)
        ax.set_ylabel("reconstruction L1")
        ax.legend(fontsize=7)
    report.save_figure(STUDY, figure)


def _plot_examples(report: StudyReport, examples: list[_Example]) -> None:
    if not examples:
        return
    chosen = sorted(examples, reverse=True)
    titles = ["source (frame 0)", "driving", "generated", "occlusion map"]
    figure, axes = new_figure(len(chosen) * 4, columns=4, size=2.0)
    for row, example in enumerate(chosen):
        for column, (panel, title) in enumerate(zip(example.panels, titles, strict=True)):
            ax = axes[row * 4 + column]
            if panel.ndim == 2:
                ax.imshow(panel, cmap="gray", vmin=0, vmax=1)
            else:
                ax.imshow(panel)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(title, fontsize=8)
            if column == 0:
                ax.set_ylabel(
                    f"{example.key}\n{example.occluded:.0%} occluded, soft {example.soft:.3f}",
                    fontsize=7,
                )
    report.save_figure(f"{STUDY}_examples", figure)
