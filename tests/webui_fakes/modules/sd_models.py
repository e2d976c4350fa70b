"""Fake of modules.sd_models as A1111 (dev, 1937682a) and reForge (3b56b268)
have it: ``model_data.get_sd_model()``, which ``shared.sd_model`` reads,
loads the selected checkpoint synchronously the first time (A1111's start-up
thread does the same), and a failed load leaves ``sd_model`` None and is
tried again on the next read. Loading nothing but on a read is the point:
the tests count the loads (``load_calls``) and check the queue lock.

Forge (dfdcbab) replaces this module: see ``forge/sd_models.py``.
"""

import sys
import threading

#: What ``load_model`` loads: ``loader(checkpoint_info)`` returns the model;
#: None is a WebUI without checkpoints (A1111's select_checkpoint raises).
loader = None
#: One entry per load: whether the WebUI's queue lock was held.
load_calls = []


class CheckpointInfo:
    def __init__(self, filename, title=None):
        self.filename = filename
        self.name = self.name_for_extra = filename.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        self.title = title or filename.rsplit("/", 1)[-1]


class SdModelData:
    def __init__(self):
        self.sd_model = None
        self.loaded_sd_models = []
        self.was_loaded_at_least_once = False
        self.lock = threading.Lock()

    def get_sd_model(self):
        if self.was_loaded_at_least_once:
            return self.sd_model

        if self.sd_model is None:
            with self.lock:
                if self.sd_model is not None or self.was_loaded_at_least_once:
                    return self.sd_model

                try:
                    load_model()
                except Exception as e:
                    print(f"*** Error loading stable diffusion model: {e}", file=sys.stderr)
                    print("Stable diffusion model failed to load", file=sys.stderr)
                    self.sd_model = None

        return self.sd_model

    def set_sd_model(self, v, already_loaded=False):
        self.sd_model = v
        if v is not None and v not in self.loaded_sd_models:
            self.loaded_sd_models.insert(0, v)


model_data = SdModelData()


def select_checkpoint():
    from modules import shared

    if loader is None:
        raise FileNotFoundError("No checkpoints found. When searching for checkpoints, looked at:\n - directory "
                                "models/Stable-diffusionCan't run without a checkpoint. Find and place a .ckpt "
                                "or .safetensors file into any of those locations.")
    return CheckpointInfo(shared.opts.data.get("sd_model_checkpoint") or "model.safetensors")


def load_model(checkpoint_info=None, already_loaded_state_dict=None):
    from modules import call_queue, shared

    load_calls.append(call_queue.queue_lock.locked())
    checkpoint_info = checkpoint_info or select_checkpoint()
    model_data.sd_model = None
    sd_model = loader(checkpoint_info)
    shared.opts.data["sd_model_checkpoint"] = checkpoint_info.title
    sd_model.sd_checkpoint_info = checkpoint_info
    model_data.set_sd_model(sd_model)
    model_data.was_loaded_at_least_once = True
    return sd_model
