"""The ledger's plain words for what goes wrong with the file (sqlite and OS errors), and its OS lock."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from xlflow.errors import XlflowError
from xlflow.io.oslock import Busy, FileLock

if TYPE_CHECKING:
    from xlflow.store.ledger import Ledger


class LedgerError(XlflowError):
    """The ledger file cannot be used (not a ledger, newer than this xlflow, locked, damaged, read-only)."""


def explain(exc: BaseException, path: Path) -> LedgerError:
    """A sqlite or OS error on the ledger as one plain Chinese sentence (the ledger itself is unchanged:
    every write is one transaction, rolled back on the error)."""
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return LedgerError(f"台账 {path} 正被其他程序占用（可能有人用数据库工具打开了它），请关闭后再试。"
                           "台账未做改动。")
    if "full" in text or getattr(exc, "errno", None) == 28:
        return LedgerError(f"磁盘已满，台账 {path} 写不进去。请清理磁盘后再试。台账未做改动。")
    if "readonly" in text or "read-only" in text or isinstance(exc, PermissionError) or "unable to open" in text:
        return LedgerError(f"台账 {path} 或它所在的文件夹不能写入（只读或没有权限）。请信息员检查文件和文件夹的权限。"
                           "台账未做改动。")
    if "malformed" in text or "not a database" in text or "corrupt" in text or "damaged" in text:
        return LedgerError(f"台账 {path} 已损坏（{exc}）。请用备份恢复，或重新建台账并导入参保人员信息和缴费明细。")
    return LedgerError(f"台账 {path} 无法使用（{exc}）。台账未做改动；请把这条消息交给信息员。")


def lock_path(ledger: Path) -> Path:
    """The hidden file beside a ledger that its writers lock (``.台账.sqlite.lock``)."""
    return ledger.with_name(f".{ledger.name}.lock")


class LedgerLock(FileLock):
    def __init__(self, ledger: Ledger, doing: str):
        super().__init__(lock_path(ledger.path), doing, ledger.wait, ledger.on_wait)
        self.ledger = ledger

    def __enter__(self):
        try:
            return super().__enter__()
        except Busy as exc:
            raise LedgerError(f"台账 {self.ledger.path} 正被{exc.holder}使用，等了 {exc.waited:.0f} 秒仍未用完。"
                              "请等它完成后再试；台账未做改动。") from exc
        except OSError as exc:
            raise explain(exc, self.ledger.path) from exc
