"""Uploaded version code: the tarball ABEJA's SDK tells users to PUT to a version's `upload_url`.

On the platform `upload_url` is a presigned storage URL; here it is an unauthenticated emulator URL
holding a per-version token. The archive (`make_archive(..., 'gztar', root_dir=..., base_dir='.')`,
as the SDK's docstring shows; plain tar and zip are accepted too) is unpacked into the version's
folder, which the runtime then starts in (`archives.extract`: members that would land outside it,
or beyond the upload limits, are refused).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from .archives import extract
from .limits import UploadLimits


class SourceStore:
    """Folders of uploaded code, one per version, under `root` (kept with --state-dir, else temporary)."""

    def __init__(self, root: Path | None) -> None:
        self._temporary = root is None
        self.root = Path(tempfile.mkdtemp(prefix="abeja-sources-")) if root is None else root

    def folder(self, version_id: str) -> Path:
        return self.root / version_id

    def unpack(self, version_id: str, archive: bytes, limits: UploadLimits) -> Path:
        """Replace the version's code with the archive's content; 400 if it is no safe archive.

        Blocking (disk I/O, decompression): call it in a worker thread."""
        target = self.folder(version_id)
        staging = Path(tempfile.mkdtemp(prefix=f"{version_id}-", dir=self._ensure_root()))
        try:
            extract(archive, staging, limits, allow_links=True)
            shutil.rmtree(target, ignore_errors=True)
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target

    def remove(self, version_id: str) -> None:
        shutil.rmtree(self.folder(version_id), ignore_errors=True)

    def clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def close(self) -> None:
        if self._temporary:
            self.clear()

    def _ensure_root(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        return self.root
