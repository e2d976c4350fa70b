"""Fake of modules.call_queue: the queue lock and wrap_gradio_gpu_call."""

import html
import threading
import time
from functools import wraps

from modules import shared

queue_lock = threading.Lock()
#: Names of the functions wrapped, for the tests.
wrapped = []


def wrap_gradio_gpu_call(func, extra_outputs=None):
    wrapped.append(func.__name__)

    @wraps(func)
    def f(*args, **kwargs):
        with queue_lock:
            shared.state.begin(job=None)
            try:
                res = func(*args, **kwargs)
            finally:
                shared.state.end()
        return res

    return wrap_gradio_call(f, extra_outputs=extra_outputs, add_stats=True)


def wrap_gradio_call(func, extra_outputs=None, add_stats=False):
    @wraps(func)
    def f(*args, extra_outputs_array=extra_outputs, **kwargs):
        t = time.perf_counter()
        try:
            res = list(func(*args, **kwargs))
        except Exception as e:
            if extra_outputs_array is None:
                extra_outputs_array = [None, ""]
            res = extra_outputs_array + [f"<div class='error'>{html.escape(f'{type(e).__name__}: {e}')}</div>"]
        shared.state.skipped = False
        shared.state.interrupted = False
        shared.state.job_count = 0
        if not add_stats:
            return tuple(res)
        res[-1] += f"<div class='performance'><p class='time'>Time taken: {time.perf_counter() - t:.1f} sec.</p></div>"
        return tuple(res)

    return f
