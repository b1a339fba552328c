import numpy as np
import pytest

from fomm.face_track import box_iou, crop_boxes, link_face_tracks, main_track, square_box


def test_box_iou_matches_hand_computation():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[5, 0, 15, 10], [20, 20, 30, 30]])
    np.testing.assert_allclose(box_iou(a, b), [[50 / 150, 0.0]])


def moving_face(frames, start_x=10.0, speed=1.0, size=40.0, y=20.0):
    return [
        (i, np.array([[start_x + speed * i, y, start_x + speed * i + size, y + size]]))
        for i in frames
    ]


def test_link_keeps_one_track_for_a_steady_face_and_splits_on_a_jump():
    steady = moving_face(range(10))
    jumped = [(i, np.array([[300.0, 200, 340, 240]])) for i in range(10, 15)]
    tracks = link_face_tracks(steady + jumped, iou_threshold=0.25, max_gap=0)
    assert [(t.start, t.end, t.detections) for t in tracks] == [(0, 9, 10), (10, 14, 5)]


def test_first_box_linking_ends_a_track_that_drifts_away_but_last_box_follows_it():
    drifting = moving_face(range(40), speed=3.0)
    fixed = link_face_tracks(drifting, link_to="first", max_gap=0)
    follow = link_face_tracks(drifting, link_to="last", max_gap=0)
    assert len(fixed) > 1
    assert len(follow) == 1 and follow[0].detections == 40


def test_gaps_up_to_max_gap_do_not_split_a_track():
    with_gap = moving_face([0, 1, 2, 5, 6])  # frames 3 and 4 missed
    detections = []
    for i in range(7):
        found = dict(with_gap)
        detections.append((i, found.get(i, np.zeros((0, 4)))))
    assert len(link_face_tracks(detections, max_gap=2)) == 1
    assert len(link_face_tracks(detections, max_gap=1)) == 2


def test_two_faces_give_two_tracks_and_the_main_track_is_the_longer_then_larger():
    small = moving_face(range(20), size=20.0, y=200.0, speed=0.3)
    large = moving_face(range(20), size=60.0, start_x=300.0)
    detections = [(i, np.concatenate([small[i][1], large[i][1]])) for i in range(20)]
    tracks = link_face_tracks(detections)
    assert len(tracks) == 2
    assert main_track(tracks).mean_area == pytest.approx(3600.0)
    assert main_track([]) is None


def test_square_box_uses_the_official_enlargement_and_stays_inside_the_frame():
    left, top, side = square_box(np.array([100, 100, 140, 180]), 0.1, 480, 640)
    assert side == 96  # 1.2 * the longer side (80)
    assert (left + side / 2, top + side / 2) == (120, 140)
    left, top, side = square_box(np.array([0, 0, 40, 40]), 0.5, 480, 640)
    assert (left, top, side) == (0, 0, 80)
    left, top, side = square_box(np.array([0, 0, 600, 400]), 0.1, 300, 640)
    assert side == 300 and 0 <= left <= 640 - 300 and top == 0


def test_fixed_boxes_cover_the_union_and_follow_boxes_move_smoothly():
    detections = moving_face(range(0, 30, 3), speed=2.0)
    track = link_face_tracks(detections, link_to="last")[0]
    fixed = crop_boxes(track, 30, 240, 320, margin=0.1, mode="fixed")
    assert fixed.shape == (30, 3) and (fixed == fixed[0]).all()
    left, top, side = fixed[0]
    union = track.union_box
    assert left <= union[0] and top <= union[1]
    assert left + side >= union[2] and top + side >= union[3]

    follow = crop_boxes(track, 30, 240, 320, margin=0.1, mode="follow", smooth_sigma=2.0)
    assert (follow[:, 2] == follow[0, 2]).all()  # constant size: no zooming
    assert follow[-1, 0] > follow[0, 0]
    assert np.abs(np.diff(follow[:, 0])).max() <= 4
    with pytest.raises(ValueError, match="mode"):
        crop_boxes(track, 30, 240, 320, mode="zoom")
