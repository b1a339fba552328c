"""The app in a real browser: headless Chromium loads the page and runs every tab.

Debian's ``chromium`` drives it through Playwright (no browser download); where either is
missing the tests skip and say what to install (``make test-browser`` installs both).
Screenshots of each tab go to ``APP_SCREENSHOTS`` (default ``logs/test-browser/``).
"""

import os
import shutil
from pathlib import Path

import pytest

from app_media import NO_GRADIO, RUN_NAME

pytest.importorskip("gradio", reason=NO_GRADIO)
sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="playwright is not installed: `make test-browser` installs the app extra",
)

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = Path(os.environ.get("APP_SCREENSHOTS", ROOT / "logs" / "test-browser"))
# Gradio reports a finished event by filling its outputs; animation of the samples with
# the tiny test weights takes seconds, on a loaded CPU up to a minute.
WAIT_MS = 120_000

# Resolves when the video plays: metadata read, duration > 0 and the clock moving.
PLAYS = """async (video) => {
    video.muted = true;
    if (video.readyState < 1) {
        await new Promise((ok, fail) => {
            video.addEventListener('loadedmetadata', ok, {once: true});
            video.addEventListener('error', () => fail(new Error('video error')), {once: true});
        });
    }
    await video.play();
    const start = performance.now();
    while (video.currentTime === 0 && performance.now() - start < 10000) {
        await new Promise((ok) => setTimeout(ok, 50));
    }
    video.pause();
    return {duration: video.duration, time: video.currentTime};
}"""


@pytest.fixture(scope="module")
def browser_page(request):
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH: `apt-get install chromium` (make test-browser does)")
    served_app = request.getfixturevalue("served_app")  # only once there is a browser
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(WAIT_MS)
        page.goto(served_app)
        yield page
        browser.close()


def _played(page, selector):
    video = page.locator(f"{selector} video")
    video.wait_for(state="attached")
    return video.evaluate(PLAYS)


def test_animate_tab_uploads_the_samples_and_plays_the_result(browser_page, app_settings):
    from loop.app.samples import ensure_samples

    samples = ensure_samples(app_settings.samples_dir)
    page = browser_page
    page.get_by_role("tab", name="Animate").click()
    page.locator("#portrait input[type=file]").set_input_files(str(samples.portrait))
    page.locator("#driving input[type=file]").set_input_files(str(samples.driving))
    page.locator("#driving video").wait_for(state="attached")
    page.locator("#animate-button").click()
    page.locator("#animate-summary").get_by_text("frames at").wait_for()
    result = _played(page, "#result")
    comparison = _played(page, "#side-by-side")
    page.screenshot(path=SCREENSHOTS / "animate.png", full_page=True)
    assert result["duration"] > 0 and result["time"] > 0
    assert comparison["duration"] > 0
    assert RUN_NAME in page.locator("#animate-summary").inner_text()


def test_detect_tab_shows_the_verdict_plot_overlay_and_faces(browser_page, app_settings):
    from loop.app.samples import ensure_samples

    samples = ensure_samples(app_settings.samples_dir)
    page = browser_page
    page.get_by_role("tab", name="Detect").click()
    page.locator("#detect-video input[type=file]").set_input_files(str(samples.driving))
    page.locator("#detect-video video").wait_for(state="attached")
    page.locator("#detect-button").click()
    verdict = page.locator("#verdict")
    verdict.get_by_text("that the video is fake").wait_for()
    overlay = _played(page, "#attention")
    page.locator("#score-plot img").wait_for()
    page.screenshot(path=SCREENSHOTS / "detect.png", full_page=True)
    text = verdict.inner_text()
    assert "FAKE" in text or "REAL" in text
    assert "probability" in text and any(ch.isdigit() for ch in text)
    assert overlay["duration"] > 0
    assert page.locator("#frames-table").get_by_text("probability").count() >= 1


def test_bad_upload_shows_a_message_and_the_page_keeps_working(browser_page, tmp_path):
    page = browser_page
    page.reload()  # an empty page: the upload slot holds the last test's video
    page.get_by_role("tab", name="Detect").click()
    notes = tmp_path / "notes.mp4"
    notes.write_text("not a video at all")
    page.locator("#detect-video input[type=file]").set_input_files(str(notes))
    page.locator("#detect-button").click()
    page.get_by_text("cannot be read as a video").first.wait_for()
    page.screenshot(path=SCREENSHOTS / "detect_bad_upload.png", full_page=True)


def test_loop_tab_shows_the_newest_run(browser_page):
    page = browser_page
    page.reload()  # a fresh page load after the refused upload: the server still serves
    page.get_by_role("tab", name="Loop").click()
    page.locator("#loop-summary").get_by_text(RUN_NAME).wait_for()
    page.locator("#loop-metrics").get_by_text("video_auc").wait_for()
    page.locator("#loop-plots img").first.wait_for()
    animation = _played(page, "#loop-animation")
    page.screenshot(path=SCREENSHOTS / "loop.png", full_page=True)
    assert "0.75" in page.locator("#loop-metrics").inner_text()
    assert animation["duration"] > 0
