"""The loop: what joins the two papers, above both of them.

Deepfakes made with an animation model (:mod:`loop.fakes`), the four studies that stress
the animation model and the detector (:mod:`loop.studies`), and the loop that runs them
all on one dataset and writes a report (:mod:`loop.run`, :mod:`loop.report`;
``python -m loop``, which is ``make run``). It imports ``fomm``, ``fakedetect`` and
``datamodules``; nothing below imports it (``docs/architecture.md``, the layer table).
"""
