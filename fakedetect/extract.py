"""``python -m fakedetect.extract`` moved to ``python -m datamodules.extraction`` (one release).

Face extraction is the data layer's now (the face data module runs it on first use).
"""

from __future__ import annotations

import runpy
import sys

if __name__ == "__main__":
    print(
        "fakedetect.extract moved: run `python -m datamodules.extraction` instead", file=sys.stderr
    )
    runpy.run_module("datamodules.extraction", run_name="__main__", alter_sys=True)
