"""A fake GitHub on loopback, shaped like the real one.

The API lives on one LoopbackServer (127.0.0.1): ``GET /repos/<u>/<r>/commits/<ref>`` answers
the sha (``Accept: application/vnd.github.sha``), ``GET /repos/<u>/<r>/tarball/<sha>``
redirects to the download host. The download host is a second server (127.0.0.2), as
codeload.github.com is: it serves ``/<u>/<r>/legacy.tar.gz/<sha>?token=...`` tarballs with
one top-level directory and a pax global header, like GitHub's.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import time
from dataclasses import dataclass, field
from typing import Optional

from helpers.servers import LoopbackServer


def make_tarball(
    prefix: str, files: dict[str, str], compression: str = "gz", comment: Optional[str] = None
) -> bytes:
    """A tar archive of files under prefix/ (GitHub-style when comment, the sha, is given)."""
    buf = io.BytesIO()
    mode = "w" if compression in ("", "zst") else f"w:{compression}"
    pax = {"comment": comment} if comment else {}
    with tarfile.open(fileobj=buf, mode=mode, format=tarfile.PAX_FORMAT, pax_headers=pax) as tar:
        if prefix:
            info = tarfile.TarInfo(prefix)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for rel, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{prefix}/{rel}" if prefix else rel)
            info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    if compression == "zst":
        import zstandard

        raw = zstandard.ZstdCompressor().compress(raw)
    return raw


@dataclass
class Repo:
    files: dict[str, str]
    refs: dict[str, str] = field(default_factory=dict)  # ref -> sha; "HEAD" is the default branch
    private: bool = False

    def commit(self, files: dict[str, str], ref: str = "HEAD") -> str:
        """Publish a new commit on ref (and HEAD) with these files; return its sha."""
        self.files = files
        sha = hashlib.sha1(json.dumps(files, sort_keys=True).encode() + ref.encode()).hexdigest()
        self.refs[ref] = sha
        if ref != "HEAD":
            self.refs.setdefault("HEAD", sha)
        self.snapshots[sha] = dict(files)
        return sha

    snapshots: dict[str, dict[str, str]] = field(default_factory=dict)


class FakeGitHub:
    """Routes on api (the API host) and download (the codeload host)."""

    def __init__(
        self, api: LoopbackServer, download: LoopbackServer, token: Optional[str] = None
    ) -> None:
        self.api, self.download, self.token = api, download, token
        self.repos: dict[str, Repo] = {}
        self.rate_limited = False
        api.route_prefix("/repos/", self._api)
        download.route_prefix("/", self._codeload)

    @property
    def api_url(self) -> str:
        return self.api.url("/").rstrip("/")

    def add_repo(
        self, name: str, files: dict[str, str], private: bool = False, ref: str = "HEAD"
    ) -> Repo:
        repo = Repo(files={}, private=private)
        repo.commit(files, ref)
        self.repos[name.lower()] = repo
        return repo

    def tarball_requests(self) -> int:
        return sum(1 for r in self.download.requests if "tar.gz" in r.path)

    def _authorized(self, request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.token}"

    def _api(self, request) -> None:
        if self.rate_limited:
            reset = str(int(time.time()) + 120)
            request.respond(
                403,
                b'{"message": "API rate limit exceeded"}',
                {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset},
            )
            return
        parts = request.path.split("?")[0].split("/")  # ['', 'repos', u, r, kind, ref...]
        if len(parts) < 6:
            request.respond(404, b'{"message": "Not Found"}')
            return
        name, kind, ref = f"{parts[2]}/{parts[3]}".lower(), parts[4], "/".join(parts[5:])
        repo = self.repos.get(name)
        if repo is None or (repo.private and not self._authorized(request)):
            request.respond(404, b'{"message": "Not Found"}')
            return
        if kind == "commits":
            sha = repo.refs.get(ref) or (ref if ref in repo.snapshots else None)
            if sha is None:
                request.respond(422, b'{"message": "No commit found"}')
            elif request.headers.get("Accept") == "application/vnd.github.sha":
                request.respond(200, sha.encode(), {"Content-Type": "text/plain"})
            else:
                request.respond(200, json.dumps({"sha": sha}).encode())
        elif kind == "tarball" and ref in repo.snapshots:
            location = self.download.url(f"/{name}/legacy.tar.gz/{ref}?token=SIGNED-DOWNLOAD-TOKEN")
            request.respond(302, b"", {"Location": location})
        else:
            request.respond(404, b'{"message": "Not Found"}')

    def _codeload(self, request) -> None:
        parts = request.path.split("?")[0].split("/")  # ['', u, r, 'legacy.tar.gz', sha]
        name = f"{parts[1]}/{parts[2]}" if len(parts) == 5 else ""
        repo = self.repos.get(name)
        if repo is None or parts[4] not in repo.snapshots:
            request.respond(404, b"Not Found")
            return
        user, project = name.split("/")
        body = make_tarball(
            f"{user}-{project}-{parts[4][:7]}", repo.snapshots[parts[4]], comment=parts[4]
        )
        request.respond(200, body, {"Content-Type": "application/x-gzip"})
