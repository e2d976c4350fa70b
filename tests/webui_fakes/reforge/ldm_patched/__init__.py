"""Fake of reForge's (and Forge 1's) ``ldm_patched`` package: only the
memory manager the refinement adapter calls."""
