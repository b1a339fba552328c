"""``python -m fomm.fakes`` moved to ``python -m loop.fakes``; this alias goes in the next release.

Why runpy rather than an import: the animation package may not import the loop above it
(the layer contract in ``pyproject.toml``); running the new command by name keeps it so.
"""

from __future__ import annotations

import runpy
import sys

if __name__ == "__main__":
    print("fomm.fakes moved: run `python -m loop.fakes` instead", file=sys.stderr)
    runpy.run_module("loop.fakes", run_name="__main__", alter_sys=True)
