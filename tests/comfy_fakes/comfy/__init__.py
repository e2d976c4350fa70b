"""Fake ``comfy`` package for the node tests (see ../README.md)."""
