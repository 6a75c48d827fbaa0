"""A Datalake channel as a batch input: ``abeja-datalake://<channel_id>[/<file_id>]``.

The path is the URI the run operators give a channel (their Assets and lineage). Its files are
read in upload order, page by page as the inputs are consumed, and one at a time, each fetched by
the client's ``download_channel_file`` (the one download path: the pre-signed URL, no credential).
A JSONL file (by its name or content type) gives one input per non-blank line, keyed by
``key_field`` or ``<file name>:<line>``; any other file is one input keyed by its name.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import KW_ONLY, dataclass
from typing import Any

from airflow_provider_abeja.batch.inputs import DEFAULT_CONTENT_TYPE, BatchInput, JsonRecords
from airflow_provider_abeja.exceptions import InvalidArgumentError

SCHEME = "abeja-datalake://"
FILENAME_KEY = "x-abeja-meta-filename"
JSONL_SUFFIXES = (".jsonl", ".ndjson")
JSONL_TYPES = (
    "application/jsonl",
    "application/x-jsonlines",
    "application/x-ndjson",
    "application/jsonlines",
)


def channel_path(input_path: Any) -> tuple[str, str | None] | None:
    """``(channel_id, file_id or None)`` of an ``abeja-datalake://`` path, None for any other path."""
    from airflow_provider_abeja.client.validation import check_path_id

    if not isinstance(input_path, str) or not input_path.startswith(SCHEME):
        return None
    channel_id, _, file_id = input_path[len(SCHEME) :].strip("/").partition("/")
    if "/" in file_id:
        raise InvalidArgumentError(
            "input_path", f"{input_path}: give abeja-datalake://<channel_id>[/<file_id>]"
        )
    return check_path_id(channel_id, "input_path"), check_path_id(file_id, "input_path") if file_id else None


@dataclass
class ChannelSource(JsonRecords):
    """The inputs of a channel's files (or of one of them); ``input_format`` as the batch operator's."""

    client: Any
    channel_id: str
    file_id: str | None = None
    _: KW_ONLY
    input_format: str = "auto"
    content_type: str | None = None

    def count(self) -> int | None:
        """Unknown: counting would download every file twice."""
        return None

    def entries(self) -> Iterator[Mapping[str, Any]]:
        """The files' info, oldest first (the platform's default order), a page at a time."""
        if self.file_id is not None:
            yield self.client.get_channel_file(self.channel_id, self.file_id)
            return
        page = self.client.list_channel_files(self.channel_id)
        while True:
            yield from page.get("files") or ()
            token = page.get("next_page_token")
            if not token:
                return
            page = self.client.list_channel_files(self.channel_id, next_page_token=token)

    def _jsonl(self, name: str, content_type: str | None) -> bool:
        if self.input_format != "auto":
            return self.input_format == "jsonl"
        kind = (content_type or "").split(";")[0].strip().lower()
        return name.lower().endswith(JSONL_SUFFIXES) or kind in JSONL_TYPES

    def __iter__(self) -> Iterator[BatchInput]:
        index = 0
        names: set[str] = set()
        for entry in self.entries():
            file_id = str(entry["file_id"])
            metadata = entry.get("metadata")
            name = (
                str((metadata or {}).get(FILENAME_KEY) or file_id)
                if isinstance(metadata, Mapping)
                else file_id
            )
            lines = self._jsonl(name, entry.get("content_type"))
            name = file_id if name in names else name  # keys stay unique when two files share a name
            names.add(name)
            content = self.client.download_channel_file(self.channel_id, file_id)
            if not lines:
                kind = self.content_type or entry.get("content_type") or DEFAULT_CONTENT_TYPE
                yield BatchInput(index, name, data=content, content_type=kind)
                index += 1
                continue
            for lineno, raw in enumerate(content.splitlines(), start=1):
                if raw.strip():
                    where = f"{name}:{lineno}"
                    yield self._line(index, where, raw, where)
                    index += 1
