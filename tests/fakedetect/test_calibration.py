"""Calibration maps fitted on validation logits, judged on separate test logits."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from pipeline_checkpoints import write_tiny_checkpoint

from fakedetect.calibration import (
    Calibration,
    calibrated_ensemble_logits,
    calibration_measures,
    fit_calibration,
)
from fakedetect.calibration_callback import ValidationCalibration
from fakedetect.calibration_store import read_calibration, sidecar_path, write_sidecar
from fakedetect.reliability import expected_calibration_error, reliability_bins


def biased_logits(rng, count):
    """The loop's failure: perfect ranking, but every real video scores ~0.91 or more."""
    labels = np.r_[np.zeros(count), np.ones(count)]
    logits = np.r_[rng.normal(2.5, 0.6, count), rng.normal(6.0, 1.0, count)]
    return logits, labels


def overconfident_logits(rng, count):
    """Unbiased but ten times too sure: true logits N(+-1, 1), scaled by 10."""
    labels = rng.integers(0, 2, count).astype(float)
    return 10 * rng.normal(2 * labels - 1, 1.0), labels


def test_ece_of_known_bins():
    probabilities = np.array([0.1, 0.1, 0.9, 0.9])
    labels = np.array([0, 1, 1, 1])
    # bin of 0.1: 1/2 fake vs 0.1 -> 0.4; bin of 0.9: all fake vs 0.9 -> 0.1; equal weights
    assert expected_calibration_error(probabilities, labels, bins=10) == pytest.approx(0.25)
    table = reliability_bins(probabilities, labels, bins=10)
    assert table["count"].tolist() == [2, 2]
    assert expected_calibration_error(np.array([1.0]), np.array([1]), bins=5) == 0.0


def test_platt_fixes_a_bias_that_a_temperature_cannot():
    rng = np.random.default_rng(0)
    val_logits, val_labels = biased_logits(rng, 30)
    test_logits, test_labels = biased_logits(rng, 300)
    before = calibration_measures(test_logits, test_labels)
    assert before["bacc"] == 0.5 and before["ece"] > 0.3

    platt = fit_calibration(val_logits, val_labels, method="platt")
    after = calibration_measures(platt.apply(test_logits), test_labels)
    assert platt.bias < 0
    assert after["ece"] < 0.1 < before["ece"] and after["nll"] < 0.5 * before["nll"]
    assert after["bacc"] > 0.95

    temperature = fit_calibration(val_logits, val_labels, method="temperature")
    softened = calibration_measures(temperature.apply(test_logits), test_labels)
    assert temperature.bias == 0.0
    assert softened["bacc"] == 0.5  # no temperature moves a logit across 0
    assert softened["ece"] > 0.3 and softened["nll"] > after["nll"]


def test_temperature_softens_overconfident_logits():
    rng = np.random.default_rng(1)
    val_logits, val_labels = overconfident_logits(rng, 400)
    test_logits, test_labels = overconfident_logits(rng, 2000)
    calibration = fit_calibration(val_logits, val_labels, method="temperature")
    assert 5 < calibration.temperature < 20  # the true factor is 10
    before = calibration_measures(test_logits, test_labels)
    after = calibration_measures(calibration.apply(test_logits), test_labels)
    assert after["ece"] < 0.5 * before["ece"] and after["nll"] < 0.5 * before["nll"]
    assert calibration.after["nll"] < calibration.before["nll"]


def test_separable_validation_gives_a_finite_map_and_bad_input_is_named():
    calibration = fit_calibration(np.array([1.0, 2, 3, 10, 11]), np.array([0, 0, 0, 1, 1]))
    assert np.isfinite(calibration.slope) and calibration.slope < 5
    assert calibration.probability(np.array([2.0]))[0] < 0.5 < calibration.probability(10.0)
    with pytest.raises(ValueError, match="real and fake videos; val has 2 real and 0 fake"):
        fit_calibration(np.array([1.0, 2.0]), np.array([0, 0]))
    with pytest.raises(ValueError, match="method"):
        fit_calibration(np.array([1.0, 2.0]), np.array([0, 1]), method="isotonic")
    with pytest.raises(ValueError, match="finite"):
        fit_calibration(np.array([np.nan, 2.0]), np.array([0, 1]))


def test_record_round_trip_and_ensembles():
    calibration = fit_calibration(np.array([1.0, 2, 5, 6]), np.array([0, 0, 1, 1]), step=7)
    record = json.loads(json.dumps(calibration.to_dict()))
    assert {"temperature", "ece_before", "ece_after", "nll_before", "nll_after"} <= set(record)
    again = Calibration.from_dict(record)
    assert again.apply(3.0) == pytest.approx(calibration.apply(3.0)) and again.step == 7
    assert Calibration.from_dict({"temperature": 2.0}).apply(4.0) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="positive"):
        Calibration.from_dict({"slope": -1.0})

    members = {"a": np.array([1.0, -1.0]), "b": np.array([3.0, 0.0])}
    shift = Calibration("platt", slope=1.0, bias=-1.0)
    halve = Calibration("temperature", slope=0.5, bias=0.0)
    combined = calibrated_ensemble_logits(members, {"a": shift, "b": halve})
    np.testing.assert_allclose(combined, [(0.0 + 1.5) / 2, (-2.0 + 0.0) / 2])
    assert calibrated_ensemble_logits(members, {"a": shift, "b": None}) is None


def test_sidecar_and_checkpoint_records(tmp_path, caplog):
    weights = write_tiny_checkpoint(tmp_path / "det.ckpt")
    assert read_calibration(weights) is None
    content = torch.load(weights, weights_only=True)
    content["calibration"] = Calibration("platt", 2.0, -1.0, samples=10).to_dict()
    torch.save(content, weights)
    assert read_calibration(weights).slope == 2.0

    pth = tmp_path / "published.pth"
    pth.write_bytes(b"weights")
    write_sidecar(pth, Calibration("temperature", 0.25, 0.0))
    assert sidecar_path(pth).name == "published.pth.calibration.json"
    assert read_calibration(pth).temperature == pytest.approx(4.0)
    # The sidecar wins over the checkpoint's own record.
    write_sidecar(weights, Calibration("temperature", 0.5, 0.0))
    assert read_calibration(weights).slope == 0.5
    # Replaced weights do not inherit the old map.
    pth.write_bytes(b"other weights")
    assert read_calibration(pth) is None and "fitted for other weights" in caplog.text
    sidecar_path(pth).write_text("{not json")
    with pytest.raises(ValueError, match="not a readable calibration"):
        read_calibration(pth)


def test_callback_stores_a_map_only_with_the_weights_it_was_fitted_for():
    callback = ValidationCalibration()
    logits = torch.tensor([-1.0, 0.5, 2.0, 3.0], dtype=torch.float64)
    labels = torch.tensor([0.0, 0.0, 1.0, 1.0])
    module = SimpleNamespace(
        calibration=None, latest_scores={"val": {"videos": {"logit": logits, "label": labels}}}
    )
    trainer = SimpleNamespace(global_step=10, sanity_checking=False, ckpt_path=None)
    callback.on_validation_end(trainer, module)
    assert module.calibration.step == 10
    trainer.global_step = 12  # no new validation scores: the map fitted at step 10 stays
    callback.on_validation_end(trainer, module)
    assert module.calibration.step == 10
    trainer.global_step = 10
    checkpoint = {}
    callback.on_save_checkpoint(trainer, module, checkpoint)
    assert checkpoint["calibration"]["step"] == 10
    trainer.global_step = 11  # a periodic last.ckpt after more training: no stale map
    later = {}
    callback.on_save_checkpoint(trainer, module, later)
    assert "calibration" not in later
    callback.on_test_start(trainer, module)
    assert module.calibration is None

    # One class only (e.g. a tiny validation split): no map, no crash.
    module.latest_scores = {"val": {"videos": {"logit": logits, "label": torch.zeros(4)}}}
    callback.on_validation_end(trainer, module)
    assert module.calibration is None
    with pytest.raises(ValueError, match="method"):
        ValidationCalibration(method="isotonic")
