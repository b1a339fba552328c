r"""A deepfake dataset from an FOMM checkpoint and real videos: ``python -m loop.fakes``.

Example::

    python -m loop.fakes checkpoint=logs/train/runs/<run>/checkpoints/last.ckpt \\
        videos=data/embedded output=data/fomm_fakes

Each real video of identity A is re-encoded as ``real/<split>/<name>.mp4`` and becomes
the source of ``fakes_per_video`` fakes ``fake/<split>/<name>__<driver>.mp4``: its frame
``source_frame`` animated (relative motion, adapted scale: how a deepfake maker runs the
official demo) by a video of another identity B of the same split, with B's frame count,
frame rate and audio. Identities are split train/val/test as whole people
(:mod:`loop.fakes.plan`), so no face or motion crosses splits.

Reals and fakes go through the same fitting to the model's size and the same H.264
encoder settings, so a detector can tell them apart only by what FOMM did to the
pixels, not by resolution, codec or bitrate: the forensic point of the dataset.

Written to ``output``: the mp4s (each atomically, as it finishes), ``labels.csv`` (the
video index of ``docs/architecture.md`` with ``source_identity``, ``driving_video``,
``driving_identity``, ``method``), ``summary.json``, and ``fakes_config.json`` (the
settings; a rerun with the same settings resumes, with other settings it refuses).

Across machines: ``shard=i num_shards=n`` renders one part of the real videos (with their
fakes) into the same folder, and ``merge=true`` joins the parts' tables
(:mod:`loop.fakes.shards`).
"""

from __future__ import annotations

import inspect
import logging
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig
from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from datamodules.command_errors import InputError
from datamodules.devices import resolve_device
from datamodules.plain import plain_container
from datamodules.skipped import warn_skip
from datamodules.video_io import UnreadableVideoError, probe_video
from fomm.animators import resolve_mode
from fomm.media import FIT_MODES, autocast_dtype, load_model, model_frame_size, require_file
from loop.fakes.output import (
    check_output,
    claim_output,
    fingerprint,
    finished_labels,
    write_results,
)
from loop.fakes.plan import (
    LABEL_COLUMNS,
    SPLITS,
    InputVideo,
    Job,
    check_fractions,
    list_input_videos,
    plan_jobs,
    split_identities,
)
from loop.fakes.render import Renderer
from loop.fakes.shards import run_shard

log = logging.getLogger(__name__)

GENERATOR_VERSION = 1


def _usable_inputs(inputs: list[InputVideo], progress: bool) -> tuple[list, list[dict]]:
    """Probe every input; unreadable and empty ones are skipped (warned once) and listed."""
    usable, skipped = [], []
    for item in tqdm(inputs, desc="probing videos", unit="video", disable=not progress):
        meta = probe_video(item.path)
        reason = meta.error or (None if meta.num_frames > 0 else "it holds no frames")
        if reason:
            warn_skip(item.path, reason)
            skipped.append({"path": str(item.path), "reason": reason})
        else:
            usable.append(item)
    return usable, skipped


def _summary(jobs: list[Job], done: set[str], assignment: dict[str, str], **extra: Any) -> dict:
    counts = Counter((job.split, job.label) for job in jobs if job.video in done)
    return {
        "complete": all(job.video in done for job in jobs),
        "videos": {
            split: {"real": counts[(split, 0)], "fake": counts[(split, 1)]} for split in SPLITS
        },
        "identities": {
            split: sorted(i for i, s in assignment.items() if s == split) for split in SPLITS
        },
        **extra,
    }


def _checked_mode(mode: str) -> str:
    try:
        return resolve_mode(mode)
    except ValueError as error:
        raise InputError(str(error)) from error


def generate_fakes(
    checkpoint: str | os.PathLike,
    videos: str | os.PathLike,
    output: str | os.PathLike,
    config: str | os.PathLike | None = None,
    split_fractions: dict[str, float] | None = None,
    fakes_per_video: int = 1,
    source_frame: int = 0,
    relative: bool = True,
    adapt_scale: bool = True,
    relative_jacobian: bool = True,
    mode: str | None = None,
    max_frames: int | None = None,
    fit: str = "center_crop",
    crf: int = 18,
    batch_size: int = 32,
    device: str = "auto",
    precision: str = "fp32",
    seed: int = 0,
    overwrite: bool = False,
    trust_checkpoint: bool = False,
    progress: bool = True,
    shard: int = 0,
    num_shards: int = 1,
) -> pd.DataFrame:
    """Write a labelled real/fake video dataset (see the module docstring).

    Args:
        checkpoint: an official ``*.pth.tar`` (with ``config``) or a ``.ckpt`` trained here.
        videos: a FOMM dataset root (``train/``, ``val/``, ``test/``, pooled), a flat folder
            of videos, or a video index CSV (real rows used); identities from ``ID#rest`` names.
        output: the dataset folder to write.
        config: the official yaml of an official checkpoint.
        split_fractions: share of the identities per split (default 0.7/0.15/0.15).
        fakes_per_video: fakes made from every real video, each with another driver.
        source_frame: the frame of the real video whose face is animated (clamped to
            the video's last frame).
        relative: transfer the driving motion relative to its first frame.
        adapt_scale: scale that motion by the keypoint-hull size ratio.
        relative_jacobian: transfer the Jacobians' change too.
        mode: ``relative``, ``standard`` or ``avd`` (a TPSMM with a trained AVD network),
            for an FOMM or a TPSMM checkpoint alike; None follows ``relative``
            (:mod:`fomm.animators`).
        max_frames: cap on frames per written video (null: the whole driving video).
        fit: how frames reach the model's square: ``center_crop``, ``resize``, ``pad``.
        crf: libx264 quality of every written video, reals and fakes alike.
        batch_size: frames per forward pass and per read.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N``.
        precision: ``fp32``, or ``bf16``/``fp16`` autocast (GPU).
        seed: seeds the identity split and the driver picks.
        overwrite: delete an ``output`` generated with other settings and start over.
        trust_checkpoint: allow a checkpoint that needs full unpickling (can run code).
        progress: show progress bars.
        shard: which part to render, ``0 .. num_shards - 1``: the real videos whose key
            hashes to it, with their fakes (every shard probes and plans all inputs, so
            the parts add up to the unsharded plan).
        num_shards: parts the job is split into; each writes ``labels_shard<i>of<n>.csv``
            and ``summary_shard<i>of<n>.json``, joined by :func:`loop.fakes.shards.merge_fakes`.

    Returns:
        ``labels.csv`` (or the shard's) as a DataFrame, ``path`` relative to ``output``.

    Raises:
        InputError: a missing or wrong checkpoint, videos or option, too few identities,
            or an ``output`` holding a dataset of other settings.
    """
    started = time.perf_counter()
    autocast_dtype(precision)
    if fit not in FIT_MODES:
        raise InputError(f"fit={fit} is not one of {', '.join(FIT_MODES)}")
    for name, value in {"fakes_per_video": fakes_per_video, "batch_size": batch_size}.items():
        if int(value) < 1:
            raise InputError(f"{name}={value} must be at least 1")
    if int(source_frame) < 0 or (max_frames is not None and int(max_frames) < 1):
        raise InputError("source_frame must be >= 0 and max_frames >= 1 (or null)")
    fractions = check_fractions(split_fractions)
    part = run_shard(shard, num_shards, overwrite)
    checkpoint_file = require_file(checkpoint, "checkpoint", "checkpoint")
    config_file = None if config in (None, "", "null") else require_file(config, "config", "config")
    inputs = list_input_videos(videos)
    assignment = split_identities([item.identity for item in inputs], fractions, seed)
    options = {
        "split_fractions": fractions,
        "fakes_per_video": int(fakes_per_video),
        "source_frame": int(source_frame),
        "relative": bool(relative),
        "adapt_scale": bool(adapt_scale),
        "relative_jacobian": bool(relative_jacobian),
        # Only a mode given explicitly is recorded, so outputs made before it keep matching.
        **({} if mode in (None, "", "null") else {"mode": _checked_mode(mode)}),
        "max_frames": None if max_frames is None else int(max_frames),
        "fit": fit,
        "crf": int(crf),
        "precision": precision,
        "seed": int(seed),
    }
    settings = {
        "generator_version": GENERATOR_VERSION,
        "checkpoint": fingerprint(checkpoint_file),
        "config": fingerprint(config_file) if config_file else None,
        "videos": str(Path(str(videos)).expanduser().resolve()),
        "inputs": [[item.key, item.identity] for item in inputs],
        **options,
    }
    if output in (None, "", "null"):
        raise InputError("no output given; pass output=DIR (the dataset folder to write)")
    output = Path(str(output)).expanduser()
    same = check_output(output, settings, overwrite)
    finished = finished_labels(output, part) if same else None
    if finished is not None:
        log.info("%s: complete dataset of %d videos, reused", output, len(finished))
        return finished

    run_device = resolve_device(device)
    networks = load_model(checkpoint_file, config_file, run_device, trust_pickle=trust_checkpoint)
    claim_output(output, settings, same)
    size = model_frame_size(networks)
    usable, skipped_inputs = _usable_inputs(inputs, progress)
    jobs, unpaired = plan_jobs(usable, assignment, int(fakes_per_video), int(seed))
    jobs = [job for job in jobs if part.owns(job.source.key)]
    unpaired = [key for key in unpaired if part.owns(key)]
    renderer = Renderer(networks, size, options | {"batch_size": int(batch_size)})
    done, failed, frames_written, made = set(), [], 0, 0
    bar = tqdm(total=len(jobs), desc="fomm fakes", unit="video", disable=not progress)
    with bar, logging_redirect_tqdm():
        for job in jobs:
            target = output / job.relative_path
            if not target.is_file():
                try:
                    render = renderer.fake if job.label else renderer.real
                    frames_written += render(job, target)
                    made += 1
                except (InputError, UnreadableVideoError, IndexError, ValueError) as error:
                    failed.append({"video": job.video, "reason": warn_skip(job.video, str(error))})
            if target.is_file():
                done.add(job.video)
            bar.update()
            bar.set_postfix(frames=frames_written, failed=len(failed))

    labels = pd.DataFrame([job.row() for job in jobs if job.video in done], columns=LABEL_COLUMNS)
    seconds = time.perf_counter() - started
    summary = _summary(
        jobs,
        done,
        assignment,
        skipped_inputs=skipped_inputs,
        failed=failed,
        sources_without_driver=unpaired,
        generated_now=made,
        already_done=len(done) - made,
        frames_generated=frames_written,
        seconds=round(seconds, 2),
        checkpoint=str(checkpoint_file.resolve()),
        model_frame_size=size,
        device=str(run_device),
        settings=options | {"batch_size": int(batch_size)},
        **({"shard": part.index, "num_shards": part.count} if part.sharded else {}),
    )
    write_results(output, labels, summary, part)
    log.info(
        "%s%s: %d videos written now, %d already there, %d frames in %.1f s; %d inputs skipped, "
        "%d failed",
        output,
        f" ({part})" if part.sharded else "",
        made,
        len(done) - made,
        frames_written,
        seconds,
        len(skipped_inputs),
        len(failed),
    )
    return labels


def fomm_fakes_index(
    output: str | os.PathLike, checkpoint: str | os.PathLike | None = None, **generation: Any
) -> pd.DataFrame:
    """The video index of a generated dataset, generating (or finishing) it first.

    The data config ``data=fomm_fakes`` uses it as its index builder: the first start
    generates the dataset, later starts reuse it. Arguments as :func:`generate_fakes`.

    Returns:
        The labels with absolute ``path`` (what face extraction reads).

    Raises:
        InputError: no checkpoint given (Hydra leaves a missing ``???`` value out), or
            any input error of :func:`generate_fakes`.
    """
    if checkpoint in (None, "", "???"):
        raise InputError(
            "data=fomm_fakes needs an FOMM checkpoint: pass data.index.checkpoint=PATH, e.g. "
            "the logs/train/runs/<run>/checkpoints/last.ckpt that `python train.py` writes"
        )
    labels = generate_fakes(checkpoint=checkpoint, output=output, **generation)
    root = Path(str(output)).expanduser().resolve()
    return labels.assign(path=[str(root / path) for path in labels["path"]])


def generate_from_config(cfg: DictConfig) -> pd.DataFrame:
    """Run :func:`generate_fakes` with the options of ``conf/fakes.yaml``."""
    options = {key: cfg[key] for key in inspect.signature(generate_fakes).parameters if key in cfg}
    return generate_fakes(**plain_container(options))
