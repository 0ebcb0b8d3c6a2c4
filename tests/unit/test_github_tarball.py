"""Tarball members as git lists them, wanted-blob filtering and the tee, on in-memory tarballs."""

from __future__ import annotations

import io
import tarfile

from worker.github.tarball import Tee, members, strip_prefix, tree_entries
from worker.sync.entries import MODE_EXEC, MODE_FILE, MODE_SYMLINK, blob_sha

TOP = "acme-catalog-1234567"


def tarball(
    files: dict[str, bytes], *, exec_paths=(), links: dict[str, str] | None = None
) -> bytes:
    """A gzipped tarball shaped like GitHub's: everything under one top-level folder."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        top = tarfile.TarInfo(TOP)  # the folder entry itself
        top.type = tarfile.DIRTYPE
        archive.addfile(top)
        for path, data in files.items():
            info = tarfile.TarInfo(f"{TOP}/{path}")
            info.size = len(data)
            info.mode = 0o755 if path in exec_paths else 0o644
            archive.addfile(info, io.BytesIO(data))
        for path, target in (links or {}).items():
            info = tarfile.TarInfo(f"{TOP}/{path}")
            info.type, info.linkname = tarfile.SYMTYPE, target
            archive.addfile(info)
    return out.getvalue()


def test_entries_carry_git_blob_shas_modes_and_sizes():
    data = tarball(
        {"skills/a.md": b"hello", "tools/run.sh": b"#!/bin/sh\n"},
        exec_paths={"tools/run.sh"},
        links={"skills/link.md": "a.md"},
    )
    entries = {e.path: e for e in tree_entries(io.BytesIO(data))}
    assert set(entries) == {"skills/a.md", "tools/run.sh", "skills/link.md"}
    assert (entries["skills/a.md"].sha, entries["skills/a.md"].mode) == (
        blob_sha(b"hello"),
        MODE_FILE,
    )
    assert entries["skills/a.md"].size == 5
    assert entries["tools/run.sh"].mode == MODE_EXEC
    assert (entries["skills/link.md"].sha, entries["skills/link.md"].mode) == (
        blob_sha(b"a.md"),
        MODE_SYMLINK,
    )


def test_members_yield_only_wanted_undone_files_whose_bytes_match():
    data = tarball({"a.md": b"A", "b.md": b"B", "c.md": b"C", "d.md": b"D"})
    wanted = {"a.md": blob_sha(b"A"), "b.md": blob_sha(b"not B"), "c.md": blob_sha(b"C")}
    got = dict(members(io.BytesIO(data), wanted, {"c.md"}, "acme/catalog"))
    assert got == {"a.md": b"A"}  # b's bytes are not its blob, c is done, d is not wanted


def test_the_tee_copies_what_is_read_and_survives_a_failing_sink():
    sink = io.BytesIO()
    tee = Tee(io.BytesIO(b"x" * 100_000), sink)
    assert tee.read(10) == b"x" * 10
    tee.drain()
    assert sink.getvalue() == b"x" * 100_000 and tee.failed is None

    class FullDisk(io.BytesIO):
        def write(self, data) -> int:
            raise OSError(28, "No space left on device")

    broken = Tee(io.BytesIO(b"y" * 10), FullDisk())
    assert broken.read(4) == b"yyyy" and broken.read() == b"yyyyyy"
    assert isinstance(broken.failed, OSError) and broken.failed.errno == 28


def test_the_top_level_folder_is_stripped():
    assert strip_prefix(f"{TOP}/skills/a.md") == "skills/a.md"
    assert strip_prefix(TOP) == ""


def test_a_listing_of_many_files_has_every_file_with_git_shas() -> None:
    files = {f"skills/s{i:03d}.md": b"x" * i for i in range(60)}
    entries = tree_entries(io.BytesIO(tarball(files)))
    assert {e.path: e.sha for e in entries} == {p: blob_sha(d) for p, d in files.items()}
