"""The C core never holds a borrowed reference across code that can run Python.

Each case runs in a child interpreter with ``PYTHONMALLOC=debug`` (freed memory is overwritten
at once), so a use after free is a crash or a wrong answer of the child, and a failure of the
test rather than of pytest.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from helpers.zoo import write_source


def run_child(code: str, home: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONMALLOC="debug", REMOTEZOO_HOME=home, PYTHONFAULTHANDLER="1")
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_ok(proc: subprocess.CompletedProcess, expected: str) -> None:
    assert proc.returncode == 0, f"child died ({proc.returncode}): {proc.stderr[-2000:]}"
    assert proc.stdout.strip().splitlines()[-1] == expected, proc.stdout + proc.stderr


SELF_REPLACING_INIT = '''
import sys

def download_model(model_name, model_path):
    with open(model_path, "w") as f:
        f.write("weights")

_real = sys.modules[__name__]

class _Proxy:
    """A lazy module that puts the real one back on its first attribute access."""
    def __getattr__(self, name):
        sys.modules[__name__] = _real  # drops the last reference to this proxy
        return None if name == "__spec__" else getattr(_real, name)

def load_model(model_name, model_path, **kwargs):
    sys.modules[__name__] = _Proxy()
    return "loaded"
'''


def test_source_replacing_its_sys_modules_entry(tmp_path: Path, isolated_home: str) -> None:
    # The second load looked at the proxy (borrowed from sys.modules) after its own
    # __getattr__ had freed it: SIGSEGV.
    src = write_source(
        tmp_path / "src",
        [{"base_name": "t/m", "base_filename": "m.txt"}],
        init=SELF_REPLACING_INIT,
        name="t/zoo",
    )
    proc = run_child(
        f"""
        import gc, remotezoo as rz
        rz.register_zoo_model_source({str(src)!r})
        for _ in range(4):
            out = rz.load_zoo_model("t/m", cache=False)
            gc.collect()
        print(out)
    """,
        isolated_home,
    )
    assert_ok(proc, "loaded")


def test_list_models_filters_survive_a_finalizer_emptying_them(
    tmp_path: Path, isolated_home: str
) -> None:
    # tags were borrowed from the caller's list while the listing allocated; a finalizer run by
    # the garbage collector there emptied the list and freed the strings being compared.
    src = write_source(
        tmp_path / "src",
        [
            {
                "base_name": "t/a",
                "base_filename": "a.txt",
                "tags": ["fast-" + "x"],
                "license": "MIT",
            },
            {"base_name": "t/b", "base_filename": "b.txt", "tags": ["slow"], "license": "BSD"},
        ],
        name="t/zoo",
    )
    proc = run_child(
        f"""
        import gc, remotezoo as rz
        from remotezoo import _core
        rz.register_zoo_model_source({str(src)!r})
        tags, licenses = ["".join(["fast-", "x"])], ["".join(["M", "IT"])]

        class Emptier:
            def __del__(self):
                tags.clear()
                licenses.clear()
                [bytearray(64) for _ in range(1000)]  # reuse the freed memory

        def arm():
            cycle = Emptier()
            cycle.me = cycle
        home, results = rz.home(), set()
        # The collector runs on the n-th container allocation: one n lands inside the call.
        for n in range(1, 40):
            tags[:], licenses[:] = ["".join(["fast-", "x"])], ["".join(["M", "IT"])]
            gc.collect()
            arm()
            gc.set_threshold(n)
            found = _core.list_models(home, tags, None, licenses)
            gc.set_threshold(700)
            results.add(tuple(found))
        # Emptied before the call: no filter; during it: the filters as they were passed.
        print(sorted(results - set([("t/a", "t/b")])))
    """,
        isolated_home,
    )
    assert_ok(proc, "[('t/a',)]")


def test_http_get_wanted_names_survive_the_headers_mapping(http_server, isolated_home: str) -> None:
    # wanted's strings were borrowed from the caller's list while the headers mapping's items()
    # ran Python that emptied it.
    http_server.serve_bytes("/h", b"body")
    proc = run_child(
        f"""
        from remotezoo import _net
        wanted = ["".join(["Content-", "Length"])]

        class Headers(dict):
            def items(self):
                wanted.clear()
                [bytearray(64) for _ in range(1000)]
                return [("X-Test", "1")]

        status, body, values = _net.http_get({http_server.url("/h")!r}, headers=Headers(a="b"), wanted=wanted)
        print(status, body, sorted(values.items()))
    """,
        isolated_home,
    )
    assert_ok(proc, "200 b'body' [('Content-Length', '4')]")


def test_headers_mapping_yielding_non_pairs_never_crashes(http_server, isolated_home: str) -> None:
    # A mapping whose items() yields lists or 3-tuples was read as tuples of two (a list's item
    # array taken for a tuple's items): refused, or the dict's own items used, never misread.
    http_server.serve_bytes("/h", b"body")
    proc = run_child(
        f"""
        from remotezoo import _net

        class Headers(dict):
            def __init__(self, items):
                super().__init__(a="b")
                self._items = items
            def items(self):
                return self._items

        for items in ([["X-A", "1"]], [("X-A", "1", "2")], [("X-A",)], [42]):
            try:
                _net.http_get({http_server.url("/h")!r}, headers=Headers(items))
                print("used")
            except TypeError as err:
                print("TypeError", err)
        print("done")
    """,
        isolated_home,
    )
    assert_ok(proc, "done")
    outcomes = proc.stdout.splitlines()[:-1]
    assert len(outcomes) == 4
    assert all(
        o == "used" or o.startswith("TypeError headers must be a dict of str to str")
        for o in outcomes
    )
