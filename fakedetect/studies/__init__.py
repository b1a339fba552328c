"""Moved to :mod:`loop.studies`; only the ``python -m fakedetect.studies`` alias is left here."""
