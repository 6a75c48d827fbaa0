"""A local ABEJA Platform emulator (a real HTTP server) for tests, demos and offline development.

Importing this package is cheap: the web stack loads only when the server runs (`cli.main`).
"""

__version__ = "0.1.0"

from .handle import EmulatorHandle
from .process import EmulatorProcess
from .sample import SAMPLE_BAD_VERSION_ID, SAMPLE_DEPLOYMENT_ID, SAMPLE_VERSION_ID, SAMPLE_VERSION_ID_V2

__all__ = [
    "SAMPLE_BAD_VERSION_ID",
    "SAMPLE_DEPLOYMENT_ID",
    "SAMPLE_VERSION_ID",
    "SAMPLE_VERSION_ID_V2",
    "EmulatorHandle",
    "EmulatorProcess",
    "__version__",
]
