"""Occlusion events and head turns of the synthetic talking heads, and their ground truth."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from datamodules.embedded import EmbeddedSpec, ensure_embedded_dataset, write_talking_heads
from datamodules.synthetic_landmarks import talking_head_landmarks
from datamodules.synthetic_occluders import occluded_videos
from datamodules.synthetic_occlusion_events import (
    EVENT_COLUMNS,
    read_occlusion_events,
    video_events,
)
from datamodules.synthetic_videos import render_plan, split_plans

SIZE, FRAMES = 32, 20


@pytest.fixture(scope="module")
def planned():
    """Four videos of two people, every one with an event (share 1)."""
    return list(split_plans(2, 2, FRAMES, SIZE, seed=5, fps=25, occluded_share=1.0))


def test_plans_and_frames_are_deterministic(planned):
    again = list(split_plans(2, 2, FRAMES, SIZE, seed=5, fps=25, occluded_share=1.0))
    assert [p.plan.occluder for p in planned] == [p.plan.occluder for p in again]
    np.testing.assert_array_equal(
        render_plan(planned[1].face, planned[1].plan, SIZE),
        render_plan(again[1].face, again[1].plan, SIZE),
    )
    pd.testing.assert_frame_equal(video_events(planned[1], SIZE), video_events(again[1], SIZE))
    other = list(split_plans(2, 2, FRAMES, SIZE, seed=6, fps=25, occluded_share=1.0))
    assert [p.plan.occluder for p in planned] != [p.plan.occluder for p in other]


@pytest.mark.parametrize(("videos", "share"), [(20, 0.5), (20, 0.25), (7, 0.5), (8, 0.0), (8, 1.0)])
def test_the_configured_share_of_videos_is_occluded(videos, share):
    chosen = occluded_videos(0, 4, videos, 1, share)
    assert len(chosen) == round(share * videos)
    assert all(4 <= identity < 4 + videos and video == 0 for identity, video in chosen)
    assert chosen == occluded_videos(0, 4, videos, 1, share)


def test_a_share_outside_zero_one_is_refused():
    with pytest.raises(ValueError, match="occluded_share"):
        occluded_videos(0, 0, 4, 1, 1.5)
    with pytest.raises(ValueError, match="data.head_turn"):
        write_talking_heads("unused", 1, 1, 2, head_turn=80)


def test_the_occluder_covers_the_face_in_the_frames_the_table_says(planned):
    for video in planned:
        events = video_events(video, SIZE)
        assert events["occluder"].iloc[0] in ("hand", "object")
        covered = events["face_covered"].to_numpy()
        assert covered.max() > 0.2, video.name  # the path passes over the face
        assert (covered[events["event"] == 0] == 0).all()
        with_occluder = render_plan(video.face, video.plan, SIZE).astype(int)
        bare = dataclasses.replace(video.plan, occluder=None)
        without = render_plan(video.face, bare, SIZE).astype(int)
        changed = np.abs(with_occluder - without).sum(axis=-1) > 30
        outside = events["event"].to_numpy() == 0
        assert not changed[outside].any()  # only event frames differ
        # where the table says a quarter of the face is covered, pixels of the face changed
        # (the face is a quarter of the frame or so: a few percent of the frame at least)
        for frame in np.flatnonzero(covered > 0.25):
            assert changed[frame].mean() > 0.03, (video.name, frame)


def test_turns_are_larger_than_without_head_turn():
    def asymmetry(points):
        """|d(nose, left eye) - d(nose, right eye)| / eye distance: 0 for a frontal face."""
        to_left = np.linalg.norm(points[:, 2] - points[:, 0], axis=-1)
        to_right = np.linalg.norm(points[:, 2] - points[:, 1], axis=-1)
        return np.abs(to_left - to_right) / np.linalg.norm(points[:, 1] - points[:, 0], axis=-1)

    for identity in range(4):
        frontal = talking_head_landmarks(0, identity, 0, 50, 64, head_turn=0.0)
        turning = talking_head_landmarks(0, identity, 0, 50, 64, head_turn=30.0)
        assert asymmetry(frontal).max() < 1e-6
        assert asymmetry(turning).max() > 0.1
        # the image-left eye stays left even in the largest turn
        assert (turning[:, 0, 0] < turning[:, 1, 0]).all()


def test_the_dataset_writes_the_events_table_at_the_share(tmp_path):
    spec = EmbeddedSpec(
        train_identities=4,
        test_identities=2,
        train_videos_per_identity=1,
        test_videos_per_identity=1,
        val_identities=0,
        num_frames=12,
        size=SIZE,
        occluded_share=0.5,
    )
    root = ensure_embedded_dataset(tmp_path / "embedded", spec)
    table = read_occlusion_events(root / "occlusion_events.csv")
    assert list(table.columns) == list(EVENT_COLUMNS)
    assert len(table) == 6 * spec.num_frames
    per_video = table.groupby("video")["occluder"].first()
    train = per_video[per_video.index < "id0004"]
    assert (train != "").sum() == 2 and (per_video.drop(train.index) != "").sum() == 1
    assert table.loc[table["event"] == 1, "face_covered"].max() > 0.2
    (root / "occlusion_events.csv").unlink()  # a deleted table comes back
    ensure_embedded_dataset(root, spec)
    pd.testing.assert_frame_equal(read_occlusion_events(root / "occlusion_events.csv"), table)
