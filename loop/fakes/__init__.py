"""Deepfake datasets made by an animation model: real videos reenacted by other identities.

``python -m loop.fakes`` writes one (:mod:`loop.fakes.generate`); the detector's data
config ``data=fomm_fakes`` generates one on first use. Planning the pairs
(:mod:`loop.fakes.plan`), rendering them (:mod:`loop.fakes.render`), the output folder
and its resume (:mod:`loop.fakes.output`) and shards (:mod:`loop.fakes.shards`) are
apart.
"""
