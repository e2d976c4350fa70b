"""Fake of Forge's backend/memory_management.py: the two calls the refinement
adapter makes (``load_model_gpu`` of a UnetPatcher clone, and the device)."""

#: The patchers loaded, in order.
loaded = []


def get_torch_device():
    import torch

    return torch.device("cpu")


def load_models_gpu(models, memory_required=0, hard_memory_preservation=0):
    loaded.extend(models)


def load_model_gpu(model):
    return load_models_gpu([model])
