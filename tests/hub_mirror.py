"""A Hugging Face Hub on 127.0.0.1 for tests: serves model and dataset repositories held in memory through the part
of the Hub's HTTP API that `huggingface_hub` (hence `transformers.from_pretrained` and `datasets.load_dataset`)
calls, so the suite's Hub loading path runs unchanged with `HF_ENDPOINT=<mirror.url>`.

What it answers (the Hub's routes; `{rev}` is a branch, a ref such as `refs/convert/parquet`, or a commit hash,
URL-quoted as huggingface_hub sends it):
- `GET /api/{models|datasets}/{repo}[/revision/{rev}]`: the repository's info (sha, siblings);
- `GET /api/{models|datasets}/{repo}/tree/{rev}[/{path}]`: a folder's entries (`recursive=1` for all below it);
- `POST /api/{models|datasets}/{repo}/paths-info/{rev}`: the entries of the named paths;
- `HEAD|GET /{repo}/resolve/{rev}/{path}` and `/datasets/{repo}/resolve/{rev}/{path}`: a file, with the headers
  huggingface_hub reads (X-Repo-Commit, ETag, Content-Length) and byte ranges.
A repository answers only under the revisions it is given (and its commit hash); anything else gets the Hub's
404 with its `X-Error-Code` (RepoNotFound, RevisionNotFound, EntryNotFound), as the real Hub does. Every request
is kept in `requests` so tests can say what was asked for.
"""
from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class Repo:
    kind: str                       # "model" or "dataset"
    repo_id: str                    # "org/name"
    sha: str                        # the commit every revision of it resolves to
    files: dict[str, bytes]         # path in the repository -> content
    revisions: tuple[str, ...] = ("main",)

    def answers(self, revision: str) -> bool:
        return revision in self.revisions or revision == self.sha

    @classmethod
    def from_folder(cls, kind: str, repo_id: str, folder: Path, sha: str | None = None,
                    revisions: tuple[str, ...] = ("main",)) -> "Repo":
        files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
        sha = sha or hashlib.sha1(repo_id.encode() + b"".join(files[p] for p in sorted(files))).hexdigest()
        return cls(kind, repo_id, sha, files, revisions)


def _blob_id(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def _entry_file(path: str, content: bytes) -> dict:
    return {"type": "file", "oid": _blob_id(content), "size": len(content), "path": path}


def _entry_folder(path: str) -> dict:
    return {"type": "directory", "oid": hashlib.sha1(path.encode()).hexdigest(), "size": 0, "path": path}


@dataclass
class HubMirror:
    repos: list[Repo]
    requests: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.by_id = {(r.kind, r.repo_id): r for r in self.repos}
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet: tests read `mirror.requests`
                pass

            def do_HEAD(self):
                mirror.handle(self, "HEAD")

            def do_GET(self):
                mirror.handle(self, "GET")

            def do_POST(self):
                mirror.handle(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "HubMirror":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- routing ----------------------------------------------------------------------------------------
    def handle(self, req: BaseHTTPRequestHandler, method: str) -> None:
        split = urlsplit(req.path)
        self.requests.append((method, req.path))
        parts = split.path.strip("/").split("/")  # still quoted: a revision may hold an encoded "/"
        query = parse_qs(split.query)
        body = b""
        if method == "POST":
            body = req.rfile.read(int(req.headers.get("Content-Length") or 0))
        try:
            if parts[0] == "api" and len(parts) >= 4 and parts[1] in ("models", "datasets"):
                kind = parts[1][:-1]
                repo = self.repo(kind, f"{unquote(parts[2])}/{unquote(parts[3])}")
                self.api(req, method, repo, parts[4:], query, body)
                return
            kind = "model"
            if parts[0] == "datasets":
                kind, parts = "dataset", parts[1:]
            if len(parts) >= 5 and parts[2] == "resolve":
                repo = self.repo(kind, f"{unquote(parts[0])}/{unquote(parts[1])}")
                self.resolve(req, method, repo, unquote(parts[3]), unquote("/".join(parts[4:])))
                return
            raise NotFound("RepoNotFound", f"no route for {split.path}")
        except NotFound as err:
            self.send(req, method, 404, json.dumps({"error": err.message}).encode(),
                      {"X-Error-Code": err.code, "X-Error-Message": err.message, "Content-Type": "application/json"})

    def repo(self, kind: str, repo_id: str) -> Repo:
        repo = self.by_id.get((kind, repo_id))
        if repo is None:
            raise NotFound("RepoNotFound", f"Repository Not Found for url: {kind} {repo_id}")
        return repo

    @staticmethod
    def revision(repo: Repo, quoted: str) -> str:
        revision = unquote(quoted)
        if not repo.answers(revision):
            raise NotFound("RevisionNotFound", f"Invalid rev id: {revision}")
        return revision

    def api(self, req, method: str, repo: Repo, rest: list[str], query: dict, body: bytes) -> None:
        if not rest or rest[0] == "revision":
            if rest:
                self.revision(repo, rest[1])
            siblings = [{"rfilename": p} for p in sorted(repo.files)]
            info = {"id": repo.repo_id, "_id": repo.sha[:24], "sha": repo.sha, "private": False, "gated": False,
                    "disabled": False, "downloads": 0, "likes": 0, "tags": [], "siblings": siblings,
                    "lastModified": "2024-01-01T00:00:00.000Z", "createdAt": "2022-01-01T00:00:00.000Z"}
            if repo.kind == "model":
                info["modelId"] = repo.repo_id
            return self.send_json(req, method, info)
        if rest[0] == "tree" and len(rest) >= 2:
            self.revision(repo, rest[1])
            folder = unquote("/".join(rest[2:])).strip("/")
            recursive = query.get("recursive", ["false"])[0].lower() in ("1", "true")
            return self.send_json(req, method, self.tree(repo, folder, recursive))
        if rest[0] == "paths-info" and len(rest) >= 2:
            self.revision(repo, rest[1])
            form = parse_qs(body.decode())
            paths = form.get("paths", [])
            if not paths and body.startswith(b"{"):
                paths = json.loads(body).get("paths", [])
            return self.send_json(req, method, [e for p in paths if (e := self.entry(repo, p.strip("/")))])
        raise NotFound("EntryNotFound", f"no API route /{'/'.join(rest)}")

    def tree(self, repo: Repo, folder: str, recursive: bool) -> list[dict]:
        prefix = f"{folder}/" if folder else ""
        if folder and not any(p.startswith(prefix) for p in repo.files):
            raise NotFound("EntryNotFound", f"{folder} does not exist on this revision")
        entries, folders = [], set()
        for path, content in sorted(repo.files.items()):
            if not path.startswith(prefix):
                continue
            below = path[len(prefix):].split("/")
            for depth in range(1, len(below)):
                if depth > 1 and not recursive:
                    break
                folders.add(prefix + "/".join(below[:depth]))
            if recursive or len(below) == 1:
                entries.append(_entry_file(path, content))
        return [_entry_folder(f) for f in sorted(folders)] + entries

    @staticmethod
    def entry(repo: Repo, path: str) -> dict | None:
        if path in repo.files:
            return _entry_file(path, repo.files[path])
        if any(p.startswith(path + "/") for p in repo.files):
            return _entry_folder(path)
        return None

    def resolve(self, req, method: str, repo: Repo, revision: str, path: str) -> None:
        if not repo.answers(revision):
            raise NotFound("RevisionNotFound", f"Invalid rev id: {revision}")
        content = repo.files.get(path)
        if content is None:
            raise NotFound("EntryNotFound", f"{path} does not exist on {revision}")
        headers = {"X-Repo-Commit": repo.sha, "ETag": f'"{hashlib.sha256(content).hexdigest()}"',
                   "Content-Type": "application/octet-stream", "Accept-Ranges": "bytes"}
        status, ranged = 200, req.headers.get("Range")
        if ranged and ranged.startswith("bytes="):
            start, _, end = ranged[len("bytes="):].partition("-")
            first = int(start) if start else max(len(content) - int(end), 0)
            last = int(end) if start and end else len(content) - 1
            headers["Content-Range"] = f"bytes {first}-{last}/{len(content)}"
            content, status = content[first:last + 1], 206
        self.send(req, method, status, content, headers)

    # --- responses --------------------------------------------------------------------------------------
    def send_json(self, req, method: str, value) -> None:
        self.send(req, method, 200, json.dumps(value).encode(), {"Content-Type": "application/json"})

    @staticmethod
    def send(req, method: str, status: int, body: bytes, headers: dict) -> None:
        req.send_response(status)
        for name, value in headers.items():
            req.send_header(name, value)
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        if method != "HEAD":
            req.wfile.write(body)


class NotFound(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message
