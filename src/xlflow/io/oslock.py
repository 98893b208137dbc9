"""An OS lock on a file: held by one process at a time, freed by the OS when the holder dies (even kill -9).

The holder writes who it is (process, what it does, since when) after the locked byte, so a process that
waits can say who it waits for. Windows locks bytes (``msvcrt.locking``), POSIX the file (``flock``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

_TEXT_AT = 16  # the holder's words start past the locked byte (Windows cannot read a locked byte)


class Busy(Exception):
    """The lock is held by another process and did not come free in time."""

    def __init__(self, holder: str, waited: float):
        super().__init__(holder)
        self.holder, self.waited = holder, waited


class FileLock:
    """``with FileLock(path, "导入缴费明细"):`` — waits up to ``wait`` seconds, calling ``on_wait(holder,
    seconds waited)`` about every ``every`` seconds while it waits; raises :class:`Busy` after that."""

    def __init__(self, path: os.PathLike, doing: str, wait: float = 300.0,
                 on_wait: Callable[[str, float], None] | None = None, every: float = 2.0):
        self.path, self.doing, self.wait, self.on_wait, self.every = path, doing, wait, on_wait, every
        self._fh = None

    def __enter__(self) -> FileLock:
        fh = open(self.path, "a+b")  # noqa: SIM115  (held until __exit__)
        started = time.monotonic()
        told = started
        while not _try_lock(fh):
            waited = time.monotonic() - started
            if waited >= self.wait:
                holder = _holder(fh)
                fh.close()
                raise Busy(holder, waited)
            if self.on_wait is not None and time.monotonic() - told >= self.every:
                self.on_wait(_holder(fh), waited)
                told = time.monotonic()
            time.sleep(0.05)
        fh.seek(_TEXT_AT)
        fh.truncate()
        fh.write(f"进程 {os.getpid()}（{self.doing}，{time.strftime('%H:%M:%S')} 开始）".encode())
        fh.flush()
        self._fh = fh
        return self

    def __exit__(self, *exc) -> None:
        fh, self._fh = self._fh, None
        if fh is not None:
            try:
                fh.seek(_TEXT_AT)
                fh.truncate()
            except OSError:
                pass
            _unlock(fh)
            fh.close()


def _try_lock(fh) -> bool:
    try:
        if os.name == "nt":
            import msvcrt

            fh.seek(0)
            msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _unlock(fh) -> None:
    try:
        if os.name == "nt":
            import msvcrt

            fh.seek(0)
            msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    except OSError:
        pass


def _holder(fh) -> str:
    try:
        fh.seek(_TEXT_AT)
        return fh.read(400).decode("utf-8", "replace").strip() or "另一个进程"
    except OSError:
        return "另一个进程"
