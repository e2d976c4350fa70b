"""Fake of modules.infotext_utils (paste fields and send-to bindings)."""

import sys


class ParamBinding:
    def __init__(self, paste_button, tabname, source_text_component=None, source_image_component=None,
                 source_tabname=None, override_settings_component=None, paste_field_names=None):
        self.paste_button = paste_button
        self.tabname = tabname
        self.source_text_component = source_text_component
        self.source_image_component = source_image_component
        self.source_tabname = source_tabname
        self.override_settings_component = override_settings_component
        self.paste_field_names = paste_field_names or []


paste_fields = {}
registered_param_bindings = []


def reset():
    paste_fields.clear()
    registered_param_bindings.clear()


def add_paste_fields(tabname, init_img, fields, override_settings_component=None):
    paste_fields[tabname] = {"init_img": init_img, "fields": fields,
                             "override_settings_component": override_settings_component}


def register_paste_params_button(binding):
    registered_param_bindings.append(binding)


def connect_paste_params_buttons():
    """Checks what the WebUI's version would look up (it then wires the
    clicks: image_from_url_text into init_img, then switch_to_<tabname>)."""
    connected = []
    for binding in registered_param_bindings:
        destination = paste_fields[binding.tabname]["init_img"]  # KeyError like the WebUI's
        connected.append((binding.source_image_component, destination, f"switch_to_{binding.tabname}"))
    return connected


sys.modules.setdefault("modules.generation_parameters_copypaste", sys.modules[__name__])
