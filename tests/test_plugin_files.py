"""Plugin paths inside the plugin directory, resolution, and the ast entry-point check."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from engine.errors import (
    NoPluginDirectory,
    PluginContractError,
    PluginLoadError,
    PluginNotFound,
    PluginPathError,
)
from engine.plugin_files import (
    check_entry_point,
    resolve_plugin,
    safe_plugin_path,
    top_level_bindings,
)

WAL_SIGNATURE = "process_writes(influxdb3_local, table_batches, args=None)"


@pytest.fixture
def plugins(plugin_dir: Path) -> Path:
    (plugin_dir / "single.py").write_text("def process_writes(a, b, c=None):\n    pass\n")
    package = plugin_dir / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("from .impl import process_writes\n")
    (package / "impl.py").write_text("def process_writes(a, b, c=None):\n    pass\n")
    nested = plugin_dir / "team" / "tools"
    nested.mkdir(parents=True)
    (nested / "__init__.py").write_text("def process_request(*a): pass\n")
    (plugin_dir / "not_a_package").mkdir()
    return plugin_dir


@pytest.mark.parametrize(
    ("filename", "relative", "is_package"),
    [
        ("single.py", "single.py", False),
        ("pkg", "pkg", True),
        ("pkg/", "pkg", True),
        ("team/tools", "team/tools", True),
        ("./single.py", "single.py", False),
        ("pkg/impl.py", "pkg/impl.py", False),
    ],
    ids=["file", "package", "package-trailing-slash", "nested-package", "dot-prefix",
         "file-in-package"],
)
def test_plugins_resolve_inside_the_directory(
    plugins: Path, filename: str, relative: str, is_package: bool,
) -> None:
    location = resolve_plugin(plugins, filename)
    assert location.path == (plugins / relative).resolve()
    assert location.is_package is is_package
    assert location.filename == filename
    expected_entry = location.path / "__init__.py" if is_package else location.path
    assert location.entry_file == expected_entry


def test_a_symlink_that_stays_inside_is_allowed(plugins: Path) -> None:
    (plugins / "alias.py").symlink_to(plugins / "single.py")
    assert resolve_plugin(plugins, "alias.py").path == (plugins / "single.py").resolve()


@pytest.mark.parametrize(
    ("filename", "fragment"),
    [
        ("../x.py", "'..' component"),
        ("pkg/../../x.py", "'..' component"),
        ("..", "'..' component"),
        ("pkg\\..\\..\\x.py", "'..' component"),
        ("/etc/passwd", "absolute path"),
        ("C:\\plugins\\x.py", "absolute path"),
        ("\\\\server\\share\\x.py", "absolute path"),
        ("", "it is empty"),
        ("   ", "it is empty"),
        ("a\0b.py", "NUL character"),
        ("gh:examples/wal.py", "gh: repository are not fetched"),
        (".", "the plugin directory itself"),
    ],
    ids=["parent", "parent-nested", "dotdot", "windows-parent", "absolute", "windows-drive",
         "unc", "empty", "blank", "nul", "gh", "directory-itself"],
)
def test_paths_that_leave_or_misuse_the_directory_are_refused(
    plugins: Path, filename: str, fragment: str,
) -> None:
    with pytest.raises(PluginPathError, match=fragment) as caught:
        resolve_plugin(plugins, filename)
    assert "use a relative path inside the plugin directory" in str(caught.value)


@pytest.mark.parametrize(
    "link",
    ["escape.py", "linkdir/x.py", "deep/new/file.py"],
    ids=["file-link", "through-dir-link", "missing-under-dir-link"],
)
def test_symlinks_that_leave_the_directory_are_refused(
    plugins: Path, tmp_path: Path, link: str,
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.py").write_text("def process_writes(a, b, c=None): pass\n")
    (plugins / "escape.py").symlink_to(outside / "x.py")
    (plugins / "linkdir").symlink_to(outside)
    (plugins / "deep").symlink_to(outside)
    with pytest.raises(PluginPathError, match="leads outside the plugin directory"):
        safe_plugin_path(plugins, link)


def test_safe_plugin_path_allows_files_that_do_not_exist_yet(plugins: Path) -> None:
    assert safe_plugin_path(plugins, "new/dir/file.py") == plugins.resolve() / "new/dir/file.py"


@pytest.mark.parametrize(
    ("filename", "fragment"),
    [
        ("missing.py", "no such file or directory"),
        ("not_a_package", "must contain __init__.py"),
        ("pkg/missing.py", "no such file or directory"),
    ],
    ids=["missing-file", "dir-without-init", "missing-in-package"],
)
def test_missing_plugins_are_not_found(plugins: Path, filename: str, fragment: str) -> None:
    with pytest.raises(PluginNotFound, match=fragment):
        resolve_plugin(plugins, filename)


def test_no_plugin_directory(tmp_path: Path) -> None:
    with pytest.raises(NoPluginDirectory, match="pass plugin_dir"):
        resolve_plugin(None, "x.py")
    with pytest.raises(PluginNotFound, match="plugin directory is unusable"):
        resolve_plugin(tmp_path / "gone", "x.py")


@pytest.mark.parametrize(
    "source",
    [
        "def process_writes(influxdb3_local, table_batches, args=None):\n    pass\n",
        "async def process_writes(a, b, c=None):\n    pass\n",
        "process_writes = lambda a, b, c=None: None\n",
        "handler, process_writes = print, print\n",
        "[*rest, process_writes] = [print, print]\n",
        "process_writes: object = print\n",
        "from os import path as process_writes\n",
        "import process_writes\n",
        "from .impl import *\n",
        "try:\n    from fast import process_writes\nexcept ImportError:\n"
        "    def process_writes(a, b, c=None): pass\n",
        "if True:\n    def process_writes(a, b, c=None): pass\n",
        "class process_writes:\n    pass\n",
    ],
    ids=["def", "async-def", "assignment", "tuple-assignment", "starred", "annotated",
         "import-as", "import", "star-import", "try-except", "if-block", "class"],
)
def test_bindings_of_the_entry_point_are_found(plugin_dir: Path, source: str) -> None:
    (plugin_dir / "p.py").write_text(source)
    check_entry_point(resolve_plugin(plugin_dir, "p.py"), "process_writes", WAL_SIGNATURE)


@pytest.mark.parametrize(
    "source",
    [
        "",
        "def process_scheduled_call(influxdb3_local, call_time, args=None):\n    pass\n",
        "def outer():\n    def process_writes(a, b, c=None): pass\n",
        "class Plugin:\n    def process_writes(self, a, b, c=None): pass\n",
        "process_writes: object\n",
        "import process_writes.sub as other\n",
        "# def process_writes(a, b, c=None): pass\n",
        "text = 'def process_writes(a, b, c=None): pass'\n",
    ],
    ids=["empty", "other-entry", "nested-def", "method", "annotation-only", "import-as-other",
         "comment", "in-string"],
)
def test_a_missing_entry_point_quotes_the_expected_signature(
    plugin_dir: Path, source: str,
) -> None:
    (plugin_dir / "p.py").write_text(source)
    with pytest.raises(PluginContractError) as caught:
        check_entry_point(resolve_plugin(plugin_dir, "p.py"), "process_writes", WAL_SIGNATURE)
    message = str(caught.value)
    assert f"must define `{WAL_SIGNATURE}`" in message
    assert "the process_writes function is not present in the plugin" in message
    assert caught.value.expected_signature == WAL_SIGNATURE


def test_a_package_is_checked_through_its_init(plugins: Path) -> None:
    check_entry_point(resolve_plugin(plugins, "pkg"), "process_writes", WAL_SIGNATURE)
    with pytest.raises(PluginContractError, match=r"nothing in team/tools/__init__\.py defines"):
        check_entry_point(resolve_plugin(plugins, "team/tools"), "process_writes", WAL_SIGNATURE)


def test_the_plugin_is_not_imported(plugin_dir: Path, tmp_path: Path) -> None:
    marker = tmp_path / "imported"
    (plugin_dir / "p.py").write_text(textwrap.dedent(f"""
        open({str(marker)!r}, "w").close()
        def process_writes(a, b, c=None):
            pass
    """))
    check_entry_point(resolve_plugin(plugin_dir, "p.py"), "process_writes", WAL_SIGNATURE)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"def process_writes(:\n", "syntax error in p.py at line 1"),
        (b"\xff\xfedef process_writes(a, b, c=None): pass\n", "not valid UTF-8"),
    ],
    ids=["syntax-error", "not-utf8"],
)
def test_unreadable_plugins_fail_to_load(plugin_dir: Path, content: bytes, fragment: str) -> None:
    (plugin_dir / "p.py").write_bytes(content)
    with pytest.raises(PluginLoadError, match=fragment):
        check_entry_point(resolve_plugin(plugin_dir, "p.py"), "process_writes", WAL_SIGNATURE)


def test_top_level_bindings_lists_names_and_star() -> None:
    tree = ast.parse("import a.b\nfrom c import d as e\nfrom h import *\nx = y = 1\n"
                     "def f(): g = 1\n")
    assert top_level_bindings(tree.body) == {"a", "e", "*", "x", "y", "f"}
