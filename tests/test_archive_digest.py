"""An archive source's archive_sha256 is the SHA-256 of the bytes served, in every format: tar
formats are hashed as they stream into the extractor, zip and 7z as rz_fetch_to_file writes them."""

from __future__ import annotations

import hashlib

import pytest
from test_sources import make_archive, source_files

import remotezoo as rz


@pytest.mark.parametrize("fmt", ["zip", "tar.gz"])
def test_archive_sha256_is_of_the_bytes_served(http_server2, fmt, tmp_path, monkeypatch):
    monkeypatch.setenv("RZ_TEST_CALL_LOG", str(tmp_path / "calls.log"))
    data = make_archive(fmt, source_files("arch", name=f"arch/{fmt}"))
    http_server2.serve_bytes(f"/dl/zoo.{fmt}", data)
    rz.register_zoo_model_source(http_server2.url(f"/dl/zoo.{fmt}"))
    (info,) = rz.zoo_model_sources_info()
    assert info["archive_sha256"] == hashlib.sha256(data).hexdigest()
    assert rz.load_zoo_model("arch").predict(3) == 9
