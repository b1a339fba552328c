"""``python -m fakedetect.studies`` moved to ``python -m loop.studies``; the alias goes soon.

Why runpy rather than an import: the detector package may not import the loop above it
(the layer contract in ``pyproject.toml``); running the new command by name keeps it so.
"""

from __future__ import annotations

import runpy
import sys

if __name__ == "__main__":
    print("fakedetect.studies moved: run `python -m loop.studies` instead", file=sys.stderr)
    runpy.run_module("loop.studies", run_name="__main__", alter_sys=True)
