"""The bundle rules (domain/bundles.py), and the worker's unpacking of what passes."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conveyor.domain.bundles import (
    BundleError,
    BundleLimits,
    check_bundle,
    entry_point,
    safe_member_name,
)
from conveyor.worker.sandbox.bundles import BundleStore
from tests.sandbox.zips import make_zip, zip_bomb

LIMITS = BundleLimits(max_bytes=1024 * 1024, max_unpacked_bytes=8 * 1024 * 1024, max_entries=20)
MAIN = b"def process(items):\n    return items\n"


def test_single_files_and_zips_with_an_entry_point_pass() -> None:
    info = check_bundle("job.py", MAIN, LIMITS)
    assert (info.kind, info.files) == ("file", ("job.py",))
    assert entry_point(info, "python", None) == "job.py"
    tree = make_zip({"main.js": b"exports.process = (x) => x;", "lib/util.js": b"//"})
    info = check_bundle("code.zip", tree, LIMITS)
    assert info.files == ("lib/util.js", "main.js")
    assert entry_point(info, "node", None) == "main.js"
    assert entry_point(info, "node", "lib/util.js") == "lib/util.js"
    with pytest.raises(BundleError, match=r"main\.py"):
        entry_point(info, "python", None)


@pytest.mark.parametrize(
    ("name", "data", "why"),
    [
        ("evil.zip", make_zip({"../escape.py": MAIN}), "safe relative path"),
        ("evil.zip", make_zip({"/etc/cron.d/x": MAIN}), "safe relative path"),
        ("evil.zip", make_zip({"a\\..\\..\\x.py": MAIN}), "safe relative path"),
        ("evil.zip", make_zip({"C:/x.py": MAIN}), "safe relative path"),
        ("evil.zip", make_zip({"main.py": MAIN}, symlinks={"link": "/etc/passwd"}), "symlink"),
        ("bomb.zip", zip_bomb(20), "zip bomb"),
        ("many.zip", make_zip({f"f{i}.py": b"" for i in range(21)}), "entries"),
        ("big.py", b"#" * (LIMITS.max_bytes + 1), "at most"),
        ("data.bin", b"\x00\x01", "source file"),
        ("latin.py", b"# caf\xe9", "UTF-8"),
        ("broken.zip", b"PK\x03\x04garbage", "not a readable zip"),
        ("empty.zip", make_zip({}), "no files"),
    ],
)
def test_hostile_bundles_are_refused(name: str, data: bytes, why: str) -> None:
    with pytest.raises(BundleError, match=why):
        check_bundle(name, data, LIMITS)


def test_the_unpacked_total_is_bounded_whatever_the_ratio() -> None:
    permissive = BundleLimits(
        max_bytes=LIMITS.max_bytes, max_unpacked_bytes=2 * 1024 * 1024, max_ratio=10**6
    )
    with pytest.raises(BundleError, match="more than"):
        check_bundle("bomb.zip", zip_bomb(4), permissive)


@given(st.text(min_size=1, max_size=40))
def test_safe_names_never_leave_their_folder(raw: str) -> None:
    try:
        name = safe_member_name(raw)
    except BundleError:
        return
    path = PurePosixPath(name)
    assert not path.is_absolute()
    assert ".." not in path.parts and "\\" not in name and ":" not in name


def test_unpacked_bundles_are_read_only_to_others(tmp_path: Path) -> None:
    store = BundleStore(tmp_path / "bundles", LIMITS, max_entries=2)
    tree = make_zip({"main.py": MAIN, "pkg/helper.py": b"X = 1\n"})
    bundle = store.add("k1", "code.zip", tree)
    assert (bundle.path / "pkg" / "helper.py").read_bytes() == b"X = 1\n"
    assert oct((bundle.path / "main.py").stat().st_mode & 0o777) == "0o644"
    assert oct((bundle.path / "pkg").stat().st_mode & 0o777) == "0o755"
    assert store.get("k1") is bundle
    store.add("k2", "a.py", MAIN)
    store.add("k3", "b.py", MAIN)
    assert store.get("k1") is None and not bundle.path.exists(), "least recently used evicted"
    with pytest.raises(BundleError):
        store.add("bad", "evil.zip", make_zip({"../x.py": MAIN}))
    assert sorted(p.name for p in (tmp_path / "bundles").iterdir() if p.name.startswith(".")) == []
