"""The one rule of raising at the boundary (csrc/py/py_error.h): what a callback or a signal
handler raised while the C core worked is what the caller gets, never replaced by the core's own
error (nor turned into a SystemError by raising over it)."""

from __future__ import annotations

import io
import os
import signal
import tarfile
import threading
import time
from pathlib import Path

import pytest

from remotezoo import _net


class Interrupted(Exception):
    pass


def tar_gz() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        data = os.urandom(1 << 20)
        info = tarfile.TarInfo("top/a.bin")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_a_signal_handler_s_exception_wins_over_a_failed_extraction(tmp_path: Path) -> None:
    # The archive comes through a FIFO: extract_archive blocks in C reading it, a signal
    # arrives there (its handler runs only when the GIL is taken again: check_interval keeps
    # the extraction from looking), then the archive ends half way: an ArchiveError in C, and
    # the handler's exception pending when the glue takes the GIL back.
    fifo = tmp_path / "archive.tar.gz"
    os.mkfifo(fifo)
    data = tar_gz()

    def handler(signum: int, frame: object) -> None:
        raise Interrupted("raised by the signal handler")

    def writer() -> None:
        with open(fifo, "wb") as f:
            f.write(data[: len(data) // 2])
            f.flush()
            time.sleep(0.3)
            os.kill(os.getpid(), signal.SIGUSR1)
            time.sleep(0.3)

    old = signal.signal(signal.SIGUSR1, handler)
    thread = threading.Thread(target=writer)
    thread.start()
    try:
        with pytest.raises(Interrupted, match="raised by the signal handler"):
            _net.extract_archive(str(fifo), str(tmp_path / "out"), check_interval=3600)
    finally:
        thread.join()
        signal.signal(signal.SIGUSR1, old)
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["archive.tar.gz"]  # nothing left behind


def test_the_note_on_a_source_s_exception_is_one_line(tmp_path: Path) -> None:
    # The note names the model: a manifest's base_name holding a newline or a terminal escape
    # must not make it two lines (it is made as messages are: rz_error_vformat).
    from helpers.zoo import model, write_source

    import remotezoo as rz

    init = """
        def download_model(model_name, model_path):
            raise ConnectionError("network went away")
        def load_model(model_name, model_path, **kwargs):
            return None
    """
    entry = model("acme/two\nlines\x1b[31m", base_filename="two.json")
    src = write_source(tmp_path / "src", [entry], init=init)
    rz.register_zoo_model_source(str(src))
    with pytest.raises(ConnectionError, match="network went away") as info:
        rz.download_zoo_model("acme/two\nlines\x1b[31m")
    notes = getattr(info.value, "__notes__", [])
    assert notes and all("\n" not in note and "\x1b" not in note for note in notes), notes
    assert "download_model" in notes[0] and "acme/two?lines?[31m" in notes[0]
