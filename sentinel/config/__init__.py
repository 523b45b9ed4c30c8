"""Typed configuration (pydantic, unknown keys refused) and the YAML loader with FILE:LINE errors."""
