"""Package specifications: plain PEP 508 requirements pass; options, URLs, paths, smuggling fail."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import (
    InvalidPackageSpec,
    NoPluginDirectory,
    PluginPathError,
    RequirementsFileError,
)
from engine.requirements import (
    MAX_SPEC_LENGTH,
    RequirementLine,
    check_requirement,
    check_requirements,
    parse_requirements_text,
    raw_specs,
    read_requirements_file,
    requirements_file_path,
)

ACCEPTED = [
    ("name", "requests", "requests"),
    ("pinned", "pandas==2.2.2", "pandas"),
    ("extras-range", "httpx[http2]>=0.27,<1", "httpx"),
    ("marker", 'tzdata; sys_platform == "win32"', "tzdata"),
    ("marker-and-version", 'numpy>=1.26 ; python_version >= "3.11"', "numpy"),
    ("dots-dashes", "A_b.c-d", "A_b.c-d"),
    ("wildcard", "pkg==1.*", "pkg"),
    ("compatible", "pydantic~=2.0", "pydantic"),
    ("arbitrary-equality", "pkg===1.0", "pkg"),
    ("outer-spaces", "  requests  ", "requests"),
    ("dash-in-quoted-marker", 'pkg; platform_release == "5.15.0 -generic"', "pkg"),
]


@pytest.mark.parametrize(("spec", "name"), [(s, n) for _, s, n in ACCEPTED],
                         ids=[i for i, _, _ in ACCEPTED])
def test_plain_requirements_are_accepted(spec: str, name: str) -> None:
    requirement = check_requirement(spec)

    assert requirement.name == name
    assert requirement.url is None


REFUSED = [
    ("index-url-option", "--index-url=https://evil.example/simple", "pip option"),
    ("requirements-option", "-r /etc/passwd", "pip option"),
    ("editable-option", "-e .", "pip option"),
    ("vcs", "git+https://github.com/x/y", "not PEP 508"),
    ("relative-wheel", "../x.whl", "not PEP 508"),
    ("wheel-name", "x.whl", "package file"),
    ("sdist-name", "pkg-1.0.tar.gz", "package file"),
    ("option-after-marker", 'pkg; os_name=="nt" --x', "pip option"),
    ("option-after-name", "requests --no-deps", "pip option"),
    ("url", "https://example.com/x-1.0-py3-none-any.whl", "not PEP 508"),
    ("file-url", "file:///etc/passwd", "not PEP 508"),
    ("direct-reference", "name @ https://example.com/x.whl", "direct reference"),
    ("direct-reference-tight", "foo@bar", "direct reference"),
    ("two-names", "a b", "not PEP 508"),
    ("newline", "a\nb", "line break"),
    ("carriage-return", "a\rb", "line break"),
    ("nul", "a\0b", "control character"),
    ("tab", "a\t==1", "control character"),
    ("empty", "", "empty"),
    ("blank", "   ", "empty"),
    ("absolute-path", "/opt/pkg", "not PEP 508"),
    ("dot-path", "./local", "not PEP 508"),
    ("double-operator", "requests>>=2.0", "not PEP 508"),
    ("too-long", "a" * (MAX_SPEC_LENGTH + 1), "longer than"),
    ("comment", "requests # pinned", "not PEP 508"),
]


@pytest.mark.parametrize(("spec", "reason"), [(s, r) for _, s, r in REFUSED],
                         ids=[i for i, _, _ in REFUSED])
def test_anything_but_a_plain_requirement_is_refused(spec: str, reason: str) -> None:
    with pytest.raises(InvalidPackageSpec, match=reason) as caught:
        check_requirement(spec)

    assert isinstance(caught.value, ValueError)
    assert "expected a PEP 508 requirement" in str(caught.value)


@pytest.mark.parametrize("spec", [None, 3, b"requests", ["requests"]],
                         ids=["none", "int", "bytes", "list"])
def test_a_non_string_is_refused(spec: object) -> None:
    with pytest.raises(InvalidPackageSpec, match="not a string"):
        check_requirement(spec)


def test_a_list_is_checked_entry_by_entry_and_names_the_bad_one() -> None:
    assert check_requirements(["requests", " pandas==2.2.2 "]) == ["requests", "pandas==2.2.2"]
    with pytest.raises(InvalidPackageSpec, match=r"\(package 2\)"):
        check_requirements(["requests", "--pre"])


@pytest.mark.parametrize("packages", ["requests", [], (), {"requests": 1}],
                         ids=["string", "empty-list", "empty-tuple", "dict"])
def test_packages_must_be_a_non_empty_list(packages: object) -> None:
    with pytest.raises(InvalidPackageSpec):
        check_requirements(packages)


def test_unchecked_specs_still_must_be_non_empty_strings() -> None:
    assert raw_specs(["--pre", " https://x/y.whl "]) == ["--pre", "https://x/y.whl"]
    for bad in ([], "pkg", [""], ["a\0b"], [3]):
        with pytest.raises(InvalidPackageSpec):
            raw_specs(bad)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_whatever_passes_is_one_name_based_requirement(text: str) -> None:
    try:
        requirement = check_requirement(text)
    except InvalidPackageSpec:
        return
    stripped = text.strip()
    assert requirement.url is None
    assert not stripped.startswith("-")
    assert all(ord(char) >= 32 and ord(char) != 127 for char in stripped)
    assert not requirement.name.lower().endswith((".whl", ".zip", ".tar.gz"))


REQUIREMENTS_TEXT = """\
# pinned for the plugins
requests==2.32.3   # HTTP

pandas>=2 ; python_version >= "3.11"
numpy==2.0.0 --hash=sha256:{h64} --hash sha512:{h128}
"""


def test_requirements_text_keeps_requirements_and_hash_pins() -> None:
    text = REQUIREMENTS_TEXT.format(h64="a" * 64, h128="B" * 128)

    lines = parse_requirements_text(text, source="requirements.txt")

    assert lines == [
        RequirementLine("requests==2.32.3", (), 2),
        RequirementLine('pandas>=2 ; python_version >= "3.11"', (), 4),
        RequirementLine("numpy==2.0.0", ("sha256:" + "a" * 64, "sha512:" + "B" * 128), 5),
    ]
    assert lines[2].render() == f"numpy==2.0.0 --hash=sha256:{'a' * 64} --hash=sha512:{'B' * 128}"


BAD_LINES = [
    ("nested-requirements", "-r /etc/passwd", "pip option"),
    ("constraint", "-c other.txt", "pip option"),
    ("index-url", "--index-url https://evil.example", "pip option"),
    ("extra-index-after-name", "requests --extra-index-url https://evil.example", "pip option"),
    ("vcs", "git+https://github.com/x/y#egg=y", "not PEP 508"),
    ("local-wheel", "./dist/x-1.0-py3-none-any.whl", "not PEP 508"),
    ("continuation", "requests \\", "continuations"),
    ("short-hash", "requests --hash=sha256:abc", "sha256, sha384 or sha512"),
    ("md5-hash", "requests --hash=md5:" + "a" * 32, "sha256, sha384 or sha512"),
    ("hash-then-option", "requests --hash=sha256:" + "a" * 64 + " --pre", "only --hash"),
]


@pytest.mark.parametrize(("line", "reason"), [(line, r) for _, line, r in BAD_LINES],
                         ids=[i for i, _, _ in BAD_LINES])
def test_a_bad_requirements_line_is_refused_with_its_line_number(line: str, reason: str) -> None:
    text = f"requests\n\n{line}\n"

    with pytest.raises(InvalidPackageSpec, match=reason) as caught:
        parse_requirements_text(text, source="reqs.txt")

    assert "reqs.txt line 3" in str(caught.value)


def test_unsafe_mode_keeps_every_line_as_written() -> None:
    lines = parse_requirements_text("-r other.txt\n# x\ngit+https://h/x\n", source="r",
                                    allow_unsafe=True)

    assert [line.requirement for line in lines] == ["-r other.txt", "git+https://h/x"]


def test_a_requirements_file_is_read_relative_to_the_plugin_dir(plugin_dir: Path) -> None:
    (plugin_dir / "deps").mkdir()
    (plugin_dir / "deps" / "requirements.txt").write_text("requests\n# only\n")

    relative = read_requirements_file(plugin_dir, "deps/requirements.txt")
    absolute = read_requirements_file(plugin_dir, str(plugin_dir / "deps" / "requirements.txt"))

    assert [line.requirement for line in relative] == ["requests"]
    assert absolute == relative


def _outside_link(plugin_dir: Path) -> str:
    outside = plugin_dir.parent / "outside.txt"
    outside.write_text("requests\n")
    (plugin_dir / "link.txt").symlink_to(outside)
    return "link.txt"


LOCATIONS = [
    ("dot-dot", lambda d: "../outside.txt"),
    ("absolute-outside", lambda d: str(d.parent / "outside.txt")),
    ("etc-passwd", lambda d: "/etc/passwd"),
    ("absolute-dot-dot", lambda d: f"{d}/../outside.txt"),
    ("symlink-out", _outside_link),
    ("nul", lambda d: "req\0.txt"),
]


@pytest.mark.parametrize("make", [m for _, m in LOCATIONS], ids=[i for i, _ in LOCATIONS])
def test_a_requirements_file_outside_the_plugin_dir_is_refused(plugin_dir: Path, make) -> None:
    (plugin_dir.parent / "outside.txt").write_text("requests\n")

    with pytest.raises(PluginPathError):
        requirements_file_path(plugin_dir, make(plugin_dir))


@pytest.mark.parametrize(("setup", "reason"), [
    (lambda d: None, "no such file"),
    (lambda d: (d / "requirements.txt").mkdir(), "not a regular file"),
    (lambda d: (d / "requirements.txt").write_bytes(b"caf\xe9\n"), "not UTF-8"),
    (lambda d: (d / "requirements.txt").write_bytes(b"a\n" * 600_000), "larger than"),
], ids=["missing", "directory", "latin-1", "too-large"])
def test_an_unusable_requirements_file_is_refused(plugin_dir: Path, setup, reason: str) -> None:
    setup(plugin_dir)

    with pytest.raises(RequirementsFileError, match=reason):
        read_requirements_file(plugin_dir, "requirements.txt")


def test_requirements_files_need_a_plugin_dir() -> None:
    with pytest.raises(NoPluginDirectory):
        read_requirements_file(None, "requirements.txt")
