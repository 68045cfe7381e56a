"""The report of ``python -m marginloss bench``: its progress bar and its table."""

import shutil
import sys
from dataclasses import dataclass


class Progress:
    """A one-line progress bar on a terminal, plain lines elsewhere.

    Parameters
    ----------
    total : int
        Number of steps.
    stream : file, default=sys.stderr
        Where to write.  When it is a TTY the bar rewrites itself with a
        carriage return; otherwise each step is a line of its own.
    """

    WIDTH = 20

    def __init__(self, total, stream=None):
        self.total = total
        self.done = 0
        self.stream = sys.stderr if stream is None else stream
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._length = 0

    def start(self, label):
        """Announce the step about to run."""
        count = f"{self.done + 1}/{self.total}"
        if not self.tty:
            self.stream.write(f"bench [{count}] {label}\n")
        else:
            filled = self.WIDTH * self.done // max(self.total, 1)
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            line = f"[{bar}] {count} {label}"
            columns = shutil.get_terminal_size((80, 24)).columns - 1
            line = line[:columns]
            self.stream.write("\r" + line.ljust(self._length))
            self._length = len(line)
        self.stream.flush()

    def finish_step(self):
        """Count the step as done."""
        self.done += 1

    def close(self):
        """Erase the bar (on a TTY)."""
        if self.tty and self._length:
            self.stream.write("\r" + " " * self._length + "\r")
            self.stream.flush()


@dataclass
class Row:
    """The measurements of one problem on one thread count (seconds, or None)."""

    problem: object  # a bench.Problem
    threads: int
    ours: float
    ours_alloc: float
    numpy: float | None
    torch: float | None
    copy: float


def _milliseconds(seconds):
    if seconds is None:
        return "skipped"
    ms = 1e3 * seconds
    for limit, digits in ((0.01, 4), (1, 3), (10, 2), (100, 1)):
        if ms < limit:
            return f"{ms:.{digits}f}"
    return f"{ms:.0f}"


def _ratio(numerator, denominator):
    if numerator is None or denominator is None:
        return "-"
    ratio = numerator / denominator
    return f"{ratio:.2f}" if ratio < 10 else f"{ratio:.1f}"


COLUMNS = ("problem", "threads", "ours", "ours+alloc", "numpy", "torch", "copy",
           "ours/copy", "torch/ours", "numpy/ours")


def format_table(rows):
    """The rows as an aligned text table (times in ms), one line per row.

    Parameters
    ----------
    rows : list of Row

    Returns
    -------
    str
        A header line with ``COLUMNS``, a rule, then the rows; the problem is
        left-aligned, every other column right-aligned.
    """
    cells = [COLUMNS]
    for row in rows:
        cells.append((
            row.problem.title(),
            str(row.threads),
            _milliseconds(row.ours),
            _milliseconds(row.ours_alloc),
            _milliseconds(row.numpy),
            _milliseconds(row.torch),
            _milliseconds(row.copy),
            _ratio(row.ours, row.copy),
            _ratio(row.torch, row.ours),
            _ratio(row.numpy, row.ours),
        ))
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]

    def line(values):
        first = values[0].ljust(widths[0])
        rest = (value.rjust(width) for value, width in zip(values[1:], widths[1:]))
        return "  ".join((first, *rest)).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(cells[0]), rule] + [line(values) for values in cells[1:]])
