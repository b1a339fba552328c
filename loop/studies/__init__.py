"""Studies that make the two reports' hand-run experiments repeatable (see docs/loop.md).

Each study is a function taking already loaded models, so a training pipeline can call
it in process, and a Hydra config (``conf/study/<name>.yaml``) that names it with
``_target_``: ``python -m loop.studies study=<bitrate|pose|occlusion|robustness>``.
"""
