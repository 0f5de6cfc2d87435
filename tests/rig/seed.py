"""Push deterministic test images into a rig registry with raw HTTP (never with the code under test).

Why raw HTTP: if seeding used ocireg, a bug in ocireg could corrupt the very fixtures meant to catch it. Every
manifest is recorded with the exact bytes PUT, its media type and ``sha256`` of those bytes, so tests can assert
"digest = sha256(GET body)" against an independent truth. Manifests are pretty-printed on purpose: a client that
re-serialises JSON before hashing gets a different digest and fails.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from .httpclient import Client, ReadError, RemoteProtocolError, Response

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"

#: The four manifest types, in the order docs/architecture.md §5 says every manifest request must accept.
MANIFEST_TYPES: tuple[str, ...] = (OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST)
ACCEPT_ALL = ", ".join(MANIFEST_TYPES)

REPO = "group/project"
NESTED_REPO = "group/sub/project/image"
PUBLIC_REPO = "public/app"
MANY_REPO = "group/project/many"
MANY_TAGS_COUNT = 1500

Platform = tuple[str, str, str | None]  # (os, architecture, variant)
DEFAULT_PLATFORMS: tuple[Platform, ...] = (("linux", "amd64", None), ("linux", "arm64", "v8"))

#: (repo, actions) -> Authorization header value or None (open registry).
AuthorizationFactory = Callable[[str, Sequence[str]], str | None]


def sha256_digest(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Blob:
    """A config or layer blob as pushed."""

    digest: str
    media_type: str
    data: bytes = field(repr=False)

    @property
    def size(self) -> int:
        """Length in bytes."""
        return len(self.data)


@dataclass(frozen=True)
class SeededManifest:
    """A manifest exactly as PUT: ``digest == sha256(body)``. Children (of an index/list) have ``tag=None``."""

    repo: str
    tag: str | None
    media_type: str
    digest: str
    body: bytes = field(repr=False)
    blobs: tuple[Blob, ...] = field(
        default=(), repr=False
    )  # config first, then layers (image manifests only)
    children: tuple[SeededManifest, ...] = field(default=(), repr=False)  # index / manifest list only
    platform: Platform | None = None  # set on index children

    @property
    def size(self) -> int:
        """Length of ``body`` in bytes."""
        return len(self.body)

    @property
    def is_index(self) -> bool:
        """True for an OCI index or a Docker manifest list."""
        return self.media_type in (OCI_INDEX, DOCKER_LIST)

    @property
    def config(self) -> Blob | None:
        """The config blob (None for an index)."""
        return self.blobs[0] if self.blobs else None

    @property
    def layers(self) -> tuple[Blob, ...]:
        """Layer blobs (empty for an index)."""
        return self.blobs[1:]

    @property
    def json(self) -> Any:
        """The body parsed."""
        return json.loads(self.body)

    def with_tag(self, tag: str) -> SeededManifest:
        """The same bytes recorded under another tag (two tags, one digest)."""
        return SeededManifest(
            self.repo, tag, self.media_type, self.digest, self.body, self.blobs, self.children
        )


@dataclass(frozen=True)
class Seeded:
    """Every tagged manifest the rig seeded, with lookups. Immutable so session fixtures can share it."""

    manifests: tuple[SeededManifest, ...] = ()

    def __repr__(self) -> str:
        return f"Seeded({', '.join(f'{m.repo}:{m.tag}' for m in self.manifests)})"

    def get(self, repo: str, tag: str) -> SeededManifest:
        """The manifest seeded as ``repo:tag`` (KeyError if none)."""
        for m in self.manifests:
            if m.repo == repo and m.tag == tag:
                return m
        raise KeyError(f"{repo}:{tag} was not seeded")

    def __getitem__(self, ref: str) -> SeededManifest:
        """``seeded["group/project:oci"]``."""
        repo, _, tag = ref.rpartition(":")
        return self.get(repo, tag)

    def __iter__(self) -> Iterator[SeededManifest]:
        return iter(self.manifests)

    def __len__(self) -> int:
        return len(self.manifests)

    def digest(self, repo: str, tag: str) -> str:
        """Shortcut for ``get(repo, tag).digest``."""
        return self.get(repo, tag).digest

    def repos(self) -> tuple[str, ...]:
        """Repositories with at least one seeded tag, sorted."""
        return tuple(sorted({m.repo for m in self.manifests}))

    def tags(self, repo: str) -> tuple[str, ...]:
        """Tags seeded in ``repo``, sorted like the registry lists them."""
        return tuple(sorted(m.tag for m in self.manifests if m.repo == repo and m.tag is not None))

    # Named shortcuts for the standard seed (see ``seed_standard``).
    @property
    def oci(self) -> SeededManifest:
        """``group/project:oci``: a single OCI image manifest."""
        return self.get(REPO, "oci")

    @property
    def index(self) -> SeededManifest:
        """``group/project:index``: OCI index, linux/amd64 + linux/arm64/v8."""
        return self.get(REPO, "index")

    @property
    def docker(self) -> SeededManifest:
        """``group/project:docker``: Docker v2 schema2 manifest."""
        return self.get(REPO, "docker")

    @property
    def docker_list(self) -> SeededManifest:
        """``group/project:list``: Docker manifest list, two platforms."""
        return self.get(REPO, "list")

    @property
    def release(self) -> SeededManifest:
        """``group/project:v1.2.3``: same digest as ``stable``."""
        return self.get(REPO, "v1.2.3")

    @property
    def stable(self) -> SeededManifest:
        """``group/project:stable``: same digest as ``v1.2.3``."""
        return self.get(REPO, "stable")

    @property
    def nested(self) -> SeededManifest:
        """``group/sub/project/image:latest``: GitLab-style nested repository."""
        return self.get(NESTED_REPO, "latest")

    @property
    def public(self) -> SeededManifest:
        """``public/app:latest``: pullable anonymously on token variants."""
        return self.get(PUBLIC_REPO, "latest")


@dataclass(frozen=True)
class ManyTags:
    """A repository holding one manifest under many tags ``t0000``..."""

    repo: str
    tags: tuple[str, ...]
    manifest: SeededManifest

    @property
    def digest(self) -> str:
        """The single digest every tag points at."""
        return self.manifest.digest


# --------------------------------------------------------------------------------------------------------------
# Deterministic content
# --------------------------------------------------------------------------------------------------------------

_FIXED_MTIME = 1_700_000_000
_CREATED = "2024-01-01T00:00:00Z"


def layer_tar(label: str) -> bytes:
    """An uncompressed tar with one file; identical bytes for identical labels."""
    content = f"ocireg rig layer {label}\n".encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo(f"rig/{label}.txt")
        info.size, info.mtime, info.mode = len(content), _FIXED_MTIME, 0o644
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def layer_gzip(label: str) -> tuple[bytes, str]:
    """(gzip'd layer bytes, diff_id of the uncompressed tar)."""
    raw = layer_tar(label)
    return gzip.compress(raw, compresslevel=6, mtime=0), sha256_digest(raw)


def config_json(label: str, platform: Platform, diff_id: str) -> bytes:
    """A small but valid image config."""
    os_, arch, variant = platform
    cfg: dict[str, Any] = {
        "architecture": arch,
        "config": {"Labels": {"org.ocireg.rig": label}, "Cmd": ["/bin/true"]},
        "created": _CREATED,
        "history": [{"created": _CREATED, "created_by": f"ocireg rig {label}"}],
        "os": os_,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }
    if variant:
        cfg["variant"] = variant
    return json.dumps(cfg, sort_keys=True, separators=(",", ":")).encode()


def _descriptor(media_type: str, digest: str, size: int, platform: Platform | None = None) -> dict[str, Any]:
    desc: dict[str, Any] = {"mediaType": media_type, "digest": digest, "size": size}
    if platform is not None:
        os_, arch, variant = platform
        desc["platform"] = {"architecture": arch, "os": os_}
        if variant:
            desc["platform"]["variant"] = variant
    return desc


def _dump(doc: dict[str, Any], docker: bool) -> bytes:
    # Docker tooling indents with 3 spaces, OCI tooling with 2: both non-canonical, on purpose.
    return json.dumps(doc, indent=3 if docker else 2).encode()


# --------------------------------------------------------------------------------------------------------------
# Pushing
# --------------------------------------------------------------------------------------------------------------


class SeedError(RuntimeError):
    """The registry refused a seeding request (the message has status and body)."""


class Pusher:
    """Raw HTTP push helper bound to one registry. Thread-safe (each thread keeps its own connections)."""

    def __init__(
        self,
        base_url: str,
        *,
        verify: Any = True,
        authorization: AuthorizationFactory | None = None,
        timeout: float = 30.0,
    ) -> None:
        parts = urlsplit(base_url)
        if not (parts.hostname or "").startswith("127.") and parts.hostname != "localhost":
            raise ValueError("the rig only pushes to loopback registries")
        self.base_url = base_url.rstrip("/")
        self._netloc = parts.netloc
        self._authorization = authorization
        self._auth_cache: dict[tuple[str, tuple[str, ...]], str | None] = {}
        self._lock = threading.Lock()
        self.client = Client(verify=verify, timeout=timeout)

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()

    def __enter__(self) -> Pusher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _headers(self, repo: str, actions: Sequence[str] = ("pull", "push")) -> dict[str, str]:
        if self._authorization is None:
            return {}
        key = (repo, tuple(actions))
        with self._lock:
            if key not in self._auth_cache:
                self._auth_cache[key] = self._authorization(repo, actions)
            value = self._auth_cache[key]
        return {"Authorization": value} if value else {}

    @staticmethod
    def _check(resp: Response, expected: int, what: str) -> None:
        if resp.status_code != expected:
            raise SeedError(f"{what}: expected {expected}, got {resp.status_code}: {resp.text[:500]}")

    def blob_exists(self, repo: str, digest: str) -> bool:
        """HEAD the blob."""
        resp = self.client.head(f"{self.base_url}/v2/{repo}/blobs/{digest}", headers=self._headers(repo))
        return resp.status_code == 200

    def put_blob(self, repo: str, data: bytes) -> str:
        """Monolithic upload: ``POST .../blobs/uploads/`` then ``PUT <Location>&digest=``. Returns the digest."""
        digest = sha256_digest(data)
        if self.blob_exists(repo, digest):
            return digest
        headers = self._headers(repo)
        resp = self.client.post(f"{self.base_url}/v2/{repo}/blobs/uploads/", headers=headers)
        self._check(resp, 202, f"start upload in {repo}")
        location = urljoin(f"{self.base_url}/v2/{repo}/blobs/uploads/", resp.headers["Location"])
        loc = urlsplit(location)
        if loc.netloc != self._netloc:
            raise SeedError(f"upload Location points elsewhere: {location}")
        query = urlencode([*parse_qsl(loc.query, keep_blank_values=True), ("digest", digest)])
        put_url = urlunsplit((loc.scheme, loc.netloc, loc.path, query, ""))
        resp = self.client.put(
            put_url, content=data, headers={**headers, "Content-Type": "application/octet-stream"}
        )
        self._check(resp, 201, f"finish upload of {digest} in {repo}")
        if resp.headers.get("Docker-Content-Digest") != digest:
            raise SeedError(f"registry reported {resp.headers.get('Docker-Content-Digest')} for {digest}")
        return digest

    def put_manifest(self, repo: str, reference: str, body: bytes, media_type: str) -> str:
        """``PUT /v2/<repo>/manifests/<reference>``; checks the registry hashed exactly our bytes."""
        digest = sha256_digest(body)
        resp = self.client.put(
            f"{self.base_url}/v2/{repo}/manifests/{reference}",
            content=body,
            headers={**self._headers(repo), "Content-Type": media_type},
        )
        self._check(resp, 201, f"put manifest {repo}:{reference}")
        if resp.headers.get("Docker-Content-Digest") != digest:
            raise SeedError(f"registry reported {resp.headers.get('Docker-Content-Digest')} for {digest}")
        return digest

    def push_image(
        self,
        repo: str,
        tag: str | None,
        *,
        label: str,
        docker: bool = False,
        platform: Platform = ("linux", "amd64", None),
    ) -> SeededManifest:
        """Push config + one layer + an image manifest (OCI, or Docker v2 with ``docker=True``).

        ``tag=None`` pushes by digest only (children of an index). ``label`` makes the content unique.
        """
        layer, diff_id = layer_gzip(label)
        config = config_json(label, platform, diff_id)
        config_type, layer_type, manifest_type = (
            (DOCKER_CONFIG, DOCKER_LAYER, DOCKER_MANIFEST)
            if docker
            else (OCI_CONFIG, OCI_LAYER, OCI_MANIFEST)
        )
        blobs = (
            Blob(self.put_blob(repo, config), config_type, config),
            Blob(self.put_blob(repo, layer), layer_type, layer),
        )
        doc = {
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": _descriptor(config_type, blobs[0].digest, blobs[0].size),
            "layers": [_descriptor(layer_type, blobs[1].digest, blobs[1].size)],
        }
        body = _dump(doc, docker)
        digest = sha256_digest(body)
        self.put_manifest(repo, tag or digest, body, manifest_type)
        return SeededManifest(repo, tag, manifest_type, digest, body, blobs=blobs)

    def push_index(
        self,
        repo: str,
        tag: str,
        *,
        label: str,
        docker: bool = False,
        platforms: Sequence[Platform] = DEFAULT_PLATFORMS,
    ) -> SeededManifest:
        """Push one child image per platform by digest, then an OCI index (or Docker manifest list) on ``tag``."""
        children = tuple(
            _with_platform(
                self.push_image(
                    repo, None, label=f"{label}-{p[0]}-{p[1]}{p[2] or ''}", docker=docker, platform=p
                ),
                p,
            )
            for p in platforms
        )
        index_type = DOCKER_LIST if docker else OCI_INDEX
        doc = {
            "schemaVersion": 2,
            "mediaType": index_type,
            "manifests": [_descriptor(c.media_type, c.digest, c.size, c.platform) for c in children],
        }
        body = _dump(doc, docker)
        digest = self.put_manifest(repo, tag, body, index_type)
        return SeededManifest(repo, tag, index_type, digest, body, children=children)

    def tag(self, manifest: SeededManifest, tag: str, repo: str | None = None) -> SeededManifest:
        """PUT the same bytes under another tag (in the same repo by default)."""
        target = repo or manifest.repo
        self.put_manifest(target, tag, manifest.body, manifest.media_type)
        return SeededManifest(
            target,
            tag,
            manifest.media_type,
            manifest.digest,
            manifest.body,
            manifest.blobs,
            manifest.children,
        )


def _with_platform(m: SeededManifest, platform: Platform) -> SeededManifest:
    return SeededManifest(m.repo, m.tag, m.media_type, m.digest, m.body, m.blobs, m.children, platform)


# --------------------------------------------------------------------------------------------------------------
# Standard seed
# --------------------------------------------------------------------------------------------------------------


class SupportsPusher(Protocol):
    """Anything (the ``Rig``) that can hand out a ``Pusher`` for its registry."""

    def pusher(self) -> Pusher: ...


def seed_standard(pusher: Pusher) -> Seeded:
    """The content every rig variant carries (TESTING.md "Seeding")."""
    release = pusher.push_image(REPO, "v1.2.3", label="release")
    manifests = (
        pusher.push_image(REPO, "oci", label="oci"),
        pusher.push_index(REPO, "index", label="index"),
        pusher.push_image(REPO, "docker", label="docker", docker=True),
        pusher.push_index(REPO, "list", label="list", docker=True),
        release,
        pusher.tag(release, "stable"),
        pusher.push_image(NESTED_REPO, "latest", label="nested"),
        pusher.push_image(PUBLIC_REPO, "latest", label="public"),
    )
    return Seeded(manifests)


def tag_names(n: int) -> tuple[str, ...]:
    """``t0000``, ``t0001``, ... (zero-padded so lexical order = numeric order, as the registry sorts)."""
    width = max(4, len(str(max(n - 1, 0))))
    return tuple(f"t{i:0{width}d}" for i in range(n))


def seed_many_tags(rig: SupportsPusher, repo: str = MANY_REPO, n: int = MANY_TAGS_COUNT) -> ManyTags:
    """PUT one OCI manifest under ``n`` tags using a small thread pool (16 workers)."""
    with rig.pusher() as pusher:
        base = pusher.push_image(repo, None, label=f"many-{repo}")
        tags = tag_names(n)

        def put(tag: str) -> str:
            # A manifest PUT is idempotent: a connection the registry reset under load (seen once in CI, seeding
            # 300 tags with 16 threads) is tried again, twice at most, instead of failing the test's set-up.
            for attempt in range(3):
                try:
                    return pusher.put_manifest(repo, tag, base.body, base.media_type)
                except (ReadError, RemoteProtocolError):
                    if attempt == 2:
                        raise
            raise AssertionError("unreachable")

        with ThreadPoolExecutor(max_workers=16, thread_name_prefix="seed-tags") as pool:
            list(pool.map(put, tags))  # list() re-raises the first failure
    return ManyTags(repo, tags, base)
