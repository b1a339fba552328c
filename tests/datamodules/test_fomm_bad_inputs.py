import logging

import av
import cv2
import numpy as np
import pytest
import torch
from video_data_media import index_frames, pattern_frames, write_frame_folder, write_mp4

from datamodules.pairs import FOMMDataModule
from datamodules.skipped import collate_with_skipped

SIZE = 16


def truncated_mp4(path):
    write_mp4(path, pattern_frames(20, SIZE, SIZE), gop=4)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def faststart_truncated_mp4(path):
    """moov in front: the file opens and its first frames decode, then the data ends."""
    with av.open(str(path), "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width = stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        for index, image in enumerate(pattern_frames(40, SIZE, SIZE)):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.6)])
    return path


def zero_frame_mp4(path):
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width = stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        container.start_encoding()
    return path


def text_named_mp4(path):
    path.write_text("this is not a video")
    return path


def folder_with_corrupt_png(path):
    write_frame_folder(path, index_frames(6, SIZE))
    (path / "frame3.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    return path / "frame3.png"


def folder_with_wrong_size_frame(path):
    write_frame_folder(path, index_frames(6, SIZE))
    cv2.imwrite(str(path / "frame4.png"), np.zeros((SIZE + 4, SIZE, 3), np.uint8))
    return path / "frame4.png"


def wrong_size_mp4(path):
    return write_mp4(path, pattern_frames(6, SIZE * 2, SIZE * 2), gop=3)


BAD_VIDEOS = {
    "truncated": (truncated_mp4, "bad.mp4", "cannot be opened"),
    "zero_frames": (zero_frame_mp4, "bad.mp4", "no video stream"),
    "not_a_video": (text_named_mp4, "bad.mp4", "cannot be opened"),
    "corrupt_png": (folder_with_corrupt_png, "bad", "cannot be decoded"),
    "wrong_size_frame": (folder_with_wrong_size_frame, "bad", "differs from the folder's first"),
    "wrong_size_video": (wrong_size_mp4, "bad.mp4", "differs from frame_shape 16x16"),
}


def dataset_with(root, make_bad, bad_name):
    """One good video and one bad one, in train/ and in test/; one good one in val/."""
    write_frame_folder(root / "val" / "held_out", index_frames(5, SIZE))
    for split in ("train", "test"):
        write_frame_folder(root / split / "good", index_frames(5, SIZE))
        culprit = make_bad(root / split / bad_name)
    return culprit  # the test/ copy


@pytest.mark.parametrize("case", sorted(BAD_VIDEOS))
def test_bad_video_is_skipped_named_and_replaced(tmp_path, caplog, case):
    make_bad, bad_name, reason = BAD_VIDEOS[case]
    root = tmp_path / "data"
    culprit = dataset_with(root, make_bad, bad_name)
    train_culprit = root / "train" / culprit.relative_to(root / "test")
    module = FOMMDataModule(str(root), frame_shape=[SIZE, SIZE, 3], batch_size=4, num_repeats=20,
                            num_workers=0)  # fmt: skip
    module.setup("fit")
    torch.manual_seed(0)
    with caplog.at_level(logging.WARNING):
        batches = list(module.train_dataloader())
    samples = sum(len(b["name"]) for b in batches)
    assert samples == 40 and all(b["source"].shape[0] == 4 for b in batches)  # batches stay full
    names = {name for b in batches for name in b["name"]}
    # A whole bad file is never used; a folder with one bad frame still gives its good frames.
    assert names == ({"good", "bad"} if case.endswith(("png", "frame")) else {"good"})
    skipped = [message for b in batches for message in b["skipped"]]
    assert skipped and all(m.startswith(str(train_culprit)) and reason in m for m in skipped)
    warnings = [r for r in caplog.records if str(train_culprit) in r.getMessage()]
    assert len(warnings) == 1  # one warning however often the file is met

    module.setup("test")
    results = [collate_with_skipped([module.test_set[i]]) for i in range(len(module.test_set))]
    bad = next(r for r in results if r["name"] == ["bad"])
    assert "video" not in bad
    assert bad["skipped"][0].startswith(str(culprit)) and reason in bad["skipped"][0]
    good = next(r for r in results if r["name"] == ["good"])
    assert good["video"].shape == (1, 5, 3, SIZE, SIZE) and good["skipped"] == []


def test_truncated_file_that_opens_fails_where_its_data_ends(tmp_path):
    root = tmp_path / "data"
    culprit = dataset_with(root, faststart_truncated_mp4, "cut.mp4")
    module = FOMMDataModule(str(root), frame_shape=[SIZE, SIZE, 3], batch_size=1, num_workers=0)
    module.setup("test")
    names = [item.name for item in module.test_set.videos.items]
    sample = module.test_set[names.index("cut")]
    assert "video" not in sample
    assert sample["skipped"][0].startswith(str(culprit))
    assert (
        "truncated or corrupt" in sample["skipped"][0] or "decoding failed" in sample["skipped"][0]
    )


def test_only_bad_videos_stop_with_a_clear_error(tmp_path):
    root = tmp_path / "data"
    for split in ("train", "test"):
        (root / split).mkdir(parents=True)
        text_named_mp4(root / split / "a.mp4")
        text_named_mp4(root / split / "b.mp4")
    module = FOMMDataModule(str(root), frame_shape=[SIZE, SIZE, 3], batch_size=1, num_workers=0,
                            val_videos=1)  # fmt: skip
    module.setup("fit")
    with pytest.raises(RuntimeError, match="videos in a row were unreadable"):
        module.train_set[0]


def test_missing_root_names_the_path_and_the_layout(tmp_path):
    missing = tmp_path / "no_such_dataset"
    module = FOMMDataModule(str(missing), frame_shape=[SIZE, SIZE, 3])
    with pytest.raises(FileNotFoundError) as error:
        module.setup("fit")
    message = str(error.value)
    assert str(missing) in message and "train/ and test/" in message and "ID#rest" in message


def test_train_without_test_folder_is_explained(tmp_path):
    write_frame_folder(tmp_path / "d" / "train" / "clip", index_frames(3, SIZE))
    with pytest.raises(FileNotFoundError, match="has train/ but no test/ folder"):
        FOMMDataModule(str(tmp_path / "d"), frame_shape=[SIZE, SIZE, 3]).setup("fit")


@pytest.mark.parametrize("layout", ["empty", "no_videos", "empty_train"])
def test_empty_dataset_names_the_path(tmp_path, layout):
    root = tmp_path / "d"
    root.mkdir()
    expected = root
    if layout == "no_videos":
        (root / "labels.csv").write_text("a,b\n")
    if layout == "empty_train":
        (root / "train").mkdir()
        (root / "test").mkdir()
        expected = root / "train"
    with pytest.raises(ValueError) as error:
        FOMMDataModule(str(root), frame_shape=[SIZE, SIZE, 3]).setup("fit")
    assert f"No videos in {expected}:" in str(error.value)
    assert "Expected a FOMM dataset" in str(error.value)
