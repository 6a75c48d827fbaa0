"""Uploaded version code: the tarball ABEJA's SDK tells users to PUT to a version's `upload_url`.

On the platform `upload_url` is a presigned storage URL; here it is an unauthenticated emulator URL
holding a per-version token. The archive (`make_archive(..., 'gztar', root_dir=..., base_dir='.')`,
as the SDK's docstring shows; plain tar and zip are accepted too) is unpacked into the version's
folder, which the runtime then starts in. Members that would land outside it are refused.
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path

from .errors import bad_request


class SourceStore:
    """Folders of uploaded code, one per version, under `root` (kept with --state-dir, else temporary)."""

    def __init__(self, root: Path | None) -> None:
        self._temporary = root is None
        self.root = Path(tempfile.mkdtemp(prefix="abeja-sources-")) if root is None else root

    def folder(self, version_id: str) -> Path:
        return self.root / version_id

    def unpack(self, version_id: str, archive: bytes) -> Path:
        """Replace the version's code with the archive's content; 400 if it is no safe archive."""
        target = self.folder(version_id)
        staging = Path(tempfile.mkdtemp(prefix=f"{version_id}-", dir=self._ensure_root()))
        try:
            _extract(archive, staging)
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


def _inside(root: Path, name: str) -> bool:
    resolved = (root / name).resolve()
    return resolved == root.resolve() or root.resolve() in resolved.parents


def _extract(archive: bytes, target: Path) -> None:
    if zipfile.is_zipfile(io.BytesIO(archive)):
        with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
            if not all(_inside(target, name) for name in bundle.namelist()):
                raise bad_request("the archive has members outside its folder")
            bundle.extractall(target)
        return
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as bundle:
            for member in bundle.getmembers():
                link = member.linkname if member.issym() or member.islnk() else ""
                bad_link = os.path.isabs(link) or ".." in Path(link).parts
                if member.isdev() or bad_link or not _inside(target, member.name):
                    raise bad_request(f"the archive member {member.name!r} is not allowed")
            if hasattr(tarfile, "data_filter"):
                bundle.extractall(target, filter="data")
            else:  # Pythons without extraction filters: the members were checked above
                bundle.extractall(target)
    except tarfile.TarError:
        raise bad_request("the upload is not a tar or zip archive") from None
