"""Placing blocks of samples by index: repairs reordering, drops duplicates, reports gaps.

Pure and generic over numpy blocks of shape (n, ...), so audio (int16 samples) and
e-nose readings (rows of floats) share one tested implementation.
"""

import bisect
import logging
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Gap:
    """``n_samples`` samples starting at ``start_sample`` never arrived."""

    start_sample: int
    n_samples: int


class SampleAssembler:
    """Places blocks of samples at their index; reports gaps instead of filling them.

    Parameters
    ----------
    capacity : int
        Samples requested; blocks reaching beyond are rejected as conflicts.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._starts: list = []
        self._blocks: dict = {}
        self._highest_end = 0
        self.received_samples = 0
        self.duplicates = 0
        self.reordered = 0
        self.conflicts = 0

    def add(self, first: int, block: np.ndarray) -> None:
        """Add ``block`` (shape (n, ...)) holding samples ``first .. first + n - 1``."""
        end = first + len(block)
        known = self._blocks.get(first)
        if known is not None:
            if known.tobytes() == block.tobytes():
                self.duplicates += 1
            else:
                self.conflicts += 1
                logger.warning("conflicting data for samples from %s; kept the first copy", first)
            return
        pos = bisect.bisect_left(self._starts, first)
        overlaps_before = pos > 0 and self._starts[pos - 1] + len(self._blocks[self._starts[pos - 1]]) > first
        overlaps_after = pos < len(self._starts) and self._starts[pos] < end
        if end > self.capacity or overlaps_before or overlaps_after or not len(block):
            self.conflicts += 1
            logger.warning("rejecting block %s..%s (capacity %s, overlaps stored data)", first, end, self.capacity)
            return
        if first < self._highest_end:
            self.reordered += 1
        self._highest_end = max(self._highest_end, end)
        self._starts.insert(pos, first)
        self._blocks[first] = block
        self.received_samples += len(block)

    def assemble(self, total: int, *, fill_value, dtype, row_shape: tuple = ()) -> "tuple[np.ndarray, tuple]":
        """Return ``total`` samples with missing ranges filled by ``fill_value`` and listed as gaps."""
        out = np.full((total,) + row_shape, fill_value, dtype=dtype)
        gaps = []
        cursor = 0
        for first in self._starts:
            block = self._blocks[first]
            if first >= total:
                break
            if first > cursor:
                gaps.append(Gap(cursor, first - cursor))
            usable = block[: total - first]
            out[first : first + len(usable)] = usable
            cursor = first + len(usable)
        if cursor < total:
            gaps.append(Gap(cursor, total - cursor))
        return out, tuple(gaps)
