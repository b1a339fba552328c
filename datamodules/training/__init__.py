"""The run infrastructure both papers' training shares: one copy, in the layer below both.

Safe checkpoint loading (:mod:`.checkpoints`), which checkpoint a run kept
(:mod:`.selection`), resuming the right run (:mod:`.resume`), global batch sizes under
DDP (:mod:`.global_batch`), bf16 where it is native (:mod:`.precision`), one gradient
scaler update per multi-optimizer step (:mod:`.grad_scaler`), batch-norm sync that keeps
timm's fused layers (:mod:`.layer_sync`), image logging (:mod:`.image_logging`) and the
loggers a config group names (:mod:`.loggers`).

Why here: ``fomm`` and ``fakedetect`` both need these and may not import each other,
``train.py`` uses them, and none of it knows either paper.
"""
