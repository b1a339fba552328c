"""``python -m fakedetect.loop`` moved to ``python -m loop``; this alias goes in the next release.

Why runpy rather than an import: the detector package may not import the loop above it
(the layer contract in ``pyproject.toml``); running the new command by name keeps it so.
"""

from __future__ import annotations

import runpy
import sys

if __name__ == "__main__":
    print("fakedetect.loop moved: run `python -m loop` instead", file=sys.stderr)
    runpy.run_module("loop", run_name="__main__", alter_sys=True)
