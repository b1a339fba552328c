"""ONNX graphs of FOMM and TPSMM, their export (``python -m fomm.export``) and onnxruntime runners.

See docs/export.md for the graphs' inputs and outputs.
"""
