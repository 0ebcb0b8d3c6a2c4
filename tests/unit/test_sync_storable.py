"""Whatever a file holds, its parse is storable or its error is (issue 13, classes 3 and 6)."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models import CatalogItem, Team, User
from worker.sync.layout import CatalogRules
from worker.sync.parse import MAX_TAGS, FileError, ParsedItem, parse_item
from worker.sync.safe_yaml import MAX_VALUES
from worker.sync.storable import (
    GIT_PATH_CHARS,
    error_path,
    one_line,
    path_problem,
    printable,
    text_problem,
)

RULES = CatalogRules(roots={"skills": "skill", "mcps": "mcp", "tools": "tool"})


def _length(column: object) -> int:
    return int(column.type.length)  # type: ignore[attr-defined]


def assert_storable(path: str, result: ParsedItem | FileError) -> None:
    """What PostgreSQL and SQLite take: column sizes, UTF-8 without NUL, JSON Python can write."""
    if isinstance(result, FileError):
        key = error_path(path)
        assert len(key) <= GIT_PATH_CHARS and text_problem(key) is None
        assert text_problem(result.message) is None and result.message
        return
    assert path_problem(path) is None and len(path) <= _length(CatalogItem.git_path)
    assert len(result.name) <= _length(CatalogItem.name)
    assert result.author is None or len(result.author) <= _length(User.username)
    assert result.team is None or len(result.team) <= _length(Team.name)
    assert len(result.tags) <= MAX_TAGS
    text = json.dumps([result.metadata, result.tags], allow_nan=False)
    assert text_problem(text) is None
    assert json.loads(text) == [result.metadata, result.tags]


_ext = st.sampled_from([".md", ".yaml", ".json"])
_segment = st.one_of(
    st.text(st.characters(exclude_characters="/."), min_size=1, max_size=12),
    st.integers(100, 400).map(lambda n: "d" * n),  # long: a few make a path too long
    st.binary(min_size=1, max_size=4).map(lambda b: b.decode("utf-8", "surrogateescape")),
)
_paths = st.builds(
    lambda root, parts, ext: "/".join([root, *parts]) + ext,
    st.sampled_from(["skills", "tools"]),
    st.lists(_segment, min_size=1, max_size=5),
    _ext,
)
_huge_ints = st.integers(3500, 3650).map(lambda n: "0x" + "f" * n)  # around 4,300 digits
_values = st.one_of(
    st.tuples(st.sampled_from(["", "-"]), st.integers(1, 5000)).map(lambda t: t[0] + "7" * t[1]),
    _huge_ints,
    st.sampled_from([".nan", ".inf", "-.inf", "2024-02-30", "2024-01-01", "2024-01-01T10:00:00Z"]),
    st.integers(1, 80).map(lambda d: "[" * d + "]" * d),
    st.text(max_size=20).map(json.dumps),
    st.sampled_from(['"a\\0b"', '"\\ud800"', "!!binary aGk=", "!!set {a, b}", "{1: a, true: b}"]),
)
_fields = st.dictionaries(
    st.sampled_from(["meta", "author", "team", "tags", "name", "description", "x"]), _values
)


def _render(path: str, fields: dict[str, str]) -> bytes:
    body = "\n".join(f"{k}: {v}" for k, v in {"name": "n", **fields}.items())
    if path.endswith(".json"):  # the same values as JSON text where they can be
        return (
            "{" + ", ".join(f'"{k}": {v}' for k, v in {"name": '"n"', **fields}.items()) + "}"
        ).encode()
    return (f"---\n{body}\n---\n" if path.endswith(".md") else body).encode()


@settings(max_examples=300, deadline=None)
@given(_paths, _fields)
def test_every_parse_is_storable_or_an_error_that_is(path: str, fields: dict[str, str]) -> None:
    assert_storable(path, parse_item(path, _render(path, fields), RULES))


@pytest.mark.parametrize(
    ("path", "data", "expected"),
    [
        ("tools/a.yaml", b"name: x\nbig: 0x" + b"f" * 5000, "more than 4,300 digits"),
        ("tools/a.yaml", b"name: x\nbig: -0" + b"7" * 6000, "more than 4,300 digits"),
        ("tools/a.yaml", b"name: x\nbig: [0b" + b"1" * 20000 + b"]", "more than 4,300 digits"),
        ("tools/a.yaml", b"name: x\nauthor: " + b"a" * 101, "is not a GitHub login"),
        ("tools/a.yaml", b"name: x\nteam: " + b"t" * 201, "`team` is 201 characters"),
        (
            "skills/caf\udce9.md",
            b"---\nname: x\n---\n",
            "not valid UTF-8 (it reads `skills/caf\\xe9.md`)",
        ),
        ("skills/" + "p" * GIT_PATH_CHARS + ".md", b"---\nname: x\n---\n", "characters long"),
    ],
)
def test_unstorable_values_and_paths_are_file_errors(path: str, data: bytes, expected: str) -> None:
    result = parse_item(path, data, RULES)
    assert isinstance(result, FileError), result
    assert expected in result.message
    assert_storable(path, result)


def test_the_longest_storable_path_is_an_item() -> None:
    path = "skills/" + "p" * (GIT_PATH_CHARS - len("skills/.md")) + ".md"
    assert len(path) == GIT_PATH_CHARS
    assert isinstance(parse_item(path, b"---\nname: x\n---\n", RULES), ParsedItem)


def test_error_paths_fit_differ_and_read_honestly() -> None:
    base = "skills/" + "x" * 2000
    a, b = error_path(base + "/a.md"), error_path(base + "/b.md")
    assert a != b and len(a) <= GIT_PATH_CHARS and len(b) <= GIT_PATH_CHARS
    assert a == error_path(base + "/a.md")  # the same path always gets the same row
    assert a.startswith("skills/xxx") and "[#" in a
    latin = error_path("skills/caf\udce9.md")
    assert latin.startswith("skills/caf\\xe9.md [#") and text_problem(latin) is None
    assert error_path("skills/caf\udce9.md") != error_path("skills/caf\udce8.md")
    assert error_path("skills/ok.md") == "skills/ok.md"
    assert printable("a\0b\ud800") == "a\\x00b\\ud800"


def test_one_line_is_one_storable_line_whatever_the_exception() -> None:
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise ValueError("Exceeds the limit (4300 digits) for integer string conversion")

    class Driver(Exception):
        orig = ValueError("value too long for type character varying(1024)\nDETAIL: ...")

    assert one_line(Unprintable()) == "Unprintable: (message could not be shown)"
    assert one_line(Driver("[SQL: INSERT ...]")) == (
        "Driver: value too long for type character varying(1024)"
    )
    long = one_line(RuntimeError("x" * 10_000 + "\nsecond line"), limit=100)
    assert len(long) == 100 and "\n" not in long
    assert text_problem(one_line(RuntimeError("a\0\ud800"))) is None


# --- hostile but valid input stays cheap (class 6) ------------------------------------------


def _timed(path: str, data: bytes) -> tuple[float, ParsedItem | FileError]:
    started = time.perf_counter()
    result = parse_item(path, data, RULES)
    return time.perf_counter() - started, result


def test_140000_comma_separated_tags_parse_in_well_under_a_second() -> None:
    many = ",".join(f"tag{i % 50:03d}" for i in range(140_000))
    data = f"---\nname: x\ntags: {many}\n---\n".encode()
    assert 900_000 < len(data) <= RULES.max_file_bytes
    elapsed, result = _timed("skills/a.md", data)
    assert isinstance(result, ParsedItem) and len(result.tags) == 50
    assert elapsed < 1.0, elapsed


def test_more_than_100_distinct_tags_is_an_error_found_early() -> None:
    many = ",".join(f"t{i}" for i in range(140_000))
    elapsed, result = _timed("skills/a.md", f"---\nname: x\ntags: {many}\n---\n".encode())
    assert isinstance(result, FileError)
    assert result.message == f"`tags` has more than {MAX_TAGS} tags; at most {MAX_TAGS}"
    assert elapsed < 1.0, elapsed
    ok = ",".join(f"t{i}" for i in range(MAX_TAGS))
    assert (
        len(parse_item("skills/a.md", f"---\nname: x\ntags: {ok}\n---\n".encode(), RULES).tags)
        == MAX_TAGS
    )  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("path", "data"),
    [
        (
            "skills/a.md",
            b"---\nname: x\nl: [" + b",".join(b"v%d" % i for i in range(140_000)) + b"]\n---\n",
        ),
        (
            "skills/a.md",
            b"---\nname: x\nl:\n" + b"".join(b"- v\n" for _ in range(140_000)) + b"---\n",
        ),
        (
            "tools/a.yaml",
            b"name: x\ns: !!set {" + b",".join(b"k%d" % i for i in range(60_000)) + b"}",
        ),
        ("tools/a.json", b'{"name": "x", "l": [' + b",".join(b"1" for _ in range(400_000)) + b"]}"),
        (
            "tools/a.json",
            b'{"name": "x", ' + b",".join(b'"k%d": 1' % i for i in range(80_000)) + b"}",
        ),
    ],
)
def test_any_collection_shape_within_the_size_limit_is_bounded_and_cheap(
    path: str, data: bytes
) -> None:
    assert len(data) <= RULES.max_file_bytes
    elapsed, result = _timed(path, data)
    assert isinstance(result, FileError)
    assert f"more than {MAX_VALUES:,} values" in result.message
    assert elapsed < 1.0, elapsed
