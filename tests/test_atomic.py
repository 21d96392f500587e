"""savae_lite.atomic and its users (checkpoint.atomic_save, results.write_json): a target is always either the
old file or the complete new one, temporaries never survive (or are cleaned up), files are 0644."""
import json
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from savae_lite import checkpoint, results
from savae_lite.atomic import atomic_write, remove_stale_temporaries, write_bytes, write_text

REPO = Path(__file__).resolve().parents[1]


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_atomic_write_replaces_the_file_with_0644_and_no_temporary(tmp_path):
    target = tmp_path / "sub" / "out.bin"  # the folder is created
    assert write_bytes(target, b"old") == target
    with atomic_write(target) as fh:
        fh.write(b"new ")
        assert target.read_bytes() == b"old"  # nothing visible before the block ends
        fh.write(b"content")
    assert target.read_bytes() == b"new content"
    assert mode_of(target) == 0o644
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.bin"]


def test_text_mode_is_utf8(tmp_path):
    target = write_text(tmp_path / "t.txt", "café ∑\n")
    assert target.read_bytes() == "café ∑\n".encode()
    with atomic_write(tmp_path / "l.txt", "w", encoding="latin-1") as fh:
        fh.write("café")
    assert (tmp_path / "l.txt").read_bytes() == b"caf\xe9"
    with pytest.raises(ValueError, match="mode"):
        with atomic_write(tmp_path / "a.txt", "a"):
            pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["l.txt", "t.txt"]


@pytest.mark.parametrize("error", [RuntimeError("disk on fire"), KeyboardInterrupt()])
def test_writer_raising_mid_write_keeps_the_old_file(tmp_path, error):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old complete file")
    with pytest.raises(type(error)):
        with atomic_write(target) as fh:
            fh.write(b"half of the new")
            fh.flush()
            raise error
    assert target.read_bytes() == b"old complete file"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]
    fresh = tmp_path / "fresh.bin"
    with pytest.raises(type(error)):
        with atomic_write(fresh) as fh:
            fh.write(b"partial")
            raise error
    assert not fresh.exists() and [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_killed_writer_leaves_old_file_and_a_stale_temporary_that_is_removed(tmp_path):
    target = tmp_path / "last.pt"
    target.write_bytes(b"old")
    code = textwrap.dedent(f"""
        import sys, time
        from savae_lite.atomic import atomic_write
        with atomic_write({str(target)!r}) as fh:
            fh.write(b"half")
            fh.flush()
            print("writing", flush=True)
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == b"writing\n"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    stale = [p for p in tmp_path.iterdir() if p != target]
    assert target.read_bytes() == b"old" and len(stale) == 1
    assert stale[0].name.startswith("last.pt.") and stale[0].name.endswith(".tmp")
    assert remove_stale_temporaries(target) == stale
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_remove_stale_temporaries_only_touches_this_files_temporaries(tmp_path):
    names = ["last.pt", "last.pt.abc123.tmp", "last.pt.tmp", "best.pt.abc123.tmp", "xlast.pt.abc.tmp",
             "last.pt.abc123.tmp.keep"]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    assert remove_stale_temporaries(tmp_path / "last.pt") == [tmp_path / "last.pt.abc123.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(set(names) - {"last.pt.abc123.tmp"})
    assert remove_stale_temporaries(tmp_path / "nowhere" / "last.pt") == []


# ---------------------------------------------------------------- the public wrappers
def test_atomic_save_round_trip_and_failure_keeps_old_checkpoint(tmp_path):
    path = tmp_path / "run" / "last.pt"
    checkpoint.atomic_save({"w": torch.arange(3.0), "epoch": 1}, path)
    assert torch.equal(checkpoint.load(path)["w"], torch.arange(3.0)) and mode_of(path) == 0o644
    with pytest.raises(Exception):  # a lambda cannot be pickled: torch.save fails after writing a part
        checkpoint.atomic_save({"w": torch.zeros(1000), "bad": lambda: 0}, path)
    assert checkpoint.load(path)["epoch"] == 1
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]


def test_write_json_is_pretty_atomic_and_0644(tmp_path):
    path = tmp_path / "r" / "results.json"
    assert results.write_json({"b": 1, "a": Path("x")}, path) == path
    assert path.read_text() == '{\n "b": 1,\n "a": "x"\n}\n'  # insertion order, default=str, newline
    assert mode_of(path) == 0o644
    loop: dict = {"ok": 1}
    loop["self"] = loop
    with pytest.raises(ValueError, match="[Cc]ircular"):  # json.dump fails after writing part of the record
        results.write_json({"first": list(range(100)), "loop": loop}, path)
    assert json.loads(path.read_text()) == {"b": 1, "a": "x"}
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]
