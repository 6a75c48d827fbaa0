"""Batch inference the platform's way: Datalake uploads and downloads, runs, platform triggers.

A run executes a deployment version once over one Datalake file and writes its answer as one file
(``<run_id>_0<ext>``) to an output channel; the platform has no route to cancel it. On Airflow
3.3 the run operator keeps its run's id in the task state store before it waits, and marks the run
with ``AIRFLOW_ABEJA_CREATED_BY=<dag>/<task>/<run>[/<map index>]`` in its environment (the net
under the store, and all there is on 2.11): a task retry reconnects to the run an earlier try
started, or returns it once it succeeded, instead of starting a second (a failed or gone one is
replaced). The first try after a user's clear starts a new run: the one the cleared try was
waiting for cannot be cancelled, so it goes on (kept, said in the task log).
Uploads send ``x-abeja-meta-filename`` with ``conflict_target=filename`` by default, so a retried
upload finds the file it sent already; without a conflict target, on Airflow 3.3, the files a try
sent are kept in the task state store as it goes, and a retry sends only the rest.
"""

from __future__ import annotations

import functools
import itertools
import mimetypes
import posixpath
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_abeja.assets import default_outlets
from airflow_provider_abeja.client.validation import mapping_argument as _mapping
from airflow_provider_abeja.exceptions import Conflict, InvalidArgumentError
from airflow_provider_abeja.links.runs import (
    XCOM_TRIGGER_URL,
    AbejaChannelLink,
    AbejaRunLink,
    AbejaTriggerLink,
    push_channel_link,
    push_run_link,
)
from airflow_provider_abeja.operators._base import (
    CREATED_BY_ENV,
    AbejaConnectionOperator,
    AbejaDeleteOperator,
    AbejaDeploymentOperator,
    AbejaWaitingOperator,
    creation_marker,
    environment_argument,
    marked,
    required_id,
)
from airflow_provider_abeja.operators._clear import first_try_after_clear
from airflow_provider_abeja.wait.blocking import parse_timestamp
from airflow_provider_abeja.wait.engine import RUN

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

#: Pages of the output channel (newest first) read looking for a run's output file.
OUTPUT_PAGES_SEARCHED = 5
#: Where the run operator keeps its run's id in the task state store (Airflow 3.3+).
STORE_RUN_ID = "abeja_run_id"
#: Where a run carries its creation marker.
RUN_MARKS = ("user_env_vars", "environment")
#: Where the upload operator without a conflict target keeps what it sent to a channel, in the
#: task state store (Airflow 3.3+): ``{filename: {"file_id", "content_type"}}``.
STORE_UPLOADED = "abeja_uploaded:{channel_id}"
FILENAME_KEY = "x-abeja-meta-filename"


def datalake_uri(channel_id: str, file_id: str | None = None) -> str:
    """The Asset / lineage URI of a channel or one of its files."""
    return f"abeja-datalake://{channel_id}" + (f"/{file_id}" if file_id else "")


def _filename(entry: Mapping[str, Any]) -> str | None:
    metadata = entry.get("metadata")
    value = metadata.get(FILENAME_KEY) if isinstance(metadata, Mapping) else None
    return value if isinstance(value, str) else None


def _pages(
    read: Callable[..., Mapping[str, Any]], limit: int | None, **first: Any
) -> Iterator[Mapping[str, Any]]:
    """Up to ``limit`` pages (None: all): ``read(**first)``, then each ``read(next_page_token=...)``."""
    arguments = first
    for _ in itertools.count() if limit is None else range(limit):
        page = read(**arguments)
        yield page
        if not page.get("next_page_token"):
            return
        arguments = {"next_page_token": page["next_page_token"]}


#: Clock difference between the workers and the platform allowed when a marker search stops.
CLOCK_SKEW = timedelta(hours=1)


def search_since(context: Mapping[str, Any]) -> datetime | None:
    """The earliest a run of this task instance can have been started: its DAG run's first
    eligible time (``run_after``, or the logical date: clears keep both), less ``CLOCK_SKEW``.
    None (search everything) when the context has no DAG run."""
    dag_run = context.get("dag_run")
    times = [getattr(dag_run, name, None) for name in ("run_after", "logical_date", "queued_at")]
    known = [t if t.tzinfo else t.replace(tzinfo=timezone.utc) for t in times if isinstance(t, datetime)]
    return min(known) - CLOCK_SKEW if known else None


def pages_since(pages: Iterable[Any], since: datetime | None) -> Iterator[list[Mapping[str, Any]]]:
    """The entries of a listing page by page, down to the first page of a newest-first listing
    that ends before ``since`` (a listing in any other order is read to its end)."""
    for page in pages:
        entries = [e for e in page or () if isinstance(e, Mapping)]
        yield entries
        if since and entries:
            first, last = (parse_timestamp(entries[end].get("created_at")) for end in (0, -1))
            if first and last and last <= first and last < since:
                return


class _RunsOperator(AbejaDeploymentOperator):
    """What runs a deployment version over Datalake files: one run, or a platform trigger's runs.

    :param version_id: the deployment version (``ver-...``) to run.
    :param input_channel_id: the channel of the input files.
    :param output_channel_id: where a run writes its answer (None: nowhere).
    :param environment: environment variables of the runs (mapping or JSON object text).
    :param model_id: a trained model the handler gets (``models.alias``).
    :param retry_count: the platform's attempts after a failure, 0 to 9 (its default: 5).
    :param distribution: the platform's queue key (its default: round robin).
    """

    template_fields: Sequence[str] = (
        *AbejaDeploymentOperator.template_fields,
        *("version_id", "input_channel_id", "output_channel_id", "environment", "model_id"),
    )
    template_fields_renderers = {"environment": "json"}
    named_arguments = (
        *AbejaDeploymentOperator.named_arguments,
        *("version_id", "input_channel_id", "output_channel_id", "model_id"),
    )
    ui_color = "#eef4e8"

    def __init__(
        self,
        *,
        version_id: str,
        input_channel_id: str | None = None,
        output_channel_id: str | None = None,
        environment: Mapping[str, str] | str | None = None,
        model_id: str | None = None,
        retry_count: int | None = None,
        distribution: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.version_id = version_id
        self.input_channel_id = input_channel_id
        self.output_channel_id = output_channel_id
        self.environment = environment
        self.model_id = model_id
        self.retry_count = retry_count
        self.distribution = distribution


class AbejaCreateRunOperator(AbejaWaitingOperator, _RunsOperator):
    """Run a deployment version once over one Datalake file and wait until it ``SUCCEEDED``.

    A run that ends ``FAILED`` (after the platform's own ``retry_count`` attempts) fails the task
    without Airflow retries, with the run's latest log lines in the task log. A task retry (after
    a lost worker, a timeout, a transient error) reuses the run an earlier try started, unless it
    failed or is gone: on Airflow 3.3 through the task state store (the run's id is stored before
    the wait), else by the run's creation marker. ``on_kill`` stops waiting only: the platform has
    no public route to cancel a run, so a user's mark failed / mark success / clear and
    ``execution_timeout`` leave it running (kept).
    The first try after a clear starts a new run unless the cleared one had succeeded.

    Returns ``run_id``, ``status``, the input ``channel_id`` / ``file_id``, ``output_channel_id``
    and, once it succeeded, ``output_file_id`` (the answer the run wrote, if any).

    :param version_id: the deployment version (``ver-...``) to run.
    :param input_channel_id: the channel of the input file.
    :param input_file_id: the input file (e.g. the upload operator's output, or an event's).
    :param output_channel_id: where the run writes its answer (None: nowhere).
    :param environment: environment variables of the run (mapping or JSON object text).
    :param model_id: a trained model the handler gets (``models.alias``).
    :param retry_count: the platform's attempts after a failure, 0 to 9 (its default: 5).
    :param distribution: the platform's queue key (its default: round robin).
    :param reuse_existing: find and reuse the run of an earlier try (default True).

    The waiting arguments (``wait_for_completion``, ``check_interval``, ``timeout``,
    ``deferrable``) are ``AbejaWaitingOperator``'s.
    """

    template_fields: Sequence[str] = (*_RunsOperator.template_fields, "input_file_id")
    named_arguments = (*_RunsOperator.named_arguments, "input_file_id")
    operator_extra_links = (AbejaRunLink(),)
    kind = RUN
    trigger = "airflow_provider_abeja.triggers.runs.AbejaRunTrigger"
    worker_wait = "wait_for_run"
    store_key = STORE_RUN_ID
    create_call = "create_run"
    #: the run a clear left running: this try never reuses it (``create_once``)
    _left_by_clear: str | None = None
    #: where this try's search for an earlier run stops (``search_since``)
    _since: datetime | None = None

    def __init__(
        self, *, input_file_id: str | None = None, reuse_existing: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.input_file_id = input_file_id
        self.reuse_existing = reuse_existing

    def arguments(self) -> dict[str, Any]:
        from airflow_provider_abeja.client.runs import datalake_input, datalake_output

        given = [x is not None and x != "" for x in (self.input_channel_id, self.input_file_id)]
        if given[0] != given[1]:
            raise InvalidArgumentError("input_file_id", "give input_channel_id and input_file_id together")
        return {
            "version_id": required_id(self.version_id, "version_id"),
            "input_data": datalake_input(self.input_channel_id, self.input_file_id) if given[0] else None,
            "output_template": datalake_output(self.output_channel_id) if self.output_channel_id else None,
            "environment": environment_argument(
                self.environment, reuse_existing=self.reuse_existing, noun="run"
            ),
            "model_id": required_id(self.model_id, "model_id") if self.model_id else None,
            "retry_count": self.retry_count,
            "distribution": self.distribution,
        }

    def push_links(self, context: Mapping[str, Any], ids: tuple[str, str, str]) -> None:
        push_run_link(self, context["ti"], *ids)

    def create_once(
        self, context: Mapping[str, Any], organization_id: str, arguments: dict[str, Any]
    ) -> dict[str, Any]:
        """As every waiting operator, but the first try after a clear never waits again for the
        run its cleared try was waiting for: a run cannot be cancelled, so it goes on and this
        try starts a new one (a run that succeeded is reused, as a finished resource always is)."""
        self._since = search_since(context)
        cleared = first_try_after_clear(context, self.retries or 0)
        if self.reuse_existing and self.wait_for_completion and cleared:
            earlier = self._waited_for(context, organization_id)
            if earlier is not None and earlier.get("status") not in {
                RUN.target_status,
                *RUN.failure_statuses,
            }:
                self._left_by_clear = str(earlier.get("run_id"))
                self.log.warning(
                    "Cleared while it waited for run %s (%s): a run cannot be cancelled, so it goes "
                    "on (kept); starting a new run",
                    self._left_by_clear, earlier.get("status"),
                )  # fmt: skip
        return super().create_once(context, organization_id, arguments)

    def _waited_for(self, context: Mapping[str, Any], organization_id: str) -> dict[str, Any] | None:
        """The run a cleared try was waiting for: the stored one (None when gone), else the newest
        marked one."""
        found = self.read_stored(context, organization_id)
        return found[1] if found else self._newest(organization_id, creation_marker(context))

    def stored(self, context: Mapping[str, Any], organization_id: str) -> dict[str, Any] | None:
        """As every waiting operator, but never the run a clear left running (``create_once``)."""
        return None if self._left_by_clear else super().stored(context, organization_id)

    def find_earlier(self, organization_id: str, arguments: dict[str, Any], marker: str) -> Any:
        """The newest run an earlier try of this task instance started, unless it failed or a
        clear left it running."""
        run = self._newest(organization_id, marker)
        if run is None or run.get("run_id") == self._left_by_clear:
            return None
        if run.get("status") == "FAILED":
            self.log.info("The run of an earlier try (%s) failed: starting a new one", run["run_id"])
            return None
        self.log.info(
            "Reusing run %s (%s) started by an earlier try (%s=%s)",
            run.get("run_id"), run.get("status"), CREATED_BY_ENV, marker,
        )  # fmt: skip
        return run

    def _newest(self, organization_id: str, marker: str) -> dict[str, Any] | None:
        """The newest run carrying ``marker`` (the deployment's runs, newest first, down to the
        earliest this task instance can have started one)."""
        read = functools.partial(self.client.get_runs, organization_id, self.deployment_id)
        pages = pages_since((page.get("entries") for page in _pages(read, None)), self._since)
        return next((run for page in pages for run in marked(page, marker, *RUN_MARKS)), None)

    def summary(self, run: Mapping[str, Any]) -> dict[str, Any]:
        """Ids and status (no environment: it may hold secrets), and the output file once known."""
        from airflow_provider_abeja.client.runs import DATALAKE_OPERATOR, decoded, run_input_file

        source = run_input_file(run) or (None, None)
        output = decoded(run.get("output_template"))
        output_channel = output.get(DATALAKE_OPERATOR) if isinstance(output, Mapping) else None
        summary = {
            "run_id": str(run.get("run_id")),
            "status": run.get("status"),
            "channel_id": source[0],
            "file_id": source[1],
            "output_channel_id": output_channel,
            "output_file_id": None,
        }
        if run.get("status") == "SUCCEEDED" and isinstance(output_channel, str):
            summary["output_file_id"] = self._output_file(output_channel, str(run.get("run_id")))
        return summary

    def _output_file(self, channel_id: str, run_id: str) -> str | None:
        """The file the run wrote (named ``<run_id>_0<ext>``), newest first; None when it wrote none."""
        read = functools.partial(self.client.list_channel_files, channel_id)
        for page in _pages(read, OUTPUT_PAGES_SEARCHED, sort="-uploaded_at"):
            for entry in page.get("files") or ():
                name = _filename(entry) if isinstance(entry, Mapping) else None
                if name and name.startswith(f"{run_id}_0"):
                    return str(entry.get("file_id"))
        self.log.info("Run %s wrote no file to channel %s", run_id, channel_id)
        return None

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The input file and the output channel file, for the OpenLineage provider."""
        from airflow_provider_abeja.lineage import operator_lineage

        summary = task_instance.xcom_pull(task_ids=self.task_id, map_indexes=task_instance.map_index) or {}
        if not isinstance(summary, Mapping):
            summary = {}
        source = summary.get("channel_id"), summary.get("file_id")
        output = summary.get("output_channel_id"), summary.get("output_file_id")
        return operator_lineage(
            self,
            inputs=[datalake_uri(str(source[0]), str(source[1]))] if all(source) else [],
            outputs=[datalake_uri(output[0], output[1])] if output[0] else [],
        )


def _source_files(source: Any, conn_id: str | None) -> Iterator[tuple[Any, str]]:
    """``(path, name)`` of each file: a file itself, every file under a folder (name relative to it),
    or each path of a list."""
    from airflow_provider_abeja.batch.paths import is_file, object_path

    items = source if isinstance(source, list | tuple) else [source]
    for item in items:
        path = object_path(item, conn_id=conn_id, argument="source")
        if is_file(path):
            yield path, posixpath.basename(str(path).rstrip("/"))
            continue
        found = sorted((p for p in path.rglob("*") if p.is_file()), key=str)
        if not found:
            raise InvalidArgumentError("source", f"{item}: no such file, or an empty folder")
        root = str(path).rstrip("/") + "/"
        yield from ((p, str(p)[len(root) :] if str(p).startswith(root) else p.name) for p in found)


class _ChannelOperator(AbejaConnectionOperator):
    """An operator on a Datalake channel's files, and its channel link.

    :param channel_id: the channel.
    :param storage_conn_id: Airflow connection of the object store holding the local side.
    """

    template_fields: Sequence[str] = (*AbejaConnectionOperator.template_fields, "channel_id")
    named_arguments = (*AbejaConnectionOperator.named_arguments, "channel_id", "storage_conn_id")
    operator_extra_links = (AbejaChannelLink(),)
    ui_color = "#e8f0fd"

    def __init__(self, *, channel_id: str, storage_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.channel_id = channel_id
        self.storage_conn_id = storage_conn_id

    def _channel(self, context: Context) -> str:
        """The rendered channel id, checked, its console link pushed."""
        channel_id = required_id(self.channel_id, "channel_id")
        push_channel_link(self, context["ti"], self.resolve_organization_id(), channel_id)
        return channel_id


class AbejaUploadToChannelOperator(_ChannelOperator):
    """Upload files to a Datalake channel, each as one file with its ``filename`` metadata.

    By default (``conflict_target="filename"``) the platform refuses a second file of the same
    name: a retried task finds what its first try uploaded and uploads only the rest. Without a
    conflict target, on Airflow 3.3, the task state store keeps what each try sent, to the same
    end (a try killed between a file's upload and its note may leave that one file twice). Returns one
    ``{"channel_id", "file_id", "filename", "content_type"}`` per file.

    :param channel_id: the channel.
    :param source: a file, a folder (every file below it; names relative to it) or a list of
        files: any path or URL Airflow's object storage understands (``s3://...`` with
        ``storage_conn_id``).
    :param metadata: metadata of every file (``filename`` is set per file).
    :param content_type: the files' type (default: guessed from each name).
    :param lifetime: ``1day``, ``1week``, ``1month``, ``6months`` or ``1year`` (None: kept).
    :param conflict_target: the metadata key that must be unique in the channel (None: none).
    :param storage_conn_id: Airflow connection of the object store holding ``source``.
    """

    template_fields: Sequence[str] = (
        *_ChannelOperator.template_fields,
        *("source", "metadata", "content_type", "lifetime"),
    )
    named_arguments = (*_ChannelOperator.named_arguments, "source")

    def __init__(
        self,
        *,
        channel_id: str,
        source: str | list[str],
        metadata: Mapping[str, str] | str | None = None,
        content_type: str | None = None,
        lifetime: str | None = None,
        conflict_target: str | None = "filename",
        **kwargs: Any,
    ) -> None:
        if isinstance(channel_id, str) and "{{" not in channel_id:
            default_outlets(kwargs, datalake_uri(channel_id))
        super().__init__(channel_id=channel_id, **kwargs)
        self.source = source
        self.metadata = metadata
        self.content_type = content_type
        self.lifetime = lifetime
        self.conflict_target = conflict_target

    def execute(self, context: Context) -> Any:
        from airflow_provider_abeja.batch.paths import open_binary
        from airflow_provider_abeja.client.runs import check_lifetime

        metadata = {str(k): str(v) for k, v in (_mapping(self.metadata, "metadata") or {}).items()}
        if self.lifetime is not None:
            check_lifetime(self.lifetime)
        files = list(_source_files(self.source, self.storage_conn_id))
        channel_id = self._channel(context)
        store = context.get("task_state_store") if self.conflict_target is None else None
        key = STORE_UPLOADED.format(channel_id=channel_id)
        stored = store.get(key) if store is not None else None
        sent: dict[str, Any] = dict(stored) if isinstance(stored, Mapping) else {}
        uploaded = []
        for path, name in files:
            earlier = sent.get(name)
            if isinstance(earlier, Mapping):
                self.log.info("An earlier try sent %s to channel %s (%s)", name, channel_id, earlier)
                uploaded.append({"channel_id": channel_id, "filename": name, **earlier})
                continue
            content_type = self.content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
            with open_binary(path) as data:
                try:
                    entry: Mapping[str, Any] = self.client.upload_channel_file(
                        channel_id,
                        data,
                        content_type=content_type,
                        metadata={**metadata, "filename": name},
                        lifetime=self.lifetime,
                        conflict_target=self.conflict_target,
                    )
                except Conflict:
                    entry = self._existing(channel_id, name)
                    self.log.info("%s is in channel %s already (%s)", name, channel_id, entry.get("file_id"))
                else:
                    self.log.info("Uploaded %s to channel %s as %s", name, channel_id, entry.get("file_id"))
            summary = {"file_id": entry.get("file_id"), "content_type": entry.get("content_type")}
            if store is not None:
                from airflow.sdk.execution_time.context import NEVER_EXPIRE

                sent[name] = summary
                store.set(key, sent, retention=NEVER_EXPIRE)
            uploaded.append({"channel_id": channel_id, "filename": name, **summary})
        return uploaded

    def _existing(self, channel_id: str, name: str) -> Mapping[str, Any]:
        """The file named ``name`` in the channel (what a 409 refers to)."""
        page = self.client.list_channel_files(channel_id, query=f"{FILENAME_KEY}:{name}", sort="-uploaded_at")
        for entry in page.get("files") or ():
            if isinstance(entry, Mapping) and _filename(entry) == name:
                return entry
        raise AirflowFailException(
            f"channel {channel_id} refused {name} as a duplicate ({self.conflict_target}) "
            "but lists no such file"
        )

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        from airflow_provider_abeja.lineage import datalake_lineage

        sources = self.source if isinstance(self.source, list | tuple) else [self.source]
        return datalake_lineage(
            inputs=[str(s) for s in sources], outputs=[datalake_uri(str(self.channel_id))]
        )


class AbejaDownloadFromChannelOperator(_ChannelOperator):
    """Download Datalake files to a folder (any path Airflow's object storage understands), each
    written whole or not at all, named by its ``filename`` metadata (else its file id). Files are
    fetched through their pre-signed URL, without the credential. Returns the paths written.

    :param channel_id: the channel.
    :param file_ids: a file id or a list of them (e.g. the run operators' ``output_file_id``;
        None entries, runs that wrote nothing, are skipped).
    :param output_path: the folder the files go to.
    :param storage_conn_id: Airflow connection of the object store holding ``output_path``.
    """

    template_fields: Sequence[str] = (*_ChannelOperator.template_fields, "file_ids", "output_path")
    named_arguments = (*_ChannelOperator.named_arguments, "file_ids", "output_path")

    def __init__(self, *, file_ids: str | list[str | None], output_path: str, **kwargs: Any) -> None:
        default_outlets(kwargs, output_path)
        super().__init__(**kwargs)
        self.file_ids = file_ids
        self.output_path = output_path

    def execute(self, context: Context) -> Any:
        from airflow_provider_abeja.batch.paths import published

        ids = [self.file_ids] if isinstance(self.file_ids, str) else list(self.file_ids or [])
        file_ids = [required_id(file_id, "file_ids") for file_id in ids if file_id]
        folder, channel_id = self._path(self.output_path, "output_path"), self._channel(context)
        written = []
        for file_id in file_ids:
            info = self.client.get_channel_file(channel_id, file_id)
            name = posixpath.basename(_filename(info) or "") or file_id
            content = self.client.download_channel_file(channel_id, file_id)
            target = folder / name
            with published(target) as out:
                out.write(content)
            self.log.info("Downloaded %s/%s to %s (%d bytes)", channel_id, file_id, target, len(content))
            written.append(str(target))
        return written

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        from airflow_provider_abeja.lineage import datalake_lineage

        ids = [self.file_ids] if isinstance(self.file_ids, str) else list(self.file_ids or [])
        inputs = [datalake_uri(str(self.channel_id), str(f)) for f in ids if f]
        return datalake_lineage(inputs=inputs, outputs=[str(self.output_path)])


class AbejaCreateTriggerOperator(_RunsOperator):
    """Create a platform trigger: a run of ``version_id`` for each new file of ``input_channel_id``,
    its answer written to ``output_channel_id``. A trigger of the same version, input and output
    already there is reused (a retry, or a second DAG run, never makes every file run twice).
    Returns ``trigger_id``; pushes ``trigger_id`` and ``trigger_url``.

    :param version_id: the deployment version the runs execute.
    :param input_channel_id: the channel whose new files start runs.
    :param output_channel_id: where the runs write their answers (None: nowhere).
    :param environment: the runs' environment variables.
    :param model_id: a trained model the handler gets (``models.alias``).
    :param retry_count: the platform's attempts after a failure, 0 to 9.
    :param distribution: the platform's queue key.
    """

    operator_extra_links = (AbejaTriggerLink(),)

    def __init__(self, *, input_channel_id: str, **kwargs: Any) -> None:
        super().__init__(input_channel_id=input_channel_id, **kwargs)

    def execute(self, context: Context) -> Any:
        deployment_id = required_id(self.deployment_id, "deployment_id")
        version_id = required_id(self.version_id, "version_id")
        channel_id = required_id(self.input_channel_id, "input_channel_id")
        output = required_id(self.output_channel_id, "output_channel_id") if self.output_channel_id else None
        environment = environment_argument(self.environment, reuse_existing=False, noun="trigger")
        organization_id = self.resolve_organization_id()
        existing = next(
            (
                t
                for t in self.client.get_triggers(organization_id, deployment_id).get("entries") or ()
                if isinstance(t, Mapping)
                and t.get("model_version_id") == version_id
                and t.get("input_service_id") == channel_id
                and t.get("output_service_id") == output
            ),
            None,
        )
        if existing is not None:
            trigger = dict(existing)
            found = trigger.get("trigger_id")
            self.log.info("Trigger %s already runs %s on new files of %s", found, version_id, channel_id)
        else:
            trigger = self.client.create_trigger(
                organization_id,
                deployment_id,
                version_id,
                channel_id,
                output_service_name="datalake" if output else None,
                output_service_id=output,
                environment=environment,
                model_id=self.model_id or None,
                retry_count=self.retry_count,
                distribution=self.distribution,
            )
            self.log.info("Created trigger %s", trigger.get("trigger_id"))
        trigger_id = str(trigger["trigger_id"])
        path = (organization_id, "deployments", deployment_id, "triggers", trigger_id)
        self.push_link(context, "trigger_id", XCOM_TRIGGER_URL, *path)
        return {"trigger_id": trigger_id, "input_channel_id": channel_id, "output_channel_id": output}


class AbejaDeleteTriggerOperator(AbejaDeleteOperator):
    """Delete a platform trigger (runs it started go on). A trigger already gone is success unless
    ``fail_if_missing=True``.

    :param trigger_id: the trigger to delete.
    """

    noun, id_field = "trigger", "trigger_id"

    def __init__(self, *, trigger_id: str, **kwargs: Any) -> None:
        super().__init__(trigger_id=trigger_id, **kwargs)
