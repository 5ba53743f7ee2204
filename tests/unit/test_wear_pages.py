"""bench/wear_pages.py's model of the kernel's dirty-page accounting, on a trace written here."""

from __future__ import annotations

from bench.wear_pages import PAGE, replay

WAL = "/d/gateway.db-wal"


def _frame(t: str, offset: int, page: int, commit: bool) -> list[str]:
    header = page.to_bytes(4, "big") + (9 if commit else 0).to_bytes(4, "big") + bytes(16)
    hexed = "".join(f"\\x{b:02x}" for b in header)
    return [f'7 00:00:{t} pwrite64(3<{WAL}>, "{hexed}", 24, {offset}) = 24',
            f'7 00:00:{t} pwrite64(3<{WAL}>, "\\x00\\x00"..., 1024, {offset + 24}) = 1024']


def test_a_page_counts_when_it_turns_dirty_and_again_after_an_fsync_or_a_flush():
    lines = [*_frame("01.000", 32, 5, False), *_frame("01.001", 1080, 6, True),  # 1 page
             *_frame("01.002", 2128, 5, True),  # same dirty page: nothing more
             f"7 00:00:01.003 fdatasync(3<{WAL}>) = 0",
             *_frame("01.004", 3176, 7, True),  # clean again: its page and the next
             f'7 00:00:02.000 writev(4</d/raw/1.seg>, [...], 2) = {PAGE + 10}',
             '7 00:00:45.000 writev(4</d/raw/1.seg>, [...], 1) = 10']  # flushed meanwhile
    counted, commits = replay(lines, {5: "windows", 6: "counters", 7: "results"})
    assert counted["gateway.db-wal"] == 3 * PAGE
    assert counted["raw segments"] == 3 * PAGE
    assert dict(commits.commits) == {"counters + windows": 1, "windows": 1, "results": 1}
    assert dict(commits.bytes) == {"counters + windows": PAGE, "windows": 0,
                                   "results": 2 * PAGE}
