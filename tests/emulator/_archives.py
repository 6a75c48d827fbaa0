"""Hostile archives built in memory: bombs, escapes, links and devices (for the upload guards' tests)."""

from __future__ import annotations

import io
import tarfile
import zipfile

MIB = 1024 * 1024


def tar_gz(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as bundle:
        for info, data in members:
            bundle.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def file_member(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def special_member(name: str, kind: bytes, link: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info, None


def tar_files(files: dict[str, bytes]) -> bytes:
    return tar_gz([file_member(name, data) for name, data in files.items()])


def zip_files(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for name, data in files.items():
            bundle.writestr(name, data)
    return buffer.getvalue()


def many(count: int) -> dict[str, bytes]:
    return {f"f{i}.txt": b"x" for i in range(count)}


def zeros(size: int) -> dict[str, bytes]:
    return {"big.bin": bytes(size)}


def spread(total: int, parts: int) -> dict[str, bytes]:
    return {f"part{i}.bin": bytes(total // parts) for i in range(parts)}


HANDLER = {"main.py": b"def handler(request, context):\n    return {'ok': True}\n"}
