"""Face extraction: from videos to the face crops and tables the detectors train on.

``python -m datamodules.extraction videos=PATH output=DIR`` (:mod:`.extract`) samples
frames, detects faces (:mod:`datamodules.face_detection`), crops them by the ICPR 2020
paper's policies (:mod:`.crops`, :mod:`.crop_landmarks`) and keeps the resumable
bookkeeping of the folder (:mod:`.log`, :mod:`.shards`). It sits in the data layer
because the face data module runs it on first use and both the detector's prediction
and the loop's studies crop faces the same way.
"""
