"""Detection: ONNX detector backends, tracker, zones and rules. Imports nothing above ingest."""
