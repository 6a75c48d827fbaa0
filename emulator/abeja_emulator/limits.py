"""Upload limits: what one request body and one archive may cost the laptop the emulator runs on.

A 2 MB tar.gz can expand to 2 GiB and a 600 MiB upload was held in memory twice: the body, the
expanded bytes and the member count are each bounded (CLI flags; these are the defaults).
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024
DEFAULT_MAX_UPLOAD_MB = 64
DEFAULT_MAX_EXPANDED_MB = 512
DEFAULT_MAX_ARCHIVE_FILES = 10_000


@dataclass(frozen=True)
class UploadLimits:
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_MB * MIB
    max_expanded_bytes: int = DEFAULT_MAX_EXPANDED_MB * MIB
    max_archive_files: int = DEFAULT_MAX_ARCHIVE_FILES
