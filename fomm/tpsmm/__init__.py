"""Thin-Plate-Spline Motion Model (Zhao & Zhang, CVPR 2022), beside FOMM in the animation package.

``nets`` holds the networks (state-dict compatible with the official code), ``losses``
the training losses, ``checkpoint`` the import of published checkpoints (reached through
``fomm.load_official_checkpoint``) and ``inference`` the demo's animation modes.
"""
