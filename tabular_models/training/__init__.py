"""Training, calibration and ONNX export of the lab and breath models (needs the ``train`` extra)."""
