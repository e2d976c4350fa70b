"""Fake ``comfy.model_management``: interruption as ComfyUI does it.

``interrupt_current_processing()`` sets the flag (the UI's Cancel);
``interrupt_after(n)`` sets it once ``n`` more checks have passed, to
interrupt a node in the middle of its loop. ``CHECKS`` counts the checks.
"""


class InterruptProcessingException(Exception):
    pass


interrupt_processing = False
CHECKS = 0
_countdown = None


def interrupt_current_processing(value=True):
    global interrupt_processing
    interrupt_processing = value


def interrupt_after(n):
    global _countdown
    _countdown = n


def processing_interrupted():
    return interrupt_processing


def throw_exception_if_processing_interrupted():
    global interrupt_processing, CHECKS, _countdown
    CHECKS += 1
    if _countdown is not None:
        if _countdown <= 0:
            interrupt_processing = True
            _countdown = None
        else:
            _countdown -= 1
    if interrupt_processing:
        interrupt_processing = False
        raise InterruptProcessingException()


LOADED = []


def get_torch_device():
    import torch

    return torch.device("cpu")


def load_models_gpu(models, *args, **kwargs):
    """Records which patchers a node asked to load (refinement loads its clone)."""
    LOADED.extend(models)
