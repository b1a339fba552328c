"""The app's handlers called directly and through the HTTP API (no browser)."""

import json

import av
import pandas as pd
import pytest

from app_media import NO_GRADIO, RUN_NAME

gr = pytest.importorskip("gradio", reason=NO_GRADIO)

from loop.app.animate_tab import run_animation  # noqa: E402
from loop.app.detect_tab import run_detection, verdict_text  # noqa: E402
from loop.app.inputs import page_errors  # noqa: E402
from loop.app.loop_tab import report_runs, show_run  # noqa: E402
from loop.app.samples import ensure_samples  # noqa: E402
from loop.app.settings import AppSettings  # noqa: E402
from loop.app.weights import loop_face_protocol, newest_checkpoint  # noqa: E402


def _streams(path):
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        frames = sum(1 for _ in container.decode(video))
        return frames, video.codec_context.width, len(container.streams.audio)


def _empty_settings(tmp_path, **options):
    return AppSettings(
        runs_dir=tmp_path / "runs",
        work_dir=tmp_path / "work",
        samples_dir=tmp_path / "samples",
        device="cpu",
        **options,
    )


def test_samples_are_drawn_once_with_a_sound_track(app_settings):
    samples = ensure_samples(app_settings.samples_dir)
    stamp = samples.driving.stat().st_mtime_ns
    assert ensure_samples(app_settings.samples_dir) == samples
    assert samples.driving.stat().st_mtime_ns == stamp
    frames, width, audio = _streams(samples.driving)
    assert (frames, width, audio) == (32, 128, 1)


def test_default_weights_are_the_newest_finished_loop_run(app_settings, tmp_path):
    found = newest_checkpoint(app_settings.runs_dir, "fomm")
    assert found.run.name == RUN_NAME and found.path.name == "best.ckpt"
    assert RUN_NAME in found.describe() and "make run" in found.describe()
    # A newer run whose stage did not finish (no checkpoints.json) is passed over.
    (app_settings.runs_dir / "2099-01-01_00-00-00" / "fomm").mkdir(parents=True)
    try:
        assert newest_checkpoint(app_settings.runs_dir, "fomm").run.name == RUN_NAME
    finally:
        (app_settings.runs_dir / "2099-01-01_00-00-00" / "fomm").rmdir()
        (app_settings.runs_dir / "2099-01-01_00-00-00").rmdir()
    assert newest_checkpoint(tmp_path / "nothing", "fomm") is None
    protocol = loop_face_protocol(found.run)
    assert (protocol.detector, protocol.policy, protocol.size, protocol.margin) == (
        "whole_frame",
        "tight",
        64,
        0.0,
    )
    assert protocol.frames_per_video == 4


def test_animation_keeps_frames_and_sound_and_writes_the_comparison(app_settings, short_driving):
    samples = ensure_samples(app_settings.samples_dir)
    output, comparison, summary = run_animation(
        app_settings, samples.portrait, short_driving, adapt_scale=False
    )
    assert _streams(output) == (6, 64, 1)
    assert _streams(comparison) == (6, 192, 1)
    assert RUN_NAME in summary and "6 frames" in summary


def test_both_motion_models_animate_in_every_mode_they_have(app_settings, short_driving):
    samples = ensure_samples(app_settings.samples_dir)
    output, _, summary = run_animation(
        app_settings, samples.portrait, short_driving, model="TPSMM", mode="avd"
    )
    assert _streams(output) == (6, 64, 1)
    assert "avd motion" in summary and "TPSMM" in summary and "/tpsmm/" in summary
    with pytest.raises(gr.Error, match="mode=avd needs a Thin-Plate-Spline"):
        page_errors(run_animation)(app_settings, samples.portrait, short_driving, mode="avd")


def test_without_weights_the_page_says_to_run_make_run(tmp_path, app_settings, short_driving):
    samples = ensure_samples(app_settings.samples_dir)
    settings = _empty_settings(tmp_path)
    with pytest.raises(gr.Error, match="make run") as animate_error:
        page_errors(run_animation)(settings, samples.portrait, short_driving)
    assert "give a checkpoint" in animate_error.value.message
    with pytest.raises(gr.Error, match="make run"):
        page_errors(run_detection)(settings, short_driving)
    summary, metrics, *_ = show_run(settings, None)
    assert "make run" in summary and metrics.empty


def test_bad_uploads_get_one_message_each(app_settings, tmp_path, short_driving):
    samples = ensure_samples(app_settings.samples_dir)
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all")
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(short_driving.read_bytes()[:600])
    huge = tmp_path / "huge.mp4"
    huge.write_bytes(short_driving.read_bytes() + bytes(6 * 2**20))
    cases = [
        (lambda: run_animation(app_settings, None, short_driving), "No portrait given"),
        (lambda: run_animation(app_settings, text, short_driving), "not an image"),
        (lambda: run_animation(app_settings, samples.portrait, text), "cannot be read as a video"),
        (lambda: run_detection(app_settings, samples.portrait), "is an image, not a video"),
        (lambda: run_detection(app_settings, corrupt), "cannot be read as a video"),
        (lambda: run_detection(app_settings, huge), "more than this app takes"),
        (lambda: run_detection(app_settings, tmp_path / "gone.mp4"), "does not exist"),
    ]
    for call, message in cases:
        with pytest.raises(gr.Error) as error:
            call()
        assert message in error.value.message


def test_unusable_weights_and_bugs_become_page_messages(app_settings, tmp_path, short_driving):
    samples = ensure_samples(app_settings.samples_dir)
    wrong = tmp_path / "wrong.ckpt"
    wrong.write_bytes(b"not a checkpoint")
    animate = page_errors(run_animation)
    with pytest.raises(gr.Error) as error:
        animate(app_settings, samples.portrait, short_driving, checkpoint=str(wrong))
    assert str(wrong) in error.value.message

    @page_errors
    def broken():
        raise KeyError("a bug")

    with pytest.raises(gr.Error, match="server log has the details"):
        broken()


def test_detection_shows_verdict_plot_overlay_and_faces(app_settings):
    samples = ensure_samples(app_settings.samples_dir)
    verdict, plot, overlay, faces = run_detection(app_settings, samples.driving)
    assert verdict.startswith("## REAL") or verdict.startswith("## FAKE")
    assert "probability (uncalibrated" in verdict and "whole_frame finder" in verdict
    assert len(faces) == 4 and faces["probability"].between(0, 1).all()
    assert plot.endswith("scores.png")
    frames, *_ = _streams(overlay)
    assert frames == 4  # one panel per scored face


def test_a_video_without_a_face_gets_no_verdict_but_a_reason(app_settings):
    samples = ensure_samples(app_settings.samples_dir)
    # OpenCV's frontal-face cascade does not see the cartoon heads.
    verdict, plot, overlay, faces = run_detection(
        app_settings, samples.driving, face_detector="haar"
    )
    assert verdict.startswith("**No face found**") and "haar" in verdict
    assert plot is None and overlay is None and faces.empty


def test_loop_tab_shows_a_runs_numbers_plots_and_animation(app_settings):
    assert report_runs(app_settings) == [RUN_NAME]
    summary, metrics, plots, animation, comparison, report = show_run(app_settings, RUN_NAME)
    assert RUN_NAME in summary and "1.0 min" in summary
    row = metrics.set_index("metric").loc["video_auc"]
    assert row["value"] == 0.75 and "AUC" in row["meaning"]
    assert [caption for _, caption in plots] == ["bitrate: bitrate_l1"]
    assert animation.endswith("animation.mp4") and comparison is None
    assert report.startswith("# deepfake-lab")
    with pytest.raises(gr.Error, match="No loop run"):
        show_run(app_settings, "elsewhere")


def test_the_http_api_detects_and_survives_bad_uploads(served_app, app_settings, tmp_path):
    from gradio_client import Client, handle_file

    samples = ensure_samples(app_settings.samples_dir)
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all")
    client = Client(served_app, verbose=False)
    with pytest.raises(Exception, match="cannot be read as a video"):
        client.predict(handle_file(str(text)), api_name="/detect")
    with pytest.raises(Exception, match="image file"):  # refused by gradio's image input
        client.predict(
            handle_file(str(samples.driving)),
            handle_file(str(samples.driving)),
            api_name="/animate",
        )
    verdict, plot, overlay, faces = client.predict(
        handle_file(str(samples.driving)), api_name="/detect"
    )
    assert "probability" in verdict and len(faces["data"]) == 4
    info = json.dumps(client.view_api(print_info=False, return_format="dict"))
    assert "/animate" in info and "/detect" in info


def test_the_verdict_shows_the_calibrated_probability_where_there_is_one():
    row = {"label": "fake", "score": 0.62, "frames_scored": 3, "frames_sampled": 4}
    plain = verdict_text(pd.Series(row), 0.5, "mtcnn", calibration_read=True)
    assert "uncalibrated" in plain and "**0.620**" in plain and "carry no calibration" in plain
    calibrated = pd.Series({**row, "label": "real", "score_calibrated": 0.31, "calibrated": True})
    text = verdict_text(calibrated, 0.5, "mtcnn", calibration_read=True)
    assert text.startswith("## REAL") and "calibrated probability" in text
    assert "**0.310**" in text and "uncalibrated" not in text
    missing = pd.Series({**row, "score_calibrated": float("nan"), "calibrated": False})
    assert "uncalibrated" in verdict_text(missing, 0.5, "mtcnn", calibration_read=True)
