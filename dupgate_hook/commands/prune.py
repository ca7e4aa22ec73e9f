"""`dupgate prune` (and `compact`): drop vectors of untracked images, merge packs into one."""

from __future__ import annotations

import os

from dupgate_hook import report
from dupgate_hook.manifest import MANIFEST_DIR, VectorTable
from dupgate_hook.session import open_session
from dupgate_hook.store import repo_lock
from dupgate_hook.util import ExitCode


def prune(all_backends: bool) -> int:
    session = open_session(need_repo="prune")
    repo = session.repo
    store = session.stores.manifest
    assert repo is not None and store is not None
    with repo_lock(repo):
        store.sweep_temp_files()
        live = {ref.key for ref in session.tracked_refs().values() if ref.key}
        table = VectorTable(store.dimensions)
        old_ids = store.pack_ids()
        store.load(table)
        keep = [k for k in table.all_keys() if k in live]
        dropped = len(table) - len(keep)
        if dropped or len(old_ids) > 1:
            new_id = store.write_pack(keep, table.get(keep)) if keep else None
            for pack_id in old_ids:
                if pack_id != new_id:
                    store.remove_pack(pack_id)
        removed_spaces = _remove_other_spaces(store.folder) if all_backends else []
    print(
        f"dupgate: {len(keep)} vectors kept, {dropped} dropped, {len(old_ids)} pack(s) compacted"
        + (f", removed {', '.join(removed_spaces)}" if removed_spaces else "")
        + "."
    )
    if dropped or len(old_ids) > 1 or removed_spaces:
        print("Stage the change:  " + report.git_command(repo.root, f"add -A {MANIFEST_DIR}"))
    return ExitCode.CLEAN


def _remove_other_spaces(current: str) -> list[str]:
    import shutil

    parent = os.path.dirname(current)
    removed = []
    for name in sorted(os.listdir(parent)):
        path = os.path.join(parent, name)
        if path != current and os.path.isdir(path):
            shutil.rmtree(path)
            removed.append(name)
    return removed
