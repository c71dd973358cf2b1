"""Nothing a manifest or a server says can steer the terminal the CLI prints to: control
characters (ESC, BEL, CR, C1 CSI), bidirectional overrides and line separators are printed
escaped (``\\x1b``) in tables, info, errors and log lines; ``--json`` escapes them itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.zoo import SIMPLE_INIT, model, write_source

import remotezoo as rz
from remotezoo.__main__ import main

# Cursor home + clear screen, a terminal title, a carriage return over the line, C1 CSI,
# a right-to-left override and a Unicode line separator.
EVIL = "\x1b[H\x1b[2J\x1b]0;pwned\x07\rX\u009b31m\u202eY\u2028Z\x7f"
RAW = ("\x1b", "\x07", "\r", "\u009b", "\u202e", "\u2028", "\x7f")


@pytest.fixture
def evil_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RZ_TEST_CALL_LOG", str(tmp_path / "calls.log"))
    models = [
        model(
            f"acme/evil{EVIL}",
            description=EVIL,
            license=f"MIT{EVIL}",
            tags=[f"t{EVIL}"],
            author=EVIL,
            requirements={"packages": [f"numpy{EVIL}"]},
        ),
        model("acme/plain", description=f"line one\nline two{EVIL}"),
    ]
    root = write_source(tmp_path / "src", models, init=SIMPLE_INIT, name="acme/zoo")
    rz.register_zoo_model_source(str(root))
    return root


def assert_inert(text: str) -> None:
    for raw in RAW:
        assert raw not in text, (raw, text)


EVIL_NAME = f"acme/evil{EVIL}"


@pytest.mark.parametrize(
    "argv",
    [
        ["models", "list"],
        ["models", "list", "-n"],
        ["models", "list", "-t", f"t{EVIL}"],
        ["-v", "models", "info", EVIL_NAME],
        ["models", "info", "acme/plain"],
        ["-v", "models", "download", EVIL_NAME],
        ["models", "list-downloaded"],
        ["models", "requirements", EVIL_NAME],
        ["-v", "models", "delete", EVIL_NAME],
        ["sources", "list"],
        ["models", "info", f"nope{EVIL}"],
        ["models", "list", "-s", f"./no{EVIL}"],
    ],
)
def test_text_output_escapes_control_characters(argv, evil_source, capsys) -> None:
    main(argv)
    out, err = capsys.readouterr()
    assert_inert(out)
    assert_inert(err)


def test_escaped_text_is_readable_and_one_line_per_row(evil_source, capsys) -> None:
    assert main(["models", "list", "-n"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "acme/evil\\x1b[H\\x1b[2J\\x1b]0;pwned\\x07\\x0dX\\x9b31m\\u202eY\\u2028Z\\x7f",
        "acme/plain",
    ]
    assert main(["models", "info", "acme/plain"]) == 0
    assert "line one\\x0aline two" in capsys.readouterr().out


def test_errors_are_one_inert_line(evil_source, capsys) -> None:
    assert main(["models", "info", f"nope{EVIL}"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("remotezoo: error: ")
    assert_inert(err)


def strings(data: object) -> list[str]:
    if isinstance(data, str):
        return [data]
    if isinstance(data, dict):
        return [s for k, v in data.items() for s in (*strings(k), *strings(v))]
    if isinstance(data, list):
        return [s for item in data for s in strings(item)]
    return []


@pytest.mark.parametrize("argv", [["models", "list"], ["models", "info", EVIL_NAME]])
def test_json_output_escapes_them_itself(argv, evil_source, capsys) -> None:
    assert main(["--json", *argv]) == 0
    out = capsys.readouterr().out
    assert_inert(out.replace("\x7f", ""))  # JSON leaves DEL as it is; it moves nothing
    assert any(EVIL in s for s in strings(json.loads(out)))  # the data itself is kept exactly


def test_progress_bar_description_is_escaped(evil_source) -> None:
    from remotezoo._progressbar import ProgressBar

    seen = {}

    def fake_tqdm(**kwargs):
        seen.update(kwargs)
        raise RuntimeError("no terminal here")

    bar = ProgressBar(fake_tqdm, EVIL_NAME)
    bar(1, 10)
    assert_inert(seen["desc"])


def test_exception_messages_from_the_core_are_inert(evil_source) -> None:
    with pytest.raises(rz.ModelNotFoundError) as info:
        rz.get_zoo_model(f"nope{EVIL}")
    assert_inert(str(info.value))
