"""Cross-dataset evaluation: every detector on every test set, in one table.

``python -m fakedetect.crosseval`` (docs/crosseval.md), or from Python::

    from fakedetect.crosseval import cross_evaluate
    result = cross_evaluate({"b4": "b4.ckpt"}, {"celebdf": "celebdf.csv"}, "out/")
    result.table  # one row per detector, test set and subset (crosseval.csv)
"""

from fakedetect.crosseval.run import CrossEvaluation, cross_evaluate
from fakedetect.crosseval.scoring import ScoringOptions

__all__ = ["CrossEvaluation", "ScoringOptions", "cross_evaluate"]
