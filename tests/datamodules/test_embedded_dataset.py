import dataclasses
import json

import numpy as np
import pytest

from datamodules import embedded
from datamodules.embedded import EmbeddedDataModule, EmbeddedSpec, ensure_embedded_dataset
from datamodules.synthetic_faces import (
    HeadPose,
    random_background,
    random_identity,
    render_frame,
)
from datamodules.synthetic_videos import render_talking_head
from datamodules.video_io import probe_video, read_video

SMALL = EmbeddedSpec(
    train_identities=2,
    test_identities=1,
    train_videos_per_identity=2,
    test_videos_per_identity=1,
    val_identities=1,
    val_videos_per_identity=1,
    num_frames=8,
    size=32,
)


@pytest.fixture
def small_root(tmp_path):
    return ensure_embedded_dataset(tmp_path / "embedded", SMALL)


def test_layout_is_a_fomm_dataset(small_root):
    train = sorted(p.name for p in (small_root / "train").iterdir())
    test = sorted(p.name for p in (small_root / "test").iterdir())
    assert train == ["id0000#00.mp4", "id0000#01.mp4", "id0001#00.mp4", "id0001#01.mp4"]
    val = sorted(p.name for p in (small_root / "val").iterdir())
    assert test == ["id0002#00.mp4"]  # an identity never seen in training
    assert val == ["id0003#00.mp4"]  # numbered after the test people: train and test unchanged
    meta = probe_video(small_root / "test" / "id0002#00.mp4")
    assert (meta.num_frames, meta.height, meta.width, meta.fps) == (8, 32, 32, 25.0)
    manifest = json.loads((small_root / "manifest.json").read_text())
    assert manifest["spec"]["size"] == 32 and len(manifest["files"]) == 6


def test_second_use_finds_the_cache(small_root, monkeypatch):
    before = {p: p.stat().st_mtime_ns for p in small_root.rglob("*.mp4")}

    def must_not_run(*args, **kwargs):
        raise AssertionError("regenerated a complete dataset")

    monkeypatch.setattr(embedded, "write_talking_heads", must_not_run)
    assert ensure_embedded_dataset(small_root, SMALL) == small_root
    assert before == {p: p.stat().st_mtime_ns for p in small_root.rglob("*.mp4")}


@pytest.mark.parametrize("damage", ["missing_file", "truncated_file", "bad_manifest", "new_spec"])
def test_damaged_or_stale_cache_is_rebuilt(small_root, damage):
    reference = read_video(small_root / "train" / "id0001#00.mp4")
    victim = small_root / "train" / "id0001#00.mp4"
    spec = SMALL
    if damage == "missing_file":
        victim.unlink()
    elif damage == "truncated_file":
        victim.write_bytes(victim.read_bytes()[:100])
    elif damage == "bad_manifest":
        (small_root / "manifest.json").write_text("{")
    else:
        spec = dataclasses.replace(SMALL, num_frames=6)
    assert not embedded.is_complete(small_root, spec)
    ensure_embedded_dataset(small_root, spec)
    assert embedded.is_complete(small_root, spec)
    rebuilt = read_video(victim)
    if damage == "new_spec":
        assert len(rebuilt) == 6
    else:
        # Same rendered frames (tested exactly below); multithreaded libx264 is not bit-exact
        # from run to run, so the decoded pixels may differ by encoding noise.
        assert rebuilt.shape == reference.shape
        assert np.abs(rebuilt.astype(int) - reference).mean() < 6
    leftovers = list(small_root.parent.glob(".embedded.*"))
    assert not leftovers, [(p, sorted(q.name for q in p.rglob("*"))) for p in leftovers]


def test_foreign_folder_is_not_overwritten(tmp_path):
    (tmp_path / "embedded").mkdir()
    (tmp_path / "embedded" / "my_video.mp4").write_text("precious")
    with pytest.raises(FileExistsError, match="not a generated embedded dataset"):
        ensure_embedded_dataset(tmp_path / "embedded", SMALL)
    assert (tmp_path / "embedded" / "my_video.mp4").read_text() == "precious"


def test_rendering_is_deterministic_and_identities_differ():
    faces = [random_identity(np.random.default_rng([0, k])) for k in range(4)]
    assert len(set(faces)) == 4
    first = render_talking_head(faces[0], np.random.default_rng(1), 6, 32)
    again = render_talking_head(faces[0], np.random.default_rng(1), 6, 32)
    np.testing.assert_array_equal(first, again)
    assert first.shape == (6, 32, 32, 3) and first.dtype == np.uint8
    assert np.abs(first[0].astype(int) - first[5]).mean() > 1  # the head moves


def test_blinks_and_mouth_change_the_face_where_expected():
    face = random_identity(np.random.default_rng(3))
    background = random_background(np.random.default_rng(4), 256, avoid=face.skin)
    open_eyes = render_frame(face, HeadPose(eyes_open=1.0), background, 64).astype(int)
    closed = render_frame(face, HeadPose(eyes_open=0.0), background, 64).astype(int)
    talking = render_frame(face, HeadPose(mouth_open=1.0), background, 64).astype(int)
    blink_rows = np.nonzero(np.abs(open_eyes - closed).sum(axis=(1, 2)))[0]
    mouth_rows = np.nonzero(np.abs(open_eyes - talking).sum(axis=(1, 2)))[0]
    assert blink_rows.size and mouth_rows.size
    assert blink_rows.max() < mouth_rows.min()  # eyes above the mouth


def test_embedded_datamodule_serves_batches(tmp_path):
    module = EmbeddedDataModule(
        str(tmp_path / "embedded"),
        frame_shape=[32, 32, 3],
        train_identities=2,
        test_identities=1,
        train_videos_per_identity=2,
        test_videos_per_identity=1,
        val_identities=1,
        val_videos_per_identity=1,
        num_frames=8,
        id_sampling=True,
        num_repeats=2,
        batch_size=2,
        num_workers=0,
        augmentation_params={"flip_param": {"horizontal_flip": True, "time_flip": True}},
    )
    module.prepare_data()
    module.setup("fit")
    batch = next(iter(module.train_dataloader()))
    assert batch["source"].shape == batch["driving"].shape == (2, 3, 32, 32)
    assert batch["skipped"] == []
    (val,) = list(module.val_dataloader())
    assert val["video"].shape == (1, 8, 3, 32, 32) and val["name"] == ["id0003#00"]
    assert [item.name for item in module.test_set.videos.items] == ["id0002#00"]
