"""Signatures: deploy only what is signed (#24, docs/architecture.md §10).

The modules, from the bytes up:

- :mod:`~ocireg.signatures.layout`: where cosign, skopeo and podman put signatures (media types, annotations)
  and the bounds of one image's signature download;
- :mod:`~ocireg.signatures.candidate`: one signature found in a registry, as untrusted bytes;
- :mod:`~ocireg.signatures.keys`: trusted PEM public keys (ECDSA P-256/P-384, RSA, Ed25519) and the signature
  check over exact bytes;
- :mod:`~ocireg.signatures.payload`: the simple-signing payload and the in-toto statement, parsed strictly and
  only after their bytes verified;
- :mod:`~ocireg.signatures.identity`: the identity rules (``repository``, ``exact``);
- :mod:`~ocireg.signatures.keyless`: Fulcio certificates and Rekor SETs, offline;
- :mod:`~ocireg.signatures.policy`: the order of the checks and the verdict.

Everything that needs ``cryptography`` (the optional extra ``verify``) imports it inside a function, so that
importing this package costs nothing and the single-file build without the extra still starts.
"""
