"""`sentinel replay`: the camera pipeline over a recording, with annotated output."""
