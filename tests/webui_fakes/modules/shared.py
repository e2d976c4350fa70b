"""Fake of modules.shared: opts, OptionInfo, state, sd_model."""

import datetime
import sys
import time
import types


class OptionInfo:
    def __init__(self, default=None, label="", component=None, component_args=None, onchange=None, section=None,
                 refresh=None, comment_before="", comment_after="", infotext=None, restrict_api=False,
                 category_id=None):
        self.default = default
        self.label = label
        self.component = component
        self.component_args = component_args
        self.onchange = onchange
        self.section = section
        self.refresh = refresh
        self.comment_before = comment_before
        self.comment_after = comment_after
        self.category_id = category_id

    def info(self, info):
        self.comment_after += f"<span class='info'>({info})</span>"
        return self


class Options:
    def __init__(self):
        super().__setattr__("data", {"sd_model_checkpoint": None})
        super().__setattr__("data_labels", {})

    def add_option(self, key, info):
        self.data_labels[key] = info
        if key not in self.data:
            self.data[key] = info.default

    def __setattr__(self, key, value):
        if key in self.data_labels:
            self.data[key] = value
        else:
            super().__setattr__(key, value)

    def __getattr__(self, item):
        data = self.__dict__["data"]
        if item in data:
            return data[item]
        labels = self.__dict__["data_labels"]
        if item in labels:
            return labels[item].default
        raise AttributeError(f"'Options' object has no attribute '{item}'")


class State:
    skipped = False
    interrupted = False
    job = ""
    job_no = 0
    job_count = 0
    job_timestamp = "0"
    sampling_step = 0
    sampling_steps = 0
    textinfo = None
    time_start = None

    def __init__(self):
        self.history = []

    def skip(self):
        self.skipped = True

    def interrupt(self):
        self.interrupted = True

    def nextjob(self):
        self.job_no += 1
        self.sampling_step = 0

    def begin(self, job="(unknown)"):
        self.history.append(("begin", job))
        self.sampling_step = 0
        self.time_start = time.time()
        self.job_count = -1
        self.job_no = 0
        self.job_timestamp = datetime.datetime.now().strftime("%Y%m%d%H%M%S")
        self.skipped = False
        self.interrupted = False
        self.textinfo = None
        self.job = job

    def end(self):
        self.history.append(("end", self.job))
        self.job = ""
        self.job_count = 0


class CmdOpts:
    api_auth = None  # "user:password,..." with --api-auth


cmd_opts = CmdOpts()
opts = Options()
state = State()
demo = None


class Shared(types.ModuleType):
    """As in A1111, reForge and Forge (modules/shared_items.py): ``sd_model`` is
    a property of the module, ``sd_models.model_data.get_sd_model()``, which
    loads the checkpoint in A1111 and reForge and gives Forge's placeholder
    before its first generation."""

    @property
    def sd_model(self):
        import modules.sd_models

        return modules.sd_models.model_data.get_sd_model()

    @sd_model.setter
    def sd_model(self, value):
        import modules.sd_models

        modules.sd_models.model_data.set_sd_model(value)


sys.modules[__name__].__class__ = Shared
