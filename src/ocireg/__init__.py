"""ocireg: reach images and tags in private container registries without a Docker daemon.

The command line is ``ocireg``; the library entry point is :class:`ocireg.client.RegistryClient`. Importing this
package is cheap on purpose (``ocireg --version`` must not import the HTTP stack): submodules are imported by
whoever needs them.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
