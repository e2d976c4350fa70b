"""Fake of the old name of modules.infotext_utils (WebUI < 1.8)."""

from modules.infotext_utils import *  # noqa: F401,F403
from modules.infotext_utils import paste_fields, registered_param_bindings  # noqa: F401
