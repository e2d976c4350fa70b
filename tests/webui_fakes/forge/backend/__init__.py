"""Fake of Forge 2's ``backend`` package (only what refinement uses)."""
