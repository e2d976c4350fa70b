"""Fake ``comfy.utils``: a ProgressBar that records what the nodes report."""

#: Every ProgressBar made, in order (tests read and clear it).
BARS = []


class ProgressBar:
    def __init__(self, total, node_id=None):
        self.total = total
        self.current = 0
        self.updates = []
        BARS.append(self)

    def update_absolute(self, value, total=None, preview=None):
        if total is not None:
            self.total = total
        self.current = min(value, self.total)
        self.updates.append(self.current)

    def update(self, value):
        self.update_absolute(self.current + value)
