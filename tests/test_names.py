"""registry.names: listing every model without parsing the index (csrc/core/names.h).

A new process answers ``list_zoo_models()`` from registry.names while it is valid. Every test
compares that answer with the index's own (``tags=[]`` matches every model but walks the index)
in fresh processes, after the changes that must invalidate the file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from helpers.zoo import model, write_source
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import remotezoo as rz

ROOT = Path(__file__).resolve().parent.parent

LISTINGS = """
import json, remotezoo as rz
from remotezoo import _core
fast = rz.list_zoo_models()
again = rz.list_zoo_models()
walked = _core.list_models(rz.home(), [], None, None)
print(json.dumps([fast, again, walked]))
"""


def listings() -> list[list[str]]:
    """[from registry.names (or the index if it is not valid), a second call, the index walk]."""
    proc = subprocess.run(
        [sys.executable, "-c", LISTINGS], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def names_file() -> Path:
    return Path(rz.home()) / "registry.names"


def assert_same(expected: list[str]) -> None:
    fast, again, walked = listings()
    assert fast == again == walked == expected


def test_every_write_of_the_registry_writes_the_names_and_a_new_process_lists_from_them(tmp_path):
    one = write_source(tmp_path / "one", [model("b", "1.0"), model("a", "2.0")], name="one")
    two = write_source(tmp_path / "two", [model("c")], name="two")
    rz.register_zoo_model_source(str(one))
    assert names_file().read_text().splitlines()[-2:] == ["N a@2.0", "N b@1.0"]
    assert_same(["a@2.0", "b@1.0"])
    rz.register_zoo_model_source(str(two))
    assert_same(["a@2.0", "b@1.0", "c"])
    rz.delete_zoo_model_source(str(one))
    assert_same(["c"])
    assert names_file().read_text().splitlines()[-1] == "N c"


def test_a_registry_json_the_names_do_not_describe_is_read_instead(tmp_path):
    # A crash between the two writes, or another writer: registry.json is not the file the
    # names were made from.
    one = write_source(tmp_path / "one", [model("a")], name="one")
    rz.register_zoo_model_source(str(one))
    index = Path(rz.home()) / "registry.json"
    before = index.read_text()
    rz.register_zoo_model_source(str(write_source(tmp_path / "two", [model("b")], name="two")))
    stale_names = names_file().read_text()
    shutil.copy(index, tmp_path / "new.json")
    index.write_text(before)  # the index without "two", the names with it
    assert names_file().read_text() == stale_names
    assert_same(["a"])


def test_a_changed_local_manifest_is_seen(tmp_path):
    src = write_source(tmp_path / "src", [model("a")], name="src")
    rz.register_zoo_model_source(str(src))
    assert_same(["a"])
    manifest = json.loads((src / "manifest.json").read_text())
    manifest["models"].append(model("z"))
    (src / "manifest.json").write_text(json.dumps(manifest))
    assert_same(["a", "z"])
    assert names_file().read_text().splitlines()[-1] == "N z"  # rewritten by the rescan


def test_missing_or_malformed_names_fall_back_to_the_index(tmp_path):
    rz.register_zoo_model_source(
        str(write_source(tmp_path / "src", [model("a"), model("b")], name="src"))
    )
    good = names_file().read_bytes()
    for bad in (
        b"",
        b"garbage\n",
        good[:-1],
        good.replace(b"remotezoo-names 1", b"remotezoo-names 9"),
        good.replace(b"\nN ", b"\nX ", 1),
        good + b"L late local\n",
        b"\0" * 100,
        None,
    ):
        if bad is None:
            names_file().unlink()
        else:
            names_file().write_bytes(bad)
        assert_same(["a", "b"])


def test_a_name_the_file_cannot_hold_leaves_no_names_file(tmp_path):
    src = write_source(tmp_path / "src", [model("line\nbreak"), model("plain")], name="src")
    rz.register_zoo_model_source(str(src))
    assert not names_file().exists()
    assert_same(["line\nbreak", "plain"])


def test_names_follow_remotezoo_home(tmp_path, monkeypatch):
    rz.register_zoo_model_source(str(write_source(tmp_path / "one", [model("a")], name="one")))
    assert rz.list_zoo_models() == ["a"]
    monkeypatch.setenv("REMOTEZOO_HOME", str(tmp_path / "other-home"))
    rz.register_zoo_model_source(str(write_source(tmp_path / "two", [model("b")], name="two")))
    assert rz.list_zoo_models() == ["b"]
    assert os.fspath(names_file()).startswith(str(tmp_path / "other-home"))


def test_a_new_process_lists_from_the_names_without_reading_the_index(tmp_path):
    # Make registry.json unreadable as an index while keeping the identity the names record
    # (same inode, size and mtime): the unfiltered listing still answers, from the names alone.
    rz.register_zoo_model_source(
        str(write_source(tmp_path / "src", [model("a"), model("b")], name="src"))
    )
    index = Path(rz.home()) / "registry.json"
    st = index.stat()
    with open(index, "r+b") as f:
        f.write(b"#" * st.st_size)
    os.utime(index, ns=(st.st_atime_ns, st.st_mtime_ns))
    code = "import json, remotezoo as rz; print(json.dumps(rz.list_zoo_models()))"
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and json.loads(proc.stdout) == ["a", "b"], proc.stderr
    filtered = subprocess.run(
        [sys.executable, "-c", "import remotezoo as rz; rz.list_zoo_models(tags=[])"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert filtered.returncode != 0 and "not a remotezoo registry" in filtered.stderr


LINE = st.one_of(
    st.binary(max_size=40),
    st.builds(lambda body: b"N " + body, st.binary(max_size=20)),
    st.builds(
        lambda stamp, path: b"L " + stamp + b" " + path,
        st.binary(max_size=12),
        st.binary(max_size=20),
    ),
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(lines=st.lists(LINE, max_size=8), newline_at_end=st.booleans())
def test_any_names_file_behind_a_valid_header_is_read_safely(
    tmp_path, monkeypatch, lines, newline_at_end
):
    # Whatever follows a header that matches registry.json, the reader neither crashes nor
    # reads out of bounds (this runs under ASan in scripts/sanitize.sh): it lists what the
    # file says, or reads the index.
    home = Path(tmp_path) / f"home-{os.urandom(6).hex()}"
    home.mkdir()
    (home / "registry.json").write_text('{"format":1,"sources":[]}')
    st_ = (home / "registry.json").stat()
    header = (
        f"remotezoo-names 1 {st_.st_dev} {st_.st_ino} {st_.st_size} {st_.st_mtime_ns}\n".encode()
    )
    (home / "registry.names").write_bytes(
        header + b"\n".join(lines) + (b"\n" if newline_at_end else b"")
    )
    monkeypatch.setenv("REMOTEZOO_HOME", str(home))
    listed = rz.list_zoo_models()
    assert isinstance(listed, list) and all(isinstance(name, str) for name in listed)
