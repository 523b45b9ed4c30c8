"""Sentinel: surveillance video in, governance alerts and grid cases out."""

__version__ = "0.1.0"
