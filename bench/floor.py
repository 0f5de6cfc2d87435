"""The least a Python process must do for a warm existence check: a reference point, not a product.

Standard library only (``http.client``, ``ssl``): one HEAD of a manifest with a bearer token that is already
known, through a TLS context that loads the CA *directory* (OpenSSL looks certificates up lazily) plus an extra
CA file. bench/run.py times it beside ``ocireg exists`` (warm token cache) and skopeo, so the table shows how much
of ocireg's time is the interpreter itself and how much is ocireg's own start-up.

    python bench/floor.py [--httpx2] HOST:PORT /v2/NAME/manifests/TAG TOKEN [CA_FILE]   # CA_FILE: use TLS

With TOKEN ``-`` the token is read from ``FLOOR_TOKEN`` in the environment (keeps it off the command line).

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
