"""Unpack an uploaded zip or tar archive into a folder, refusing anything that escapes or explodes.

One unpacker for version code and training uploads. Every member must land inside the folder, be a
file or a folder (or, where allowed, a link that stays inside), and the members' count and expanded
size stay under the upload limits: they are checked from the archive's index before anything is
written, then the bytes are counted again while they are written (a header can lie about a size).
Runs in a worker thread (the callers use asyncio.to_thread): extraction never blocks the event loop.
"""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from pathlib import Path
from typing import IO

from .errors import ApiError, bad_request
from .limits import MIB, UploadLimits

_CHUNK = 1024 * 1024


def extract(data: bytes, target: Path, limits: UploadLimits, *, allow_links: bool = False) -> None:
    """Write the archive's members under `target` (created); 400 naming the first bad member."""
    target.mkdir(parents=True, exist_ok=True)
    root = target.resolve()
    try:
        if zipfile.is_zipfile(io.BytesIO(data)):
            _extract_zip(data, root, limits)
        else:
            _extract_tar(data, root, limits, allow_links)
    except ApiError:
        raise
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise bad_request(f"cannot read the archive: {' '.join(str(exc).split())}") from None


def _inside(root: Path, name: str) -> Path:
    path = (root / name).resolve()
    if path != root and root not in path.parents:
        raise bad_request(f"the archive member {name!r} would land outside its folder")
    return path


def _check_index(count: int, declared: int, limits: UploadLimits) -> None:
    if count > limits.max_archive_files:
        raise bad_request(
            f"the archive has {count} members; the limit is {limits.max_archive_files} (--max-archive-files)"
        )
    if declared > limits.max_expanded_bytes:
        raise _too_big(limits)


def _too_big(limits: UploadLimits) -> ApiError:
    return bad_request(
        f"the archive expands beyond {limits.max_expanded_bytes // MIB} MiB (--max-expanded-mb)"
    )


class _Budget:
    """Counts the bytes really written: a member's declared size is not trusted."""

    def __init__(self, limits: UploadLimits) -> None:
        self.limits = limits
        self.left = limits.max_expanded_bytes

    def copy(self, source: IO[bytes], path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as out:
            while chunk := source.read(_CHUNK):
                self.left -= len(chunk)
                if self.left < 0:
                    raise _too_big(self.limits)
                out.write(chunk)


def _extract_zip(data: bytes, root: Path, limits: UploadLimits) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as bundle:
        members = bundle.infolist()
        _check_index(len(members), sum(m.file_size for m in members), limits)
        paths = [_inside(root, m.filename) for m in members]
        budget = _Budget(limits)
        for member, path in zip(members, paths, strict=True):
            if member.is_dir():
                path.mkdir(parents=True, exist_ok=True)
                continue
            with bundle.open(member) as source:
                budget.copy(source, path)


def _extract_tar(data: bytes, root: Path, limits: UploadLimits, allow_links: bool) -> None:
    try:
        bundle = tarfile.open(fileobj=io.BytesIO(data), mode="r:*")  # noqa: SIM115 (closed below)
    except tarfile.TarError:
        raise bad_request("the upload is not a tar or zip archive") from None
    with bundle:
        members = bundle.getmembers()
        _check_index(len(members), sum(m.size for m in members if m.isfile()), limits)
        for member in members:
            _check_tar_member(root, member, allow_links)
        budget = _Budget(limits)
        for member in members:
            path = _inside(root, member.name)
            if member.isdir():
                path.mkdir(parents=True, exist_ok=True)
            elif member.isfile():
                source = bundle.extractfile(member)
                if source is not None:
                    budget.copy(source, path)
                    os.chmod(path, 0o755 if member.mode & 0o100 else 0o644)
            else:  # a link, checked above to stay inside
                _link(root, path, member, budget)


def _check_tar_member(root: Path, member: tarfile.TarInfo, allow_links: bool) -> None:
    _inside(root, member.name)
    if member.isfile() or member.isdir():
        return
    if not allow_links or not (member.issym() or member.islnk()):
        raise bad_request(f"the archive member {member.name!r} is not allowed (not a file or folder)")
    link = member.linkname
    if os.path.isabs(link) or ".." in Path(link).parts:
        raise bad_request(f"the archive member {member.name!r} is not allowed (its link leaves the folder)")


def _link(root: Path, path: Path, member: tarfile.TarInfo, budget: _Budget) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if member.issym():
        path.symlink_to(member.linkname)
        return
    with open(_inside(root, member.linkname), "rb") as source:  # a hard link: a copy, counted
        budget.copy(source, path)
