"""The least a Python process must do for a warm existence check: a reference point, not a product.

Standard library only (``http.client``, ``ssl``): one HEAD of a manifest with a bearer token that is already
known, through a TLS context that loads the CA *directory* (OpenSSL looks certificates up lazily) plus an extra
CA file. bench/run.py times it beside ``ocireg exists`` (warm token cache) and skopeo, so the table shows how much
of ocireg's time is the interpreter itself and how much is ocireg's own start-up.

    python bench/floor.py [--httpx2] HOST:PORT /v2/NAME/manifests/TAG TOKEN [CA_FILE]   # CA_FILE: use TLS
    python3 -I -S bench/floor.py --cold HOST:PORT /v2/NAME/manifests/TAG [CA_FILE]      # #25: a cold check

With TOKEN ``-`` the token is read from ``FLOOR_TOKEN`` in the environment (keeps it off the command line).

``--cold`` (#25) is the least a Python process does for a *cold* check: the HEAD, its 401, the token from the
challenge's realm with Basic credentials (``FLOOR_USER``/``FLOOR_PASSWORD`` from the environment) over a second
connection, the HEAD again with the token; a naive challenge parser, no policies. Run as ``python3 -I -S``, it is
the floor for instructions per cold check (callgrind) that ocireg's own share is measured against.

``--httpx2`` sends the same HEAD through ``httpx2.Client`` instead of ``http.client``: the least any CLI built on
httpx2 (as ocireg was before its own transport) pays. Set beside the stdlib floor and ``ocireg exists``, it splits a warm
check's time into the interpreter, the HTTP library's import and set-up, and ocireg's own work.
"""

from __future__ import annotations

import http.client
import os
import ssl
import sys

ACCEPT = (
    "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json"
)


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--httpx2":
        return via_httpx2(argv[1:])
    if argv and argv[0] == "--cold":
        return cold(argv[1:])
    host, path, token = argv[0], argv[1], argv[2]
    if token == "-":
        token = os.environ["FLOOR_TOKEN"]
    ca_file = argv[3] if len(argv) > 3 else None
    name, _, port = host.rpartition(":")
    conn: http.client.HTTPConnection
    if ca_file:
        ctx = ssl.create_default_context(capath=ssl.get_default_verify_paths().openssl_capath)
        ctx.load_verify_locations(cafile=ca_file)
        conn = http.client.HTTPSConnection(name, int(port), context=ctx, timeout=30)
    else:
        conn = http.client.HTTPConnection(name, int(port), timeout=30)
    conn.request("HEAD", path, headers={"Authorization": f"Bearer {token}", "Accept": ACCEPT})
    response = conn.getresponse()
    response.read()
    digest = response.getheader("Docker-Content-Digest")
    conn.close()
    print(f"{response.status} {digest}")
    return 0 if response.status == 200 else 1


def _connection(host: str, port: int, ca_file: str | None) -> http.client.HTTPConnection:
    if ca_file:
        ctx = ssl.create_default_context(capath=ssl.get_default_verify_paths().openssl_capath)
        ctx.load_verify_locations(cafile=ca_file)
        return http.client.HTTPSConnection(host, port, context=ctx, timeout=30)
    return http.client.HTTPConnection(host, port, timeout=30)


def cold(argv: list[str]) -> int:
    """HEAD, 401, token from the realm (Basic), HEAD with the token: a cold check with the stdlib only."""
    import base64
    import json
    from urllib.parse import quote, urlsplit

    host, path = argv[0], argv[1]
    ca_file = argv[2] if len(argv) > 2 else None
    name, _, port = host.rpartition(":")
    conn = _connection(name, int(port), ca_file)
    conn.request("HEAD", path, headers={"Accept": ACCEPT})
    response = conn.getresponse()
    response.read()
    challenge = response.getheader("WWW-Authenticate") or ""
    params = {
        k.strip(): v.strip().strip('"') for k, _, v in (p.partition("=") for p in challenge[7:].split('",'))
    }
    realm = urlsplit(params["realm"])
    query = f"service={quote(params.get('service', ''))}&scope={quote(params.get('scope', ''))}"
    basic = base64.b64encode(f"{os.environ['FLOOR_USER']}:{os.environ['FLOOR_PASSWORD']}".encode()).decode()
    token_conn = _connection(realm.hostname or "", realm.port or 443, ca_file)
    token_conn.request("GET", f"{realm.path}?{query}", headers={"Authorization": f"Basic {basic}"})
    token = json.loads(token_conn.getresponse().read())["token"]
    token_conn.close()
    conn.request("HEAD", path, headers={"Authorization": f"Bearer {token}", "Accept": ACCEPT})
    response = conn.getresponse()
    response.read()
    digest = response.getheader("Docker-Content-Digest")
    conn.close()
    print(f"{response.status} {digest}")
    return 0 if response.status == 200 else 1


def via_httpx2(argv: list[str]) -> int:
    import httpx2

    host, path, token = argv[0], argv[1], argv[2]
    if token == "-":
        token = os.environ["FLOOR_TOKEN"]
    ca_file = argv[3] if len(argv) > 3 else None
    ctx = ssl.create_default_context(capath=ssl.get_default_verify_paths().openssl_capath)
    if ca_file:
        ctx.load_verify_locations(cafile=ca_file)
    scheme = "https" if ca_file else "http"
    with httpx2.Client(verify=ctx, trust_env=False, timeout=30) as client:
        response = client.head(
            f"{scheme}://{host}{path}", headers={"Authorization": f"Bearer {token}", "Accept": ACCEPT}
        )
    print(f"{response.status_code} {response.headers.get('docker-content-digest')}")
    return 0 if response.status_code == 200 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
