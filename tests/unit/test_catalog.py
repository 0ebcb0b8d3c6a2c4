"""The catalog-file rules of the contract, as pure functions: which paths are items, what they say."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.sync.entries import MODE_EXEC, MODE_SUBMODULE, MODE_SYMLINK, MODE_TREE, TreeEntry
from worker.sync.layout import CatalogRules, classify, item_type_for
from worker.sync.parse import FileError, ParsedItem, parse_item
from worker.sync.safe_yaml import MAX_DEPTH

RULES = CatalogRules(roots={"skills": "skill", "mcps": "mcp", "tools": "tool"})
SHA = "0" * 40


def items(*paths: str, rules: CatalogRules = RULES) -> dict[str, str]:
    return classify([TreeEntry(p, SHA) for p in paths], rules)


def ok(path: str, data: bytes | str, rules: CatalogRules = RULES) -> ParsedItem:
    raw = data.encode() if isinstance(data, str) else data
    result = parse_item(path, raw, rules)
    assert isinstance(result, ParsedItem), result
    return result


def err(path: str, data: bytes | str, rules: CatalogRules = RULES) -> str:
    raw = data.encode() if isinstance(data, str) else data
    result = parse_item(path, raw, rules)
    assert isinstance(result, FileError), result
    assert result.path == path
    return result.message


# --- rules ---------------------------------------------------------------------------------------


def test_rules_from_settings_and_read_only() -> None:
    rules = CatalogRules.from_settings(
        SimpleNamespace(catalog_roots={"agents/": "skill"}, max_file_bytes=10)
    )
    assert dict(rules.roots) == {"agents": "skill"}
    assert rules.max_file_bytes == 10
    with pytest.raises(TypeError):
        rules.roots["x"] = "tool"  # type: ignore[index]
    assert hash(rules) == hash(CatalogRules(roots={"other": "tool"}, max_file_bytes=10))


def test_rules_from_real_settings() -> None:
    from settings import Settings

    rules = CatalogRules.from_settings(Settings(catalog_roots="a:skill,b:mcp", max_file_bytes=5))
    assert dict(rules.roots) == {"a": "skill", "b": "mcp"}
    assert rules.max_file_bytes == 5


def test_item_type_for() -> None:
    assert item_type_for("skills/x.md", RULES) == "skill"
    assert item_type_for("mcps/a/b/server.json", RULES) == "mcp"
    assert item_type_for("skills", RULES) is None
    assert item_type_for("Skills/x.md", RULES) is None
    assert item_type_for("docs/x.md", RULES) is None


# --- classify ------------------------------------------------------------------------------------


def test_single_file_items_get_their_root_type() -> None:
    assert items("skills/pdf.md", "mcps/github.json", "tools/lint.yaml", "tools/x.yml") == {
        "skills/pdf.md": "skill",
        "mcps/github.json": "mcp",
        "tools/lint.yaml": "tool",
        "tools/x.yml": "tool",
    }


def test_extensions_any_case_and_only_candidates() -> None:
    assert items(
        "skills/a.MD",
        "skills/b.Markdown",
        "skills/c.YAML",
        "skills/d.Json",
        "skills/e.txt",
        "skills/f.py",
        "skills/g",
        "skills/h.md.bak",
    ) == {
        "skills/a.MD": "skill",
        "skills/b.Markdown": "skill",
        "skills/c.YAML": "skill",
        "skills/d.Json": "skill",
    }


def test_outside_roots_never_items() -> None:
    assert items("README.md", "docs/a.md", "skillsx/a.md", "Skills/a.md", "a.json") == {}


def test_dot_paths_and_ignored_names() -> None:
    assert items(
        "skills/.hidden.md",
        "skills/.drafts/a.md",
        "skills/a/.github/x.yaml",
        "skills/README.md",
        "skills/readme.markdown",
        "skills/LICENSE.md",
        "skills/license-notes.md",  # LICENSE* taken literally
        "skills/CHANGELOG.md",
        "skills/changelog.yaml",
        "skills/sub/README.MD",
        "skills/readme-helper.md",  # README.* needs the dot: an item
    ) == {"skills/readme-helper.md": "skill"}


def test_dot_folder_manifest_is_ignored_and_claims_nothing() -> None:
    assert items("skills/.x/SKILL.md", "skills/.x/a.md") == {}
    assert items("skills/a/.hidden/SKILL.md", "skills/a/b.md") == {"skills/a/b.md": "skill"}


def test_manifest_folder_is_one_item_and_the_rest_are_assets() -> None:
    assert items(
        "skills/pdf/SKILL.md",
        "skills/pdf/reference.md",
        "skills/pdf/templates/t.yaml",
        "skills/pdf/deep/er/x.json",
        "skills/pdf/scripts/run.py",
        "skills/other.md",
    ) == {"skills/pdf/SKILL.md": "skill", "skills/other.md": "skill"}


@pytest.mark.parametrize(
    "manifest",
    ["SKILL.md", "MCP.md", "TOOL.md", "server.json", "tool.json", "tool.yaml", "tool.yml"],
)
def test_every_manifest_name(manifest: str) -> None:
    assert items(f"mcps/srv/{manifest}", "mcps/srv/notes.md") == {f"mcps/srv/{manifest}": "mcp"}


def test_manifest_names_are_case_insensitive() -> None:
    assert items("skills/a/skill.md", "skills/a/b.md") == {"skills/a/skill.md": "skill"}
    assert items("mcps/a/Server.JSON", "mcps/a/b.json") == {"mcps/a/Server.JSON": "mcp"}


def test_several_manifests_pick_one_deterministically() -> None:
    # Earlier in MANIFEST_NAMES wins; then the exact spelling; then the smaller path.
    assert items("tools/t/tool.yaml", "tools/t/TOOL.md") == {"tools/t/TOOL.md": "tool"}
    assert items("skills/s/skill.md", "skills/s/SKILL.md") == {"skills/s/SKILL.md": "skill"}
    assert items("skills/s/Skill.md", "skills/s/sKILL.md") == {"skills/s/Skill.md": "skill"}


def test_outermost_manifest_folder_wins() -> None:
    assert items("skills/a/SKILL.md", "skills/a/b/SKILL.md", "skills/a/b/c/tool.yaml") == {
        "skills/a/SKILL.md": "skill"
    }


def test_nested_manifest_folder_below_plain_folder() -> None:
    assert items("skills/group/one/SKILL.md", "skills/group/one/x.md", "skills/group/two.md") == {
        "skills/group/one/SKILL.md": "skill",
        "skills/group/two.md": "skill",
    }


def test_manifest_directly_in_root_is_a_single_file_item() -> None:
    assert items("skills/SKILL.md", "skills/other.md", "skills/x/y.md") == {
        "skills/SKILL.md": "skill",
        "skills/other.md": "skill",
        "skills/x/y.md": "skill",
    }


def test_non_candidate_manifest_folder_assets_stay_assets() -> None:
    # An asset with an ignored or odd name changes nothing.
    assert items("tools/t/tool.yml", "tools/t/README.md", "tools/t/run.sh") == {
        "tools/t/tool.yml": "tool"
    }


def test_symlinks_submodules_trees_never_items_nor_manifests() -> None:
    entries = [
        TreeEntry("skills/link.md", SHA, MODE_SYMLINK),
        TreeEntry("skills/sub", SHA, MODE_SUBMODULE),
        TreeEntry("skills/dir.md", SHA, MODE_TREE),
        TreeEntry("skills/a/SKILL.md", SHA, MODE_SYMLINK),
        TreeEntry("skills/a/notes.md", SHA),
        TreeEntry("skills/b/SKILL.md", SHA, MODE_SUBMODULE),
        TreeEntry("skills/b/x.yaml", SHA),
        TreeEntry("skills/run.md", SHA, MODE_EXEC),
    ]
    assert classify(entries, RULES) == {
        "skills/a/notes.md": "skill",
        "skills/b/x.yaml": "skill",
        "skills/run.md": "skill",
    }


def test_weird_paths_ignored() -> None:
    assert items("skills//a.md", "/skills/a.md", "skills/../a.md", "skills/./a.md", "skills/") == {}


def test_multi_segment_roots_longest_wins() -> None:
    rules = CatalogRules(roots={"catalog": "tool", "catalog/skills": "skill"})
    assert items(
        "catalog/a.md", "catalog/skills/b.md", "catalog/skills/c/SKILL.md", rules=rules
    ) == {
        "catalog/a.md": "tool",
        "catalog/skills/b.md": "skill",
        "catalog/skills/c/SKILL.md": "skill",
    }


def test_classify_many_folder_items() -> None:
    entries = [TreeEntry(f"skills/s{i}/SKILL.md", SHA) for i in range(5000)]
    entries += [
        TreeEntry(f"skills/s{i}/assets/a{j}.md", SHA) for i in range(5000) for j in range(2)
    ]
    result = classify(entries, RULES)
    assert len(result) == 5000
    assert all(path.endswith("/SKILL.md") for path in result)


_segment = st.sampled_from(
    [
        "skills",
        "mcps",
        "tools",
        "a",
        "b",
        ".x",
        "SKILL.md",
        "skill.md",
        "tool.yaml",
        "server.json",
        "README.md",
        "x.md",
        "y.json",
        "z.txt",
        "LICENSE",
    ]
)
_entry = st.builds(
    TreeEntry,
    path=st.lists(_segment, min_size=1, max_size=4).map("/".join),
    sha=st.just(SHA),
    mode=st.sampled_from(["100644", "100755", "120000", "160000", "040000"]),
)


@settings(max_examples=300)
@given(st.lists(_entry, max_size=30, unique_by=lambda e: e.path), st.randoms())
def test_classify_is_order_independent(entries: list[TreeEntry], rnd: object) -> None:
    shuffled = list(entries)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    result = classify(entries, RULES)
    assert classify(shuffled, RULES) == result
    assert classify(reversed(entries), RULES) == result
    for path, item_type in result.items():
        assert item_type == item_type_for(path, RULES)
        assert not any(seg.startswith(".") for seg in path.split("/"))
    # An item folder (a manifest below a root's top level) holds exactly one item: its manifest.
    manifests = {"skill.md", "tool.yaml", "server.json"}
    item_folders = {
        p.rsplit("/", 1)[0]
        for p in result
        if p.count("/") >= 2 and p.rsplit("/", 1)[1].lower() in manifests
    }
    for folder in item_folders:
        assert sum(p.startswith(folder + "/") for p in result) == 1


# --- parse_item: the good cases ------------------------------------------------------------------


def test_markdown_front_matter() -> None:
    item = ok(
        "skills/pdf.md",
        "---\nname: '  PDF  '\ndescription: |\n  Reads PDFs.\n\n"
        "tags: [pdf, ' docs ', pdf, '']\nauthor: '@octocat'\nteam: Docs\nextra: {a: 1}\n---\n"
        "# Body\n\nname: not metadata\n",
    )
    assert item == ParsedItem(
        name="PDF",
        description="Reads PDFs.",
        tags=["pdf", "docs"],
        author="octocat",
        team="Docs",
        metadata={
            "name": "  PDF  ",
            "description": "Reads PDFs.\n",
            "tags": ["pdf", " docs ", "pdf", ""],
            "author": "@octocat",
            "team": "Docs",
            "extra": {"a": 1},
        },
    )


def test_markdown_crlf_bom_and_dot_terminator() -> None:
    assert ok("skills/a.md", "\ufeff---\r\nname: A\r\n---\r\nbody").name == "A"
    assert ok("skills/a.markdown", "---\nname: B\n...\nbody").name == "B"
    assert ok("skills/a.md", "---  \nname: C\n---").name == "C"


def test_yaml_and_json_items() -> None:
    y = ok("tools/t.yml", "name: T\ntags: 'a, b ,, a'\ndescription: '   '\n")
    assert (y.name, y.tags, y.description, y.author, y.team) == ("T", ["a", "b"], None, None, None)
    j = ok("mcps/m.json", '{"name": "M", "tags": ["x"], "author": "mona", "team": " Core "}')
    assert (j.name, j.tags, j.author, j.team) == ("M", ["x"], "mona", "Core")
    assert j.metadata["team"] == " Core "


def test_yaml_explicit_single_document_is_fine() -> None:
    assert ok("tools/t.yaml", "---\nname: T\n...\n").name == "T"


def test_yaml_11_values_normalised_to_json() -> None:
    item = ok(
        "tools/t.yaml",
        "name: T\n"
        "since: 2024-05-01\n"
        "at: 2001-12-14t21:59:43.10-05:00\n"
        "naive: 2001-12-14 21:59:43\n"
        "7: int key\n"
        "false: bool key\n"
        "null: null key\n"
        "2.5: float key\n"
        "2020-01-02: date key\n"
        "nan: .nan\n"
        "inf: .inf\n"
        "ninf: -.inf\n"
        "blob: !!binary aGVsbG8=\n"
        "set: !!set {b, a}\n"
        "omap: !!omap [{x: 1}, {y: 2}]\n"
        "flag: yes\n"
        "octal: 0o17\n"
        "big: 123456789012345678901234567890\n",
    )
    assert item.metadata == {
        "name": "T",
        "since": "2024-05-01",
        "at": "2001-12-14T21:59:43.100000-05:00",
        "naive": "2001-12-14T21:59:43",
        "7": "int key",
        "false": "bool key",
        "null": "null key",
        "2.5": "float key",
        "2020-01-02": "date key",
        "nan": "NaN",
        "inf": "Infinity",
        "ninf": "-Infinity",
        "blob": "aGVsbG8=",
        "set": ["a", "b"],
        "omap": [["x", 1], ["y", 2]],
        "flag": True,  # YAML 1.1: yes is true
        "octal": "0o17",
        "big": 123456789012345678901234567890,
    }
    assert json.loads(json.dumps(item.metadata, allow_nan=False)) == item.metadata


def test_json_nan_normalised() -> None:
    item = ok("mcps/m.json", '{"name": "M", "x": NaN, "y": -Infinity}')
    assert item.metadata == {"name": "M", "x": "NaN", "y": "-Infinity"}


def test_name_as_yaml_date_becomes_iso_text() -> None:
    assert ok("tools/t.yaml", "name: 2024-01-01").name == "2024-01-01"


def test_name_limits() -> None:
    assert ok("tools/t.yaml", "name: " + "n" * 255).name == "n" * 255
    assert "at most 255" in err("tools/t.yaml", "name: " + "n" * 256)
    assert "single line" in err("tools/t.json", '{"name": "a\\nb"}')


def test_size_limit_is_checked_before_parsing() -> None:
    rules = CatalogRules(roots=RULES.roots, max_file_bytes=20)
    assert ok("tools/t.yaml", "name: T", rules=rules).name == "T"
    message = err("tools/t.yaml", b"\xff" * 21, rules=rules)
    assert "21 bytes" in message
    assert "20 bytes" in message
    assert "MAX_FILE_BYTES" in message


# --- parse_item: errors, each understandable -----------------------------------------------------

LFS = (
    b"version https://git-lfs.github.com/spec/v1\n"
    b"oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 1\n"
)


@pytest.mark.parametrize(
    ("path", "data", "expected"),
    [
        ("skills/a.md", b"# Title\n\ntext", "no front matter"),
        ("skills/a.md", b"", "no front matter"),
        ("skills/a.md", b"---\nname: x\n", "never closed"),
        ("skills/a.md", b"---\n---\nbody", "front matter is empty"),
        ("skills/a.md", b"---\nname: x\nbad: [\n---\n", "invalid YAML at line 4"),
        ("skills/a.md", b"---\nname: x\n  bad: y\n---\n", "invalid YAML at line 3"),
        ("skills/a.md", b"---\nname: x\nc: \x07\n---\n", "line 3, column 4"),
        ("skills/a.md", b"---\n- a\n- b\n---\n", "must be a mapping"),
        ("tools/a.yaml", b"", "is empty"),
        ("tools/a.yaml", b"# just a comment\n", "is empty"),
        ("tools/a.yaml", b"just text", "must be a mapping"),
        ("tools/a.yaml", b"- name: x", "not a list"),
        ("tools/a.yaml", b"a: &x [1]\nb: *x\nname: y", "anchor &x at line 1, column 4"),
        ("tools/a.yaml", b"a: *x\n", "alias *x"),
        ("tools/a.yaml", b"name: a\n---\nname: b\n", "more than one YAML document"),
        ("tools/a.yaml", b"name: !!python/object:os.system x", "constructor for the tag"),
        ("tools/a.yaml", b"name: !custom x", "constructor for the tag"),
        ("tools/a.yaml", b"? [a, b]\n: c\nname: x", "unhashable key"),
        ("tools/a.yaml", b"1: a\n'1': b\nname: x", "key '1' twice"),
        ("tools/a.yaml", b'name: x\nbad: "\\0"', "NUL character"),
        ("tools/a.json", b'{"name": "x",\n  "a": }', "invalid JSON at line 2, column 8"),
        ("tools/a.json", b'{"name": "\\u0000"}', "NUL character"),
        ("tools/a.json", b'{"name": "\\udc00"}', "surrogate"),
        ("tools/a.json", b"[1, 2]", "must be a mapping"),
        ("tools/a.json", b'"name"', "must be a mapping"),
        ("tools/a.json", b"", "invalid JSON at line 1, column 1"),
        ("tools/a.json", b"[" * 100_000, "levels deep"),
        ("tools/a.json", b'{"a":' * (MAX_DEPTH + 1) + b"1" + b"}" * (MAX_DEPTH + 1), "levels deep"),
        ("tools/a.yaml", b"[" * 200_000, "levels deep"),
        ("tools/a.yaml", b"name: x\nn: " + b"9" * 5000, "4,300 digits"),
        ("tools/a.json", b'{"name": "x", "n": ' + b"9" * 5000 + b"}", "4,300 digits"),
        ("tools/a.yaml", b"name: x\n\0", "NUL byte at byte offset 8"),
        ("tools/a.yaml", b"name: caf\xe9\n", "not valid UTF-8: byte 0xe9 at byte offset 9"),
        ("tools/a.yaml", b"a: 1\nb: \xc3\x28", "(line 2, column 4)"),
        ("tools/a.yaml", LFS, "Git LFS pointer"),
        ("tools/a.txt", b"name: x", "not a catalog file"),
        # fields
        ("tools/a.yaml", b"description: x", "has no `name`"),
        ("tools/a.yaml", b"name:", "`name` must be text, but it is empty"),
        ("tools/a.yaml", b"name: '   '", "`name` is empty"),
        ("tools/a.yaml", b"name: 42", "a number (42); put it in quotes"),
        ("tools/a.yaml", b"name: no", "a boolean (false)"),
        ("tools/a.yaml", b"name: [a]", "a list"),
        ("tools/a.yaml", b"Name: x", "has no `name`"),
        ("tools/a.yaml", b"name: x\ndescription: 3", "`description` must be text"),
        ("tools/a.yaml", b"name: x\ntags: {a: 1}", "`tags` must be a list"),
        ("tools/a.yaml", b"name: x\ntags: 7", "`tags` must be a list"),
        ("tools/a.yaml", b"name: x\ntags: [a, 1]", "`tags` entry 2 must be text"),
        ("tools/a.yaml", b"name: x\ntags: [a, [b]]", "`tags` entry 2"),
        ("tools/a.yaml", b"name: x\ntags: [" + b"t" * 101 + b"]", "`tags` is 101 characters"),
        ("tools/a.yaml", b"name: x\nauthor: 12", "`author` must be a GitHub login"),
        ("tools/a.yaml", b"name: x\nauthor: John Smith", "is not a GitHub login"),
        ("tools/a.yaml", b"name: x\nauthor: [a]", "`author` must be a GitHub login"),
        ("tools/a.yaml", b"name: x\nteam: {a: b}", "`team` must be a team name"),
        ("tools/a.yaml", b"name: x\nteam: " + b"t" * 201, "`team` is 201 characters"),
    ],
)
def test_errors(path: str, data: bytes, expected: str) -> None:
    assert expected in err(path, data)


def test_file_error_str_names_the_path() -> None:
    result = parse_item("skills/a.md", b"nope", RULES)
    assert isinstance(result, FileError)
    assert str(result).startswith("skills/a.md: ")


@pytest.mark.timeout(20)  # expanding the bomb would not finish: a hang fails the test
def test_alias_bomb_is_refused_before_expansion() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    bomb = ("name: boom\n" + "\n".join(lines)).encode()
    assert "anchor" in err("tools/bomb.yaml", bomb)


@pytest.mark.timeout(20)  # libyaml is quadratic on deep flow nesting: a hang fails the test
def test_deep_flow_nesting_is_refused_early() -> None:
    assert "levels deep" in err("tools/deep.yaml", b"[" * 1_000_000, CatalogRules(RULES.roots))
    assert "levels deep" in err("skills/d.md", b"---\na: " + b"{a: " * 250_000 + b"\n---\n")


def test_max_depth_allowed() -> None:
    data = "name: x\nd: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)
    assert ok("tools/t.yaml", data).name == "x"


def test_unsafe_yaml_never_constructs_objects(tmp_path: object) -> None:
    data = b"name: !!python/object/apply:os.system ['echo pwned']\n"
    assert "constructor" in err("tools/t.yaml", data)
    data = b"---\nname: !!python/name:os.system\n---\n"
    assert "constructor" in err("skills/t.md", data)


# --- properties ----------------------------------------------------------------------------------

_paths = st.one_of(
    st.text(max_size=40),
    st.builds(
        lambda folder, name, ext: f"{folder}/{name}{ext}",
        st.sampled_from(["skills", "mcps/x", "tools"]),
        st.text(min_size=1, max_size=10),
        st.sampled_from([".md", ".markdown", ".yaml", ".yml", ".json", ".MD", ".txt", ""]),
    ),
)

_yamlish = st.lists(
    st.sampled_from(
        [
            "---",
            "...",
            "name: x",
            "name: ",
            "tags: [a, b",
            "tags: a,b",
            "- a",
            "&a x",
            "*a",
            "{",
            "}",
            "[",
            "]",
            "!!binary YQ==",
            "!!set {a}",
            "? x",
            ": y",
            "2020-01-01",
            ".nan",
            '"\\u0000"',
            "'q'",
            "#c",
            "  ",
            "\t",
            "author: @x",
            "team: 1",
            "<<: {a: 1}",
            "~",
            '{"name": "j"}',
            "\\x",
            "%YAML 1.1",
        ]
    ),
    max_size=12,
).map("\n".join)


def _check_never_raises(path: str, data: bytes) -> None:
    result = parse_item(path, data, RULES)
    assert isinstance(result, ParsedItem | FileError)
    if isinstance(result, FileError):
        assert result.path == path
        assert result.message
    else:
        assert json.loads(json.dumps(result.metadata, allow_nan=False)) == result.metadata
        assert result.name and result.name == result.name.strip()
        assert len(result.name) <= 255
        assert all(isinstance(t, str) and t for t in result.tags)
        assert len(set(result.tags)) == len(result.tags)


@settings(max_examples=500, deadline=None)
@given(_paths, st.binary(max_size=300))
def test_parse_item_never_raises_on_arbitrary_bytes(path: str, data: bytes) -> None:
    _check_never_raises(path, data)


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(["skills/a.md", "tools/a.yaml", "mcps/a.json"]), _yamlish, st.booleans())
def test_parse_item_never_raises_on_yamlish_text(path: str, text: str, wrap: bool) -> None:
    if wrap and path.endswith(".md"):
        text = f"---\n{text}\n---\n"
    _check_never_raises(path, text.encode())


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=8), _json_values, max_size=5), st.text(max_size=20))
def test_metadata_always_round_trips_json(extra: dict[str, object], name: str) -> None:
    doc = {**extra, "name": name}
    for path, data in (
        ("mcps/a.json", json.dumps(doc)),
        ("tools/a.yaml", json.dumps(doc)),  # JSON is YAML too: YAML 1.1 typing applies
        ("skills/a.md", "---\n" + json.dumps(doc) + "\n---\n"),
    ):
        _check_never_raises(path, data.encode())
