"""pytest fixtures; plain helpers live in helpers.py."""

import pytest


@pytest.fixture
def outdir(tmp_path):
    d = tmp_path / "out"
    d.mkdir()
    return d
