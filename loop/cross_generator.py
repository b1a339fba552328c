"""Cross-generator detection: a detector trained on one motion model's fakes, tested on the other's.

Why: a detector that learned FOMM's artefacts may miss TPSMM's (and the other way round);
benchmarks of detectors (DF40) hold both. The loop's opt-in stage (``cross_generator=true``)
trains the second motion model, makes its deepfakes from the same real videos (the same
identity split, so every test identity is unseen by both detectors), trains a detector on
them, and scores each detector on the other generator's test fakes with ``train.py
train=false`` (the same test code as the detectors' own scores). The report's table is
video AUC by (trained on, tested on); the diagonal is each detector's own test.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from datamodules.training.selection import best_checkpoint

MOTION_MODELS = ("fomm", "tpsmm")
# The detector's test metrics the table reports, and what the report calls them.
SCORES = {"test/auc_video": "video AUC", "test/auc_frame": "frame AUC"}


def other_motion_model(name: str) -> str:
    """The motion model the cross-generator stage adds to ``name``.

    Raises:
        ValueError: ``name`` is not a motion model the loop trains.
    """
    check_motion_model(name)
    return MOTION_MODELS[1 - MOTION_MODELS.index(name)]


def check_motion_model(name: str, pipeline: Mapping[str, Any] | None = None) -> None:
    """Refuse a ``motion_model`` the loop cannot train, naming the choices and the fix."""
    if name not in MOTION_MODELS:
        raise ValueError(f"motion_model={name} is not one of {', '.join(MOTION_MODELS)}")
    if pipeline is not None and not pipeline.get(name):
        raise ValueError(
            f"motion_model={name}, but the pipeline has no `{name}` stage (its train.py "
            f"overrides); add one to conf/pipeline/<pipeline>.yaml"
        )


def cross_generator_rows(
    scores: Mapping[tuple[str, str], Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """One row per (trained on, tested on) pair, from the test metrics of each scoring run.

    Args:
        scores: ``(trained_on, tested_on) -> metrics.json`` of the run that tested the
            detector trained on ``trained_on``'s fakes on ``tested_on``'s test fakes.

    Returns:
        Rows ``trained_on``, ``tested_on``, ``same_generator``, ``video_auc``, ``frame_auc``
        and ``auc_drop`` (the detector's own video AUC minus this one; 0 on the diagonal,
        None where either is missing), ordered by trained on, then tested on.
    """
    own = {
        trained: metrics.get("test/auc_video")
        for (trained, tested), metrics in scores.items()
        if trained == tested
    }
    rows = []
    for (trained, tested), metrics in sorted(scores.items()):
        video_auc = metrics.get("test/auc_video")
        reference = own.get(trained)
        drop = None if video_auc is None or reference is None else reference - video_auc
        rows.append(
            {
                "trained_on": trained,
                "tested_on": tested,
                "same_generator": trained == tested,
                "video_auc": video_auc,
                "frame_auc": metrics.get("test/auc_frame"),
                "auc_drop": drop,
            }
        )
    return rows


def cross_generator_metrics(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Headline numbers for ``metrics.json``: ``cross/<trained>_on_<tested>/video_auc``."""
    return {
        f"cross/{row['trained_on']}_on_{row['tested_on']}/video_auc": row["video_auc"]
        for row in rows
    }


def cross_generator_markdown(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The report's section: a video-AUC matrix (rows: trained on; columns: tested on)."""
    if not rows:
        return []
    generators = sorted({row["trained_on"] for row in rows} | {row["tested_on"] for row in rows})
    by_pair = {(row["trained_on"], row["tested_on"]): row for row in rows}

    def cell(trained: str, tested: str) -> str:
        row = by_pair.get((trained, tested))
        value = None if row is None else row["video_auc"]
        return "n/a" if value is None else f"{value:.3f}"

    lines = [
        "## Cross-generator detection",
        "",
        "Video AUC on held-out identities of a detector trained on one motion model's fakes "
        "(rows), tested on each model's test fakes (columns); the diagonal is the detector's "
        "own test. 0.5 is chance: the drop from the diagonal is what the detector learned "
        "about its own generator's artefacts rather than about faces that were reenacted.",
        "",
        "| trained on \\ tested on | " + " | ".join(generators) + " |",
        "| --- |" + " --- |" * len(generators),
    ]
    lines += [f"| {t} | " + " | ".join(cell(t, s) for s in generators) + " |" for t in generators]
    drops = [row for row in rows if not row["same_generator"] and row["auc_drop"] is not None]
    if drops:
        lines += [""]
        lines += [
            f"- trained on {row['trained_on']}, tested on {row['tested_on']}: video AUC "
            f"{row['auc_drop']:.3f} below its own test"
            if row["auc_drop"] >= 0
            else f"- trained on {row['trained_on']}, tested on {row['tested_on']}: video AUC "
            f"{-row['auc_drop']:.3f} above its own test"
            for row in drops
        ]
    lines += ["", "Runs: `cross/<trained>_on_<tested>/metrics.json`.", ""]
    return lines


def run_cross_generator(
    primary: str,
    pipeline: Mapping[str, Any],
    out: Path,
    data_dir: str,
    run_stage: Callable[[str, Sequence[str], Path, str], dict[str, float]],
) -> list[dict[str, Any]]:
    """Train the other motion model, its fakes and detector, and score all four pairs.

    The primary model's stages (``out/<primary>``, ``out/fakes``, ``out/detector``) must
    have run. Every run is a ``train.py`` stage (``run_stage``, the loop's resumable
    :func:`loop.run.run_train_stage`), so a killed cross stage resumes too.

    Returns:
        :func:`cross_generator_rows` of the four scores.
    """
    other = other_motion_model(primary)
    check_motion_model(other, pipeline)
    run_stage(other, pipeline[other], out / other, data_dir)
    models = {primary: best_checkpoint(out / primary), other: best_checkpoint(out / other)}
    fakes = {primary: out / "fakes", other: out / f"fakes_{other}"}
    detector_dirs = {primary: out / "detector", other: out / f"detector_{other}"}

    def fake_data(generator: str) -> list[str]:
        return [
            f"data.index.checkpoint={models[generator]}",
            f"data.index.output={fakes[generator]}",
        ]

    own = run_stage(
        f"detector_{other}",
        [*pipeline.detector, *fake_data(other)],
        detector_dirs[other],
        data_dir,
    )
    scores: dict[tuple[str, str], Mapping[str, Any]] = {(other, other): own}
    scores[(primary, primary)] = run_stage(
        "detector", [*pipeline.detector, *fake_data(primary)], detector_dirs[primary], data_dir
    )
    for trained, tested in ((primary, other), (other, primary)):
        checkpoint = best_checkpoint(detector_dirs[trained])
        scores[(trained, tested)] = run_stage(
            f"cross_{trained}_on_{tested}",
            [*pipeline.detector, *fake_data(tested), "train=false", f"ckpt_path={checkpoint}"],
            out / "cross" / f"{trained}_on_{tested}",
            data_dir,
        )
    return cross_generator_rows(scores)
