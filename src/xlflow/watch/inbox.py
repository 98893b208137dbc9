"""What waits in the inbox, whether each copy is complete, and the file events that wake the watcher."""

from __future__ import annotations

import os
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

from xlflow.watch.files import _container, _hidden, _utf8, _whole_compound_file, ignored


class Inbox:
    """The inbox folder looked at again and again: each file's size as last seen, and the entries no work
    can be done on (with why and what to do)."""

    def __init__(self, folder: Path, settle: float, broken_after: float, first_seen: Callable[[Path], None]):
        self.folder = folder
        self.settle = settle  # seconds a file must be unchanged before it is touched
        # A zip that still does not open when unchanged this long is processed anyway (→ F01, failed folder).
        self.broken_after = broken_after
        self.first_seen = first_seen  # told of each file the first time it is seen
        self.seen: dict[Path, tuple[int, float]] = {}  # path → (size, when first seen at that size)
        self.refusals: list[tuple[Path, str, str]] = []

    def ready(self, wait_for_stable: bool = True) -> list[tuple[float, Path]]:
        """(modification time, path) of each input ready to process: complete (unchanged for ``settle``
        seconds, a zip that opens, a file that can be opened for reading), not a lock, temporary or hidden
        file. What can never be processed (a link, a pipe, a name that is not UTF-8) is in ``refusals``."""
        now, clock = time.time(), time.monotonic()
        ready = []
        current: dict[Path, tuple[int, float]] = {}
        for path in self._walk(self.folder):
            try:
                st = path.stat()
            except OSError:
                continue
            before = self.seen.get(path)
            if before is None:
                self.first_seen(path)
            current[path] = before if before and before[0] == st.st_size else (st.st_size, clock)
            age = now - st.st_mtime
            if age < self.settle:
                continue
            if wait_for_stable and before is not None and before[0] != st.st_size:
                continue  # grown since the last look: still being written
            unchanged = max(age, clock - current[path][1])
            if self.settle and before is None and _container(path) is None:
                continue  # text has no end marker: it must look the same twice, the settle time apart
            if not self._complete(path, unchanged):
                continue
            ready.append((st.st_mtime, path))
        self.seen = current
        return ready

    def _walk(self, folder: Path):
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            if ignored(entry.name):
                continue
            path = Path(entry.path)
            try:
                if _hidden(path):
                    continue
                if entry.is_symlink():
                    self.refusals.append((path, "是快捷方式（符号链接），不是文件本身",
                                           "请把文件本身复制进待处理文件夹，不要放快捷方式。"))
                elif not _utf8(entry.name):
                    self.refusals.append((path, "文件名中有无法识别的字符（不是 UTF-8 编码的文件名）",
                                           "请把文件改成普通的中文或英文名后重新放入。"))
                elif entry.is_dir(follow_symlinks=False):
                    yield from self._walk(path)
                elif entry.is_file(follow_symlinks=False):
                    yield path
                else:
                    self.refusals.append((path, "不是普通文件（可能是管道或设备）", "请放入表格文件本身。"))
            except OSError:
                continue

    def _complete(self, path: Path, unchanged: float) -> bool:
        try:
            with open(path, "rb"):
                pass  # Windows refuses while the copy still holds the file
        except OSError:
            return False
        container = _container(path)
        if container == "zip" and unchanged < self.broken_after:
            try:
                with zipfile.ZipFile(path):
                    pass  # the central directory comes last: a partial copy has none
            except (zipfile.BadZipFile, OSError):
                return False
        if container == "ole" and unchanged < self.broken_after:
            return _whole_compound_file(path)
        return True


def _observe(folder: Path, wake: threading.Event):
    """A watchdog observer that sets ``wake`` on any change in ``folder``; None if events are unavailable."""
    try:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer
    except ImportError:
        return None

    class Wake(FileSystemEventHandler):
        def on_any_event(self, event) -> None:
            wake.set()

    observer = Observer()
    try:
        observer.schedule(Wake(), str(folder), recursive=True)
        observer.start()
    except OSError:
        return None
    return observer
