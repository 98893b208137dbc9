"""`xlflow watch`: the workspace's inbox, processed file by file, and nothing ever lost.

A clerk copies a workbook into the inbox; the watcher waits until the copy is complete, processes it
like ``validate`` (or imports it into the ledger, or checks and adopts a rule table), writes the results
into a folder of their own and moves the input to the archive (or, when it cannot be used, to the
failed folder with the reason). :meth:`Watcher.process_pending` is the loop body; :meth:`Watcher.run`
only schedules it (file-system events through watchdog, or polling).

Crash safety. Each file goes through a journal in the ledger database (seen → processing → done or
failed; retry after a kill before the commit) with its content hash and the names chosen for its result
folder and archive place before any work starts. Results are written into a hidden
``.NAME.partial`` folder that is renamed into place in one step (the commit); only then is the input
moved. After a kill at any moment the next start looks at each unfinished journal entry: committed →
finish the move; not committed → throw the partial folder away and process the file again. So every
input ends in exactly one of archive / failed with exactly one complete result folder.
"""

from xlflow.watch.files import WatchError, Workspace, mask_ids
from xlflow.watch.watcher import Outcome, Watcher, install_stop_handlers

__all__ = ["Outcome", "WatchError", "Watcher", "Workspace", "install_stop_handlers", "mask_ids"]
