"""Fake of Forge's modules/sd_models.py (lllyasviel main, dfdcbab), which
replaces A1111's: until the first generation ``model_data.sd_model`` (so
``shared.sd_model``) is a ``FakeInitialModel`` placeholder, not None; the
checkpoint chosen in the menu only sets ``forge_loading_parameters``, and
``forge_model_reload()`` loads it (processing.py calls it under the queue
lock before every generation) unless it is already the loaded one.

The ``forge`` fixture of tests/test_webui.py puts this module in place of
``modules.sd_models``.
"""

import math

from modules.sd_models import CheckpointInfo  # noqa: F401  (the tests make checkpoint infos with it)

#: ``loader(checkpoint_info)`` returns the model (Forge's forge_loader).
loader = None
#: One entry per real load: whether the WebUI's queue lock was held.
load_calls = []


# This is a dummy class for backward compatibility when model is not load - for extensions like prompt all in one.
class FakeInitialModel:
    def __init__(self):
        self.cond_stage_model = None
        self.chunk_length = 75

    def get_prompt_lengths_on_ui(self, prompt):
        r = len(prompt.strip('!,. ').replace(' ', ',').split(','))
        return r, math.ceil(max(r, 1) / self.chunk_length) * self.chunk_length


class SdModelData:
    def __init__(self):
        self.sd_model = FakeInitialModel()
        self.forge_loading_parameters = {}
        self.forge_hash = ''

    def get_sd_model(self):
        return self.sd_model

    def set_sd_model(self, v):
        self.sd_model = v


model_data = SdModelData()


def select(checkpoint_info):
    """What Forge's checkpoint menu does (main_entry.refresh_model_loading_parameters)."""
    model_data.forge_loading_parameters = dict(checkpoint_info=checkpoint_info, additional_modules=[],
                                               unet_storage_dtype=None)


def forge_model_reload():
    from modules import call_queue, shared

    current_hash = str(model_data.forge_loading_parameters)

    if model_data.forge_hash == current_hash:
        return model_data.sd_model, False

    load_calls.append(call_queue.queue_lock.locked())
    if model_data.sd_model:
        model_data.sd_model = None

    checkpoint_info = model_data.forge_loading_parameters['checkpoint_info']

    if checkpoint_info is None:
        raise ValueError('You do not have any model! Please download at least one model in [models/Stable-diffusion].')

    sd_model = loader(checkpoint_info)
    sd_model.sd_checkpoint_info = checkpoint_info
    sd_model.filename = checkpoint_info.filename
    shared.opts.data["sd_model_checkpoint"] = checkpoint_info.title
    model_data.set_sd_model(sd_model)
    model_data.forge_hash = current_hash
    return sd_model, True
