"""The web app: both papers and the loop's reports in one page (``make app``).

Gradio is an optional dependency (the ``app`` extra, which ``make app`` installs on first
use), so only the modules that build the page import it; :mod:`loop.app.weights` and
:mod:`loop.app.samples` work without it.
"""
