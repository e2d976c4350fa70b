"""Fake of reForge's ldm_patched/modules/model_management.py (3b56b268): the
calls the refinement adapter makes."""

#: The patchers loaded, in order.
loaded = []


def get_torch_device():
    import torch

    return torch.device("cpu")


def load_models_gpu(models, memory_required=0, force_patch_weights=False, minimum_memory_required=None,
                    force_full_load=False):
    loaded.extend(models)


def load_model_gpu(model):
    return load_models_gpu([model])
