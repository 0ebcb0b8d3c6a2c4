"""The streaming tar reader reads what `tarfile` reads, and refuses what is broken."""

from __future__ import annotations

import gzip
import io
import tarfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.github import tarstream

FORMATS = {"pax": tarfile.PAX_FORMAT, "gnu": tarfile.GNU_FORMAT, "ustar": tarfile.USTAR_FORMAT}

segment = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="/\0"), min_size=1, max_size=60
)
names = st.lists(segment, min_size=1, max_size=5).map("/".join)
member = st.tuples(
    names,
    st.sampled_from(["file", "symlink", "dir"]),
    st.binary(max_size=1500),
    st.sampled_from([0o644, 0o755]),
    names,
)


def archive(members: list[tuple[str, str, bytes, int, str]], fmt: int) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz", format=fmt) as tar:
        for name, kind, data, mode, target in members:
            info = tarfile.TarInfo(name)
            info.mode = mode
            if kind == "file":
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, target
                tar.addfile(info)
            else:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
    return out.getvalue()


def with_tarfile(data: bytes) -> list[tuple[str, str, int, str, bytes | None]]:
    got = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r|gz") as tar:
        for info in tar:
            kind = "file" if info.isfile() else "symlink" if info.issym() else "other"
            handle = tar.extractfile(info) if info.isfile() else None
            body = handle.read() if handle is not None else None
            got.append((info.name, kind, info.mode, info.linkname, body))
    return got


def with_tarstream(data: bytes) -> list[tuple[str, str, int, str, bytes | None]]:
    return [
        (m.name, m.kind, m.mode, m.linkname, body)
        for m, body in tarstream.members(io.BytesIO(data), lambda m: True)
    ]


@settings(max_examples=150, deadline=None)
@given(st.lists(member, max_size=8), st.sampled_from(["pax", "gnu"]))
def test_it_reads_what_tarfile_reads(members, fmt):
    data = archive(members, FORMATS[fmt])
    assert with_tarstream(data) == with_tarfile(data)


def test_ustar_prefix_and_long_pax_names():
    long = "skills/" + "d" * 120 + "/ünïcode/SKILL.md"
    data = archive([(long, "file", b"x", 0o644, ""), ("a/b.md", "file", b"y", 0o644, "")], 0)
    assert [m.name for m, _ in tarstream.members(io.BytesIO(data), lambda m: True)] == [
        long,
        "a/b.md",
    ]
    prefixed = "p" * 90 + "/" + "n" * 90  # fits ustar only through its `prefix` field
    data = archive([(prefixed, "file", b"z", 0o644, "")], FORMATS["ustar"])
    assert with_tarstream(data) == with_tarfile(data)


def test_unwanted_files_are_skipped_without_their_bytes():
    data = archive([("a.md", "file", b"A" * 2000, 0o644, ""), ("b.md", "file", b"B", 0o644, "")], 0)
    got = list(tarstream.members(io.BytesIO(data), lambda m: m.name == "b.md"))
    assert [(m.name, body) for m, body in got] == [("a.md", None), ("b.md", b"B")]


def test_a_cut_stream_or_a_bad_header_is_an_error_like_tarfiles():
    data = archive([("a.md", "file", b"A" * 5000, 0o644, "")], FORMATS["pax"])
    raw = gzip.decompress(data)
    with pytest.raises(EOFError):
        list(tarstream.members(io.BytesIO(gzip.compress(raw[:3000])), lambda m: True))
    header = bytearray(raw)
    header[0] ^= 0x01  # the first header's name: its checksum no longer matches
    with pytest.raises(tarfile.ReadError):
        list(tarstream.members(io.BytesIO(gzip.compress(bytes(header))), lambda m: True))


def test_concatenated_gzip_members_read_as_one_stream():
    raw = gzip.decompress(archive([("a.md", "file", b"A", 0o644, "")], FORMATS["gnu"]))
    data = gzip.compress(raw[:512]) + gzip.compress(raw[512:])
    assert [(m.name, b) for m, b in tarstream.members(io.BytesIO(data), lambda m: True)] == [
        ("a.md", b"A")
    ]


def test_an_oversized_extended_header_is_refused_before_it_is_read():
    info = tarfile.TarInfo("././@PaxHeader")
    info.type, info.size = tarfile.XHDTYPE, tarstream.MAX_HEADER_DATA + 1
    header = info.tobuf(tarfile.USTAR_FORMAT)
    with pytest.raises(tarfile.ReadError, match="extended header"):
        list(tarstream.members(io.BytesIO(gzip.compress(header)), lambda m: True))


def test_a_compression_bomb_is_inflated_a_chunk_at_a_time():
    raw = gzip.decompress(archive([("a.md", "file", b"\0" * 20_000_000, 0o644, "")], 0))
    stream = tarstream.Inflated(io.BytesIO(gzip.compress(raw)))
    assert stream.read(512)[:4] in (b"a.md", b"././")  # the first header
    assert len(stream._buffer) <= 2 * 1024 * 1024  # not the 20 MB the file inflates to
