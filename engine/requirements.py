"""Which package specifications the plugin environment accepts: PEP 508 requirements only."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from .errors import InvalidPackageSpec, PluginPathError, RequirementsFileError
from .plugin_files import safe_plugin_path

MAX_SPEC_LENGTH = 1_000
MAX_REQUIREMENTS_FILE_BYTES = 1_048_576

# pip installs a "name" ending like this from a file of that name in its working directory.
_ARCHIVE_SUFFIXES = (
    ".whl", ".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tar.xz", ".txz",
    ".tar.lz", ".tlz", ".tar.lzma", ".egg",
)
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_OPTION_AFTER_SPACE = re.compile(r"\s-")
# pip strips a comment that starts the line or follows whitespace.
_COMMENT = re.compile(r"(^|\s+)#.*$")
_HASH_DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
_HASH_OPTION = re.compile(r"--hash[=\s]\s*(\w+):([0-9a-fA-F]+)")


@dataclass(frozen=True, slots=True)
class RequirementLine:
    """One requirement of a requirements file, with the `--hash` pins it carried.

    Attributes:
        requirement: The requirement text, checked (or as written, when unsafe specs are allowed).
        hashes: `algorithm:hexdigest` pins, in file order.
        line_number: 1-based line of the file it came from.
    """

    requirement: str
    hashes: tuple[str, ...] = ()
    line_number: int = 0

    def render(self) -> str:
        """The line as pip reads it in a requirements file."""
        return " ".join([self.requirement, *(f"--hash={pin}" for pin in self.hashes)])


def check_requirement(spec: object, *, where: str = "") -> Requirement:
    """Check that `spec` is one plain PEP 508 requirement and return it parsed.

    Refused: anything that is not a string, empty or over-long text, control characters (two
    requirements smuggled into one string), pip options (`-r`, `--index-url=...`, also after a
    requirement), direct references (`name @ url`), URLs, VCS references, paths and archive file
    names (`x.whl`, `../x.tar.gz`).

    Args:
        spec: The package specification, e.g. `pandas==2.2.2`.
        where: Where it came from, quoted in the error (e.g. `requirements.txt line 3`).

    Raises:
        InvalidPackageSpec: It is anything but a plain requirement.
    """
    if not isinstance(spec, str):
        raise InvalidPackageSpec(spec, f"it is a {type(spec).__name__}, not a string", where=where)
    text = spec.strip()
    problem = _text_problem(text)
    if problem:
        raise InvalidPackageSpec(spec, problem, where=where)
    try:
        requirement = Requirement(text)
    except InvalidRequirement as exc:
        detail = str(exc).splitlines()[0]
        raise InvalidPackageSpec(spec, f"it is not PEP 508 ({detail})", where=where) from None
    if requirement.url is not None:
        raise InvalidPackageSpec(
            spec, "it is a direct reference (name @ URL); install from an index or "
            "package_find_links instead", where=where)
    if requirement.name.lower().endswith(_ARCHIVE_SUFFIXES):
        raise InvalidPackageSpec(spec, "it names a package file, not a project", where=where)
    return requirement


def _text_problem(text: str) -> str:
    if not text:
        return "it is empty"
    if len(text) > MAX_SPEC_LENGTH:
        return f"it is longer than {MAX_SPEC_LENGTH} characters"
    if any(ord(char) < 32 or ord(char) == 127 for char in text):
        return "it contains a line break or control character (give one requirement per entry)"
    if text.startswith("-"):
        return "it is a pip option"
    if _OPTION_AFTER_SPACE.search(_QUOTED.sub("''", text)):
        return "it carries a pip option after the requirement"
    return ""


def check_requirements(specs: object) -> list[str]:
    """Check a list of package specifications; returns them stripped of outer whitespace.

    Raises:
        InvalidPackageSpec: The list is empty or not a list, or any entry is refused.
    """
    if isinstance(specs, str | bytes) or not isinstance(specs, Sequence):
        raise InvalidPackageSpec(specs, "packages must be a list of strings, one per package")
    if not specs:
        raise InvalidPackageSpec(specs, "no packages were given")
    checked = []
    for index, spec in enumerate(specs):
        check_requirement(spec, where=f"package {index + 1}")
        checked.append(str(spec).strip())
    return checked


def raw_specs(specs: object) -> list[str]:
    """Package specifications passed through unchecked (unsafe specs allowed); still a list.

    Raises:
        InvalidPackageSpec: Not a non-empty list of non-empty strings without NUL characters.
    """
    if isinstance(specs, str | bytes) or not isinstance(specs, Sequence) or not specs:
        raise InvalidPackageSpec(specs, "packages must be a non-empty list of strings")
    for spec in specs:
        if not isinstance(spec, str) or not spec.strip() or "\0" in spec:
            raise InvalidPackageSpec(spec, "each entry must be a non-empty string without NUL")
    return [spec.strip() for spec in specs]


def parse_requirements_text(text: str, *, source: str,
                            allow_unsafe: bool = False) -> list[RequirementLine]:
    """The requirements of a pip requirements file, each line checked like a package.

    Blank lines and `#` comments are skipped. A requirement may carry `--hash=sha256:<hex>` pins
    (hash-checking mode); any other option, and line continuations, are refused unless
    `allow_unsafe` (then every line is kept as written).

    Raises:
        InvalidPackageSpec: A line is refused; the error names the line.
    """
    lines: list[RequirementLine] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _COMMENT.sub("", raw).strip()
        if not line:
            continue
        where = f"{source} line {number}"
        if allow_unsafe:
            lines.append(RequirementLine(line, (), number))
            continue
        if line.endswith("\\"):
            raise InvalidPackageSpec(line, "line continuations are not supported", where=where)
        requirement, hashes = _split_hashes(line, where)
        check_requirement(requirement, where=where)
        lines.append(RequirementLine(requirement, hashes, number))
    return lines


def _split_hashes(line: str, where: str) -> tuple[str, tuple[str, ...]]:
    start = line.find("--hash")
    if start <= 0 or not line[start - 1].isspace():
        return line, ()
    requirement, options = line[:start].strip(), line[start:]
    pins = _HASH_OPTION.findall(options)
    if _HASH_OPTION.sub("", options).strip() or not pins:
        raise InvalidPackageSpec(line, "only --hash=<algorithm>:<hex digest> options may follow "
                                 "a requirement", where=where)
    for algorithm, digest in pins:
        if _HASH_DIGEST_LENGTHS.get(algorithm.lower()) != len(digest):
            raise InvalidPackageSpec(
                line, f"--hash={algorithm}:... is not a sha256, sha384 or sha512 hex digest",
                where=where)
    return requirement, tuple(f"{algorithm.lower()}:{digest}" for algorithm, digest in pins)


def requirements_file_path(plugin_dir: str | os.PathLike[str] | None, location: str) -> Path:
    """Where `requirements_location` points: relative to the plugin directory, or absolute in it.

    Raises:
        NoPluginDirectory: There is no plugin directory.
        PluginPathError: The path leaves the plugin directory.
    """
    if isinstance(location, str) and Path(location).is_absolute() and "\0" not in location:
        root = safe_plugin_path(plugin_dir, ".")
        target = Path(location).resolve(strict=False)
        if not target.is_relative_to(root):
            raise PluginPathError(location, "it is an absolute path outside the plugin directory")
        return target
    return safe_plugin_path(plugin_dir, location)


def read_requirements_file(plugin_dir: str | os.PathLike[str] | None, location: str, *,
                           allow_unsafe: bool = False) -> list[RequirementLine]:
    """Read and check a requirements file inside the plugin directory.

    Raises:
        NoPluginDirectory: There is no plugin directory.
        PluginPathError: The path leaves the plugin directory.
        RequirementsFileError: It is missing, not a file, too large or not UTF-8.
        InvalidPackageSpec: A line is refused.
    """
    path = requirements_file_path(plugin_dir, location)
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise RequirementsFileError(location, "it is not a regular file")
        if size > MAX_REQUIREMENTS_FILE_BYTES:
            raise RequirementsFileError(
                location, f"it is larger than {MAX_REQUIREMENTS_FILE_BYTES} bytes")
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise RequirementsFileError(location, f"no such file: {path}") from None
    except UnicodeDecodeError:
        raise RequirementsFileError(location, "it is not UTF-8 text") from None
    except OSError as exc:
        raise RequirementsFileError(location, f"cannot read it ({exc.strerror})") from None
    return parse_requirements_text(text, source=location, allow_unsafe=allow_unsafe)
