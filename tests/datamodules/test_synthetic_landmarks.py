"""Ground-truth landmarks of the synthetic talking heads; the embedded dataset's landmarks.csv."""

import numpy as np
import pandas as pd
import pytest

from datamodules import embedded
from datamodules.embedded import EmbeddedSpec, ensure_embedded_dataset
from datamodules.face_landmarks import LANDMARK_COLUMNS, read_known_landmarks
from datamodules.synthetic_faces import random_identity
from datamodules.synthetic_landmarks import talking_head_landmarks
from datamodules.synthetic_videos import render_talking_head

SMALL = EmbeddedSpec(
    train_identities=2,
    test_identities=1,
    train_videos_per_identity=2,
    test_videos_per_identity=1,
    num_frames=6,
    size=32,
)


@pytest.mark.parametrize(
    ("identity", "video", "head_turn"), [(0, 0, 0.0), (3, 1, 30.0), (7, 2, 45.0)]
)
def test_the_points_land_on_the_drawn_pupils_and_lips(identity, video, head_turn):
    size, frames = 128, 24
    face = random_identity(np.random.default_rng([0, identity]))
    rendered = render_talking_head(
        face, np.random.default_rng([0, identity, video + 1]), frames, size, head_turn=head_turn
    )
    points = talking_head_landmarks(0, identity, video, frames, size, head_turn=head_turn)
    assert points.shape == (frames, 5, 2)
    pupils, mouths = [], []
    for image, five in zip(rendered, points, strict=True):
        x, y = np.round(five).astype(int).T
        pupils += [image[y[k], x[k]].max() for k in (0, 1)]
        centre_x, centre_y = np.round(five[3:].mean(axis=0)).astype(int)
        mouths.append(np.abs(image[centre_y, centre_x].astype(int) - face.skin).sum())
        assert five[0, 0] < five[1, 0] and five[3, 0] < five[4, 0]  # image-left first
        assert five[:2, 1].mean() < five[2, 1] < five[3:, 1].mean()  # eyes, nose, mouth
    # pupils are (10, 10, 10) except in the few frames of a blink
    assert np.mean(np.asarray(pupils) <= 20) > 0.7
    assert min(mouths) > 60  # between the mouth corners: lips or the open mouth, never skin
    other = talking_head_landmarks(0, identity, video + 1, frames, size, head_turn=head_turn)
    assert np.abs(other - points).max() > 1  # another video moves differently


def test_the_embedded_dataset_writes_landmarks_csv_and_adds_it_to_an_older_copy(
    tmp_path, monkeypatch
):
    root = ensure_embedded_dataset(tmp_path / "embedded", SMALL)
    table = pd.read_csv(root / "landmarks.csv", dtype={"video": str})
    assert len(table) == 9 * SMALL.num_frames  # train, test and val people
    assert sorted(table["video"].unique()) == [
        "id0000#00", "id0000#01", "id0001#00", "id0001#01", "id0002#00",
        "id0003#00", "id0003#01", "id0004#00", "id0004#01",
    ]  # fmt: skip
    assert table[list(LANDMARK_COLUMNS)].stack().between(0, 1).all()
    known = read_known_landmarks(root / "landmarks.csv")
    expected = (
        talking_head_landmarks(0, 2, 0, SMALL.num_frames, SMALL.size, head_turn=SMALL.head_turn)
        / SMALL.size
    )
    np.testing.assert_allclose(known["id0002#00"], expected, atol=1e-5)
    expected_val = (
        talking_head_landmarks(0, 4, 1, SMALL.num_frames, SMALL.size, head_turn=SMALL.head_turn)
        / SMALL.size
    )
    np.testing.assert_allclose(known["id0004#01"], expected_val, atol=1e-5)

    (root / "landmarks.csv").unlink()  # a copy generated before landmarks.csv existed

    def must_not_run(*args, **kwargs):
        raise AssertionError("regenerated the videos")

    monkeypatch.setattr(embedded, "write_talking_heads", must_not_run)
    ensure_embedded_dataset(root, SMALL)
    assert pd.read_csv(root / "landmarks.csv").equals(table)


def test_known_landmarks_name_a_missing_file_or_column(tmp_path):
    with pytest.raises(FileNotFoundError, match="landmarks_csv=.*does not exist"):
        read_known_landmarks(tmp_path / "nope.csv")
    pd.DataFrame({"video": ["a"], "frame": [0]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match="lacks the column"):
        read_known_landmarks(tmp_path / "bad.csv")
