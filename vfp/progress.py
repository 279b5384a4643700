"""Progress of a run over simulated time, fit for a terminal and for a log file.

On a terminal (``stream.isatty()``) a tqdm bar is redrawn in place. Anywhere else (a log
file, a pipe, a batch system's output) a bar would write hundreds of carriage-return
updates, so :class:`Progress` prints one plain line per snapshot instead::

    grid: snapshot 3/5 at t = 1 (0.8 s, 1204 steps)
"""

from __future__ import annotations

import sys
import time

__all__ = ["Progress"]


class Progress:
    """Progress of one stage (``grid``, ``particles``) from t = 0 to ``t_end``.

    Parameters
    ----------
    label : str
        Stage name printed in front of every update.
    t_end : float
        Final simulated time (the bar's total).
    n_snapshots : int, optional
        Number of snapshots, for the "k/n" count of the line mode.
    enabled : bool
        False: print nothing at all (``--quiet``).
    stream : file-like, optional
        Where to write (default ``sys.stderr``); its ``isatty()`` picks the mode.

    Notes
    -----
    Call the object after each compiled chunk with the current time (``progress(t,
    n_steps)``), and :meth:`snapshot` when a snapshot is reached. :attr:`mode` is
    ``"bar"``, ``"lines"`` or ``None`` (disabled).
    """

    def __init__(self, label: str, t_end: float, n_snapshots: int | None = None,
                 enabled: bool = True, stream=None):
        self.label = label
        self.t_end = float(t_end)
        self.n_snapshots = n_snapshots
        self.stream = sys.stderr if stream is None else stream
        self.t = 0.0
        self.n_steps = None
        self.start = time.perf_counter()
        self.bar = None
        if not enabled:
            self.mode = None
        else:
            isatty = getattr(self.stream, "isatty", None)
            self.mode = "bar" if callable(isatty) and isatty() else "lines"
        if self.mode == "bar":
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.t_end, desc=label, unit="t", file=self.stream,
                            bar_format="{desc:>10}: {percentage:3.0f}%|{bar}| "
                                       "t={n:.3g}/{total:.3g} [{elapsed}<{remaining}]")

    def __call__(self, t, n_steps=None):
        """Record progress to simulated time ``t`` (after a compiled chunk)."""
        if self.bar is not None:
            self.bar.update(max(0.0, float(t) - self.t))
            if n_steps is not None:
                self.bar.set_postfix_str(f"{n_steps} steps", refresh=False)
        self.t = float(t)
        if n_steps is not None:
            self.n_steps = int(n_steps)

    def snapshot(self, index: int, t: float):
        """Snapshot ``index`` (0-based) reached at time ``t``: one line in line mode."""
        if self.mode != "lines":
            return
        count = f"{index + 1}/{self.n_snapshots}" if self.n_snapshots else f"{index + 1}"
        steps = f", {self.n_steps} steps" if self.n_steps is not None else ""
        elapsed = time.perf_counter() - self.start
        print(f"{self.label}: snapshot {count} at t = {float(t):.6g} ({elapsed:.1f} s{steps})",
              file=self.stream, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
