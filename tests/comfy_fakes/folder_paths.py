"""Fake ``folder_paths``: input/output/temp folders set by the test fixture,
and ComfyUI's save-path counter and annotated file names."""

import os

base = {"input": None, "output": None, "temp": None}


def get_input_directory():
    return base["input"]


def get_output_directory():
    return base["output"]


def get_temp_directory():
    return base["temp"]


def annotated_filepath(name):
    for tag, key in (("[output]", "output"), ("[input]", "input"), ("[temp]", "temp")):
        if name.endswith(tag):
            return name[: -len(tag) - 1], base[key]
    return name, None


def get_annotated_filepath(name, default_dir=None):
    name, folder = annotated_filepath(name)
    if folder is None:
        folder = default_dir if default_dir is not None else get_input_directory()
    return os.path.join(folder, name)


def exists_annotated_filepath(name):
    name, folder = annotated_filepath(name)
    return os.path.exists(os.path.join(folder or get_input_directory(), name))


def get_save_image_path(filename_prefix, output_dir, image_width=0, image_height=0):
    filename_prefix = filename_prefix.replace("%width%", str(image_width)).replace("%height%", str(image_height))
    subfolder = os.path.dirname(os.path.normpath(filename_prefix))
    filename = os.path.basename(os.path.normpath(filename_prefix))
    full_output_folder = os.path.join(output_dir, subfolder)
    if os.path.commonpath((output_dir, os.path.abspath(full_output_folder))) != output_dir:
        raise Exception("Saving image outside the output folder is not allowed.")
    counter = 1
    if os.path.isdir(full_output_folder):
        for f in os.listdir(full_output_folder):
            head, sep, rest = f.partition(filename + "_")
            if head == "" and sep:
                digits = rest.split("_")[0]
                if digits.isdigit():
                    counter = max(counter, int(digits) + 1)
    else:
        os.makedirs(full_output_folder, exist_ok=True)
    return full_output_folder, filename, counter, subfolder, filename_prefix
