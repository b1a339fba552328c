"""What the loop report says beside its numbers: how each stage and study is to be read.

The report (``report.md``, :mod:`loop.report`) is what a person opens after ``make run``;
these paragraphs make it readable on its own, without the docs: what each number
measures, what it is compared with, and when it means little. They describe the
measures, never results, which differ from run to run.
"""

from __future__ import annotations

FOMM = """\
How to read them: all three are the mean absolute pixel error (pixels in [0, 1]) of the
test videos reconstructed from their frame 0, the paper's protocol. `reconstruction_l1`
drives the model with every frame's keypoints; `reconstruction_l1_no_motion` copies
frame 0 to every frame (what standing still scores); `reconstruction_l1_frozen_keypoints`
drives this model with frame 0 itself (its generator's fidelity without motion). A model
whose keypoints carry motion scores clearly below its frozen-keypoint run; beating the
copy as well needs a generator sharp enough to keep what a copy keeps, which takes longer
to learn than the motion."""

FAKES = """\
How they are made: every real video's identity is animated by another identity's video
of the same split (relative motion, adapted scale: the official demo as a deepfake maker
runs it). Identities, not videos, are split, so no person crosses splits as face or as
motion, and the detector is tested on people it never saw. Reals and fakes are fitted to
the same size and written by the same H.264 encoder settings, so the detector can tell
them apart only by what the motion model did to the pixels, not by resolution or codec."""

DETECTOR = """\
How to read them: `video_auc` is the chance that a random fake test video scores above a
random real one (0.5 is guessing, 1 a perfect ranking), threshold-free; `frame_auc` the
same over single frames (a video's score is the sigmoid of its frames' mean logit, as in
the paper). `video_balanced_accuracy` judges the verdicts at score 0.5, so a detector
that ranks perfectly but is overconfident on real faces it never saw scores below its
AUC; `video_log_loss` punishes confident mistakes. With a handful of test videos a label
these are indications, not estimates: `pipeline=vox` gives numbers to cite."""

STUDIES = {
    "bitrate": """\
What it measures: each driving video is re-encoded with libx264 at each bitrate and used
to animate frame 0 of the original; the output is compared with the original frames, so
the codec's damage to the motion counts. `original` (the file itself) is the baseline of
every number. Per setting (`<measure>_<setting>`): `l1` (reconstruction error),
`l1_delta` (`l1` minus the original file's, same videos: the codec's cost alone),
`kp_jitter` (pixels: the keypoint trajectories minus their Gaussian smoothing over
`jitter_sigma` frames, i.e. flicker, not head motion), `kp_error` (pixels the keypoints
moved from where the original video puts them), `actual_bitrate` (what the video stream
really spent), `detector_score` (the detector on the output). A bitrate means something
only for a frame size: at 64 px libx264 spends at most about 190 kbit/s and at least
about 5 kbit/s, hence `bitrate_scale`; compare settings by `actual_bitrate`, and read the
notes, which say where the encoder missed its target.""",
    "pose": """\
What it measures: each driving video animates sources of the same identity (its own
frames, evenly spaced: the video is the ground truth, quality is `l1`) and of other
identities (no ground truth), twice each: with the motion measured from driving frame 0
(`frame0`) and from the driving frame posed most like the source (`best`, the official
demo's `--find_best_frame`). `pose_distance` is the distance between the source's pose
and driving frame 0's. Without ground truth, no-reference proxies stand in and are
checked against `l1` on the same-identity pairs (`spearman_proxy_*`): `pose_error` (does
the output take the driving pose?), `kp_consistency` (pixels between the keypoints found
in the output and those the generator was asked to draw), `detector_score`. Relative
motion assumes source and reference frame share a pose: errors growing with
`pose_distance` from frame 0 but not from the best frame is that assumption at work.
Distances of the `landmarks` and `keypoints` descriptors are on different scales; the
notes name the one used.""",
    "occlusion": """\
What it measures: every frame reconstructed from frame 0 with absolute keypoints, its
error (`l1`) against the share of the generator's occlusion map marked occluded:
`occluded_fraction` (pixels below the threshold) and `occlusion_mean` (one minus the
map's mean: the soft measure, which moves even when no pixel crosses the threshold).
Large head motion raises both occlusion and error, so the correlation is also given with
the motion partialled out (`pearson_soft_l1_given_motion`). A model trained briefly may
mark no pixel occluded: the hard measure is then constant and its correlations are null,
with that reason. On the embedded data the truth is known (a hand or an object crosses
the face in half the videos; `occlusion_events.csv`): `face_covered` is the share of the
face really hidden, `covered_frames` the frames with at least 10% of it hidden,
`auc_<measure>_true` how well each measure tells those frames from clean ones (0.5:
not at all), `pearson_<measure>_true` its correlation with the covered share, and
`<measure>_covered` / `_clean` and `l1_covered` / `l1_clean` the means on each kind.
With a TPSMM the two measures are of its finest mask (the one that blends the output);
its four masks, and their mean resized to the finest (`<measure>_combined`), are each
scored alike in `occlusion_measures.csv`.""",
    "robustness": """\
What it measures: every real and fake test video scored by the detector under each
perturbation (downscale, rotation, blur, noise, JPEG, H.264) at each strength, applied to
the decoded frames before face detection, as a re-uploaded video reaches a detector. The
unperturbed videos (`none`, and every perturbation's neutral strength) are the baseline:
`auc_clean`. Per perturbation: the AUC at the strongest strength and the worst AUC over
its strengths, and the mean real and fake scores at the strongest. An AUC that falls to
0.5 means the detector relies on what that perturbation removes (often fine texture); a
detector that gives every video the same score has not learned yet, and then its AUCs
say nothing about robustness.""",
}

OCCLUSION_COMPARISON = """\
How to read it: both motion models reconstruct the same test videos from frame 0 with
the occlusion study's settings (`cross_generator=true`). `output` is the map that blends
the generated frame (FOMM's only map, TPSMM's finest mask); `level0` to `level3` are
TPSMM's masks from the coarsest (1/8 of the frame side) to the finest (`level3` is
`output` again), `combined` their mean resized to the finest. `occluded_fraction` counts
the pixels below the threshold, `occlusion_mean` is one minus the map's mean (soft).
AUC: the frames with the face really covered told from clean ones by the measure (0.5:
not at all, below 0.5: the map marks less where the face is hidden); Pearson: with the
true covered share; Spearman: with the reconstruction L1, which also grows with head
motion. An untrained or briefly trained map is near constant: its AUCs then say little,
whichever the model."""

SBI = """\
What it is: a second detector, the supervised one's network and step budget (without
its augmentation, which hides the blends at 64 px), trained on the real training videos
only: each face crop paired with its self-blend (the face blended with a colour-,
sharpness- and geometry-changed copy of itself through a deformed, blurred face mask;
Shiohara & Yamasaki, CVPR 2022). Its index
has no fake outside the test split, so it is selected on the validation reals and their
self-blends and never meets a FOMM fake before its test, which uses exactly the supervised
detector's held-out videos. How to read it: the supervised detector has seen the fakes
it is tested on; this one tests whether the traces every blended face leaves are enough
to catch a generator it never saw. Higher balanced accuracy with lower AUC means better
calibrated, worse ranking; robustness AUCs compare the two under the same perturbations."""

CROSS_TABLE = """\
How to read it: each detector on each of the loop's test sets, the same held-out test
reals in both: `fomm_fakes` against the FOMM fakes of the test people, `self_blended`
against self-blended copies of those reals (every frame blended, written with the FOMM
fakes' encoder settings). Each detector is in-domain on one set and cross-domain on the
other: the supervised detector's `self_blended` column and the self-blended detector's
`fomm_fakes` column are the generalisation numbers. Every video is cropped and scored as
in the robustness study; a video's score is the sigmoid of its faces' mean logit. `eer`
is the equal error rate, `ece` the expected calibration error of the video scores."""

CALIBRATION = """\
How to read it: each detector's video logit mapped by a map fitted on a validation split
(never the test split): the supervised detector's own (FOMM val videos), the self-blended
one's own (val reals and their self-blended copies; it never meets a FOMM fake). A
temperature only rescales the logits, so balanced accuracy cannot change; Platt's map
also shifts them and moves the 0.5 threshold. ECE (expected calibration error, equal-width
bins of the fake probability) and log loss fall when the probabilities become honest;
balanced accuracy rises when the threshold moves to where the classes part. A map fitted
on one kind of fake and applied to another can make things worse: read the
cross-domain rows with that in mind. With a few validation videos the maps are rough."""
