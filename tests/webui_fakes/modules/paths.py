"""Fake of modules.paths: the WebUI's folders (a test sets data_path)."""

import os

script_path = os.getcwd()
data_path = script_path
