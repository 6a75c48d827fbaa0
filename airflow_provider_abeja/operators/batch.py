"""AbejaBatchRequestOperator: one task that sends many inputs to a service or an endpoint.

One mapped task per input costs Airflow about a second each; this operator keeps a service busy
from one task instead: inputs are streamed, `concurrency` requests are in flight on one pooled
connection set, every result is appended to a JSONL output, and a retried task resumes where the
previous try stopped (see docs/batch.md). The internals live in
`airflow_provider_abeja.batch`.
"""

from __future__ import annotations

import ast
import json
import math
import os
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from airflow_provider_abeja.assets import default_outlets
from airflow_provider_abeja.batch.sender import DEFAULT_ABORT_STATUSES, DEFAULT_RESEND_STATUSES
from airflow_provider_abeja.exceptions import InvalidArgumentError
from airflow_provider_abeja.operators._base import (
    DEFAULT_ENDPOINT_ALIAS,
    AbejaDeploymentOperator,
    required_path,
)

if TYPE_CHECKING:
    from airflow_provider_abeja.batch.inputs import InputSource
    from airflow_provider_abeja.batch.results import ResultStore
    from airflow_provider_abeja.batch.runner import BatchRunner
    from airflow_provider_abeja.batch.sender import Target
    from airflow_provider_abeja.client import APIClient

XCOM_SUMMARY = "batch_summary"
#: Default requests in flight per service instance. An instance serves one request at a time; with
#: one in flight it idles for a client round trip between two; a second one waiting at the service
#: hides that gap.
REQUESTS_PER_INSTANCE = 2
INPUT_FORMATS = ("auto", "jsonl", "files")


def default_errors_path(output_path: str) -> str:
    """`results.jsonl` -> `results.errors.jsonl` (any other name gets `.errors.jsonl` appended)."""
    return output_path.removesuffix(".jsonl") + ".errors.jsonl"


def choice_argument(argument: str, value: str, choices: tuple[str, ...]) -> None:
    """Refuse `value` with an error naming `argument` unless it is one of `choices`."""
    if value not in choices:
        raise InvalidArgumentError(argument, f"must be one of {choices}, not {value!r}")


def number_argument(argument: str, value: Any, kind: type, low: float, high: float | None = None) -> Any:
    """`value` (maybe a rendered template, a string) as a `kind` from `low` to `high` included."""
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise InvalidArgumentError(argument, f"not a number: {value!r}") from None
    if not low <= number <= (math.inf if high is None else high):  # NaN too
        limits = f"at least {low}" if high is None else f"between {low} and {high}"
        raise InvalidArgumentError(argument, f"must be {limits}")
    return number


def list_argument(items: Any, argument: str = "inputs") -> list[Any]:
    """A list of inputs, or a rendered template holding one (without native rendering, a string)."""
    if isinstance(items, str):
        try:
            items = json.loads(items)
        except ValueError:
            try:
                items = ast.literal_eval(items)
            except (ValueError, SyntaxError):
                raise InvalidArgumentError(argument, "rendered to a string that is not a list") from None
    if not isinstance(items, (list, tuple)):
        raise InvalidArgumentError(argument, f"must be a list, not {type(items).__name__}")
    return list(items)


#: The reader's options an operator holds under ``input_source``'s own keyword names.
READER_OPTIONS = ("input_format", "key_field", "payload_field", "content_type")
#: The sender's options the batch operator holds under ``Sender``'s own keyword names.
SENDER_OPTIONS = ("resend_statuses", "resend_on_transport_error", "abort_statuses")


def held_options(operator: Any, names: Sequence[str]) -> dict[str, Any]:
    """The keyword arguments ``names`` (of a reader, of ``Sender``) as ``operator`` holds them:
    every operator that reads or sends a batch passes them the same way."""
    return {name: getattr(operator, name) for name in names}


def input_source(operator: Any, names: Sequence[str] = READER_OPTIONS) -> InputSource:
    """The reader of ``operator``'s list of JSON bodies (``inputs``), else of its ``input_path``
    (JSONL, or files), with the reader options ``names`` it holds (empty ones are not given)."""
    from airflow_provider_abeja.batch.inputs import FilesSource, JsonlSource, ListSource, locate_input

    options = {name: getattr(operator, name) or None for name in names}
    fields = {"key_field": options.get("key_field"), "payload_field": options.get("payload_field")}
    if operator.inputs is not None:
        return ListSource(list_argument(operator.inputs), **fields)
    input_format = options.get("input_format") or "auto"
    path, pattern, files = locate_input(str(operator.input_path), input_format, operator.storage_conn_id)
    if files:
        return FilesSource(path, pattern, content_type=options.get("content_type"))
    return JsonlSource(path, **fields)


class AbejaBatchRequestOperator(AbejaDeploymentOperator):
    """Send every input of a batch to a service or an endpoint, results to a resumable JSONL file.

    Exactly one of ``input_path`` / ``inputs``:

    :param input_path: a JSONL file (one JSON body per line), a directory (every file below it is one
        binary input) or a glob (``.../images/**/*.png``). A path or URL Airflow's object storage
        understands (``/data/in.jsonl``, ``file:///...``, ``s3://...`` with ``storage_conn_id``).
    :param inputs: a list of JSON bodies (templated: ``"{{ ti.xcom_pull('make_inputs') }}"`` or an
        XComArg).
    :param input_format: ``auto`` (glob or directory: files; else JSONL), ``jsonl`` or ``files``.
    :param key_field: the field of a JSONL line / list item that names it; default: the line number
        (JSONL) or position (list). Files are keyed by their relative path. Keys must be unique.
    :param payload_field: send only this field of each line / item as the body.
    :param content_type: content type of file inputs; default: guessed from the extension.
    :param output_path: where the results go (JSONL: key, index, status, response or error).
    :param errors_path: the failed inputs' records; default ``<output>.errors.jsonl``.
    :param service_id: the service to call; without it the endpoint ``endpoint_alias`` is called.
    :param endpoint_alias: the endpoint to call when there is no ``service_id`` (None or ``default``:
        the deployment's default endpoint).
    :param concurrency: requests in flight; default: twice the service's ``instance_number``, so that
        no instance idles between two requests.
    :param max_error_rate: the task fails (without retry: the errors are recorded) when more than this
        fraction of the inputs failed, after every result and the errors file are written.
    :param preserve_order: write results in input order (default) instead of completion order.
    :param resend_statuses: statuses on which one input is sent again, with the client's backoff
        (default 503: the model did not run it). See ``batch.sender`` for the policy.
    :param resend_on_transport_error: also re-send after a read timeout / dropped connection (only for
        models without side effects).
    :param abort_statuses: statuses (after re-sends) meaning the service cannot take requests: the try
        stops and fails *without* recording them, so a task retry sends them again. Default 401, 403, 503.
    :param output_layout: ``auto`` (append for local files, part objects elsewhere), ``append``, ``parts``.
    :param fsync_interval: seconds between fsyncs of a local output (a kill never loses a written line;
        a power loss loses at most this much, and those inputs are redone).
    :param progress_interval: seconds between progress lines (also one per 5 % done).
    :param count_inputs: count the inputs first (one extra pass) for done/total and ETA in progress lines.
    :param storage_conn_id: Airflow connection of the object store holding input and output.
    :param max_retry_count: per-input retries (default: the connection's ``max_retry_count``).
    :param retry_wait_max: longest wait between two tries of one input, in seconds.
    :param include_keys_from: a JSONL file whose lines have a ``key`` (such as the errors file of an
        earlier run): only the inputs with those keys are sent. Re-sends a run's failures to a new output.

    A fixed ``output_path`` is declared as an Airflow Asset (outlet); with a templated one, pass
    ``outlets=[Asset(...)]``. With the OpenLineage provider installed, the input and output datasets
    and the service are reported after each run.
    """

    template_fields: Sequence[str] = (
        *AbejaDeploymentOperator.template_fields,
        *("service_id", "endpoint_alias", "input_path", "inputs", "output_path", "errors_path"),
        *("key_field", "payload_field", "content_type", "max_error_rate", "include_keys_from"),
    )
    template_fields_renderers = {"inputs": "json"}
    named_arguments = (
        *AbejaDeploymentOperator.named_arguments,
        *("service_id", "endpoint_alias", "input_path", "output_path", "errors_path"),
        *("include_keys_from", "storage_conn_id"),
    )
    ui_color = "#7ec8e3"
    renamed_arguments = {"custom_alias": "endpoint_alias"}

    def __init__(
        self,
        *,
        input_path: str | None = None,
        inputs: Sequence[Any] | str | None = None,
        input_format: str = "auto",
        key_field: str | None = None,
        payload_field: str | None = None,
        content_type: str | None = None,
        output_path: str,
        errors_path: str | None = None,
        service_id: str | None = None,
        endpoint_alias: str | None = None,
        concurrency: int | None = None,
        max_error_rate: float | str = 0.0,
        preserve_order: bool = True,
        resend_statuses: Collection[int] = DEFAULT_RESEND_STATUSES,
        resend_on_transport_error: bool = False,
        abort_statuses: Collection[int] = DEFAULT_ABORT_STATUSES,
        output_layout: str = "auto",
        fsync_interval: float = 5.0,
        progress_interval: float = 10.0,
        count_inputs: bool = True,
        storage_conn_id: str | None = None,
        max_retry_count: int | None = None,
        retry_wait_max: float = 30.0,
        include_keys_from: str | None = None,
        **kwargs: Any,
    ) -> None:
        default_outlets(kwargs, output_path)
        super().__init__(**kwargs)
        if (input_path is None) == (inputs is None):
            raise ValueError("give exactly one of input_path and inputs")
        choice_argument("input_format", input_format, INPUT_FORMATS)
        choice_argument("output_layout", output_layout, ("auto", "append", "parts"))
        if concurrency is not None:
            concurrency = number_argument("concurrency", concurrency, int, 1)
        if not isinstance(max_error_rate, str):  # a template is checked once rendered
            number_argument("max_error_rate", max_error_rate, float, 0, 1)
        self.input_path = input_path
        self.inputs = inputs
        self.input_format = input_format
        self.key_field = key_field
        self.payload_field = payload_field
        self.content_type = content_type
        self.output_path = output_path
        self.errors_path = errors_path
        self.service_id = service_id
        self.endpoint_alias = endpoint_alias
        self.concurrency = concurrency
        self.max_error_rate = max_error_rate
        self.preserve_order = preserve_order
        self.resend_statuses = tuple(resend_statuses)
        self.resend_on_transport_error = resend_on_transport_error
        self.abort_statuses = tuple(abort_statuses)
        self.output_layout = output_layout
        self.fsync_interval = fsync_interval
        self.progress_interval = progress_interval
        self.count_inputs = count_inputs
        self.storage_conn_id = storage_conn_id
        self.max_retry_count = max_retry_count
        self.retry_wait_max = retry_wait_max
        self.include_keys_from = include_keys_from

    # -- paths and inputs ---------------------------------------------------------------------

    def build_source(self) -> InputSource:
        """The input reader for `input_path` / `inputs`, restricted by `include_keys_from`."""
        source = self._full_source()
        if not self.include_keys_from:
            return source
        from airflow_provider_abeja.batch.inputs import OnlyKeys
        from airflow_provider_abeja.batch.paths import path_exists
        from airflow_provider_abeja.batch.results import DoneKeys, iter_records

        path = self._path(str(self.include_keys_from), "include_keys_from")
        if not path_exists(path):
            raise InvalidArgumentError("include_keys_from", f"{self.include_keys_from} does not exist")
        keys = DoneKeys.build(record["key"] for record in iter_records(path) if "key" in record)
        self.log.info("Only the %d key(s) listed in %s are sent", len(keys), self.include_keys_from)
        return OnlyKeys(source, keys)

    def _full_source(self) -> InputSource:
        """Every input of `input_path` / `inputs` (the comparison reads a Datalake channel too)."""
        return input_source(self)

    def _check_files(self, output: Any, errors: Any) -> None:
        """Refuse outputs that would lose data: the input, the output and the errors file are
        apart (a folder input does not hold the outputs), and a file about to be appended to or
        replaced is this operator's own."""
        from airflow_provider_abeja.batch.inputs import split_glob
        from airflow_provider_abeja.batch.overlap import check_apart, check_own_file
        from airflow_provider_abeja.batch.paths import local_path

        source: Any = None  # a pattern's folder may hold the outputs, which it does not match
        folders: tuple[str, ...] = ()
        if self.input_path is not None and split_glob(str(self.input_path))[1] is None:
            source = self._path(str(self.input_path))
            local = local_path(source)
            folders = ("input_path",) if local is not None and os.path.isdir(local) else ()
        check_apart({"input_path": source, "output_path": output, "errors_path": errors}, folders=folders)
        check_own_file(output, "output_path", read=False)
        check_own_file(errors, "errors_path")

    # -- concurrency and runner ----------------------------------------------------------------

    def _default_concurrency(self, target: Target) -> int:
        """`REQUESTS_PER_INSTANCE` x the instance count of the target service (or endpoint's service)."""
        service_id = self.target_service_id(target)
        service = self.client.get_service(target.organization_id, target.deployment_id, service_id)
        instances = max(1, int(service.get("instance_number") or 1))
        self.log.info(
            "Concurrency %d: %d per instance of service %s (%d instances)",
            REQUESTS_PER_INSTANCE * instances, REQUESTS_PER_INSTANCE, service_id, instances,
        )  # fmt: skip
        return REQUESTS_PER_INSTANCE * instances

    def _client(self, concurrency: int) -> APIClient:
        """A client whose connection pool holds one connection per worker thread."""
        from airflow_provider_abeja.client import APIClient

        kwargs = self.hook.settings.client_kwargs()
        if self.max_retry_count is not None:
            kwargs["max_retry_count"] = self.max_retry_count
        return APIClient(**kwargs, retry_wait_max=self.retry_wait_max, pool_maxsize=max(10, concurrency))

    def _runner(
        self, client: APIClient, targets: Sequence[Target], store: ResultStore, concurrency: int
    ) -> BatchRunner:
        """The batch runner with this operator's order, progress, stop and re-send settings: the
        ``targets`` take the inputs in turn, by index (one target: every input)."""
        from airflow_provider_abeja.batch.runner import BatchRunner
        from airflow_provider_abeja.batch.sender import Sender

        senders = [Sender(client, target, **held_options(self, SENDER_OPTIONS)) for target in targets]
        return BatchRunner(
            lambda item: senders[item.index % len(senders)](item),
            store,
            concurrency=concurrency,
            preserve_order=self.preserve_order,
            progress_interval=self.progress_interval,
            log=self.log,
            stop=self._stop_event,
        )

    # -- run ------------------------------------------------------------------------------------

    def execute(self, context: Mapping[str, Any]) -> dict[str, Any]:
        from airflow_provider_abeja.batch.results import (
            CorruptOutputError,
            open_result_store,
            write_errors_file,
        )
        from airflow_provider_abeja.batch.runner import BatchAborted, BatchStopped
        from airflow_provider_abeja.batch.sender import Target

        organization_id = self.resolve_organization_id()
        output_path = required_path(self.output_path, "output_path")
        errors_path = str(self.errors_path or default_errors_path(output_path))
        max_error_rate = number_argument("max_error_rate", self.max_error_rate, float, 0, 1)
        target = Target(organization_id, self.deployment_id, self.service_id, self.endpoint_alias)
        output = self._path(output_path, "output_path")
        errors = self._path(errors_path, "errors_path")
        self._check_files(output, errors)
        source = self.build_source()
        concurrency = self.concurrency or self._default_concurrency(target)
        total = source.count() if self.count_inputs else None
        try:
            store = open_result_store(output, layout=self.output_layout, fsync_interval=self.fsync_interval)
        except CorruptOutputError as exc:  # not a crash artefact: a retry would find it again
            raise InvalidArgumentError("output_path", f"{exc}; move the output away or repair it") from exc
        self._log_plan(source, store, total, target.describe(), concurrency)
        client = self._client(concurrency)
        try:
            counts = self._runner(client, [target], store, concurrency).run(source, total)
        except BatchAborted as exc:
            context["ti"].xcom_push(key=XCOM_SUMMARY, value=exc.counts.as_dict())
            raise AirflowException(str(exc)) from exc
        except BatchStopped as exc:
            raise AirflowException(str(exc)) from exc
        finally:
            client.close()
        summary = {
            **counts.as_dict(),
            "concurrency": concurrency,
            "target": target.describe(),
            "output_path": output_path,
            "errors_path": errors_path,
            "errors_written": write_errors_file(store, errors),
        }
        self.log.info(
            "Batch done: %(done_ok)d ok, %(done_errors)d failed (%(percent).2f%%), "
            "%(skipped)d skipped from earlier tries, %(throughput).1f inputs/s",
            {**summary, "percent": 100 * counts.error_rate},
        )
        if counts.error_rate > max_error_rate:
            context["ti"].xcom_push(key=XCOM_SUMMARY, value=summary)
            raise AirflowFailException(
                f"{counts.done_errors} of {counts.done_ok + counts.done_errors} inputs failed "
                f"({counts.error_rate:.2%} > max_error_rate {max_error_rate:.2%}); see {errors_path}"
            )
        return summary

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """Input and output datasets and the service, for the OpenLineage provider."""
        from airflow_provider_abeja.lineage import operator_lineage

        output_path = str(self.output_path)
        return operator_lineage(
            self,
            inputs=[self.input_path, self.include_keys_from],
            outputs=[output_path, self.errors_path or default_errors_path(output_path)],
            service_id=self.service_id,
            endpoint_alias=None if self.service_id else self.endpoint_alias or DEFAULT_ENDPOINT_ALIAS,
        )

    def _log_plan(self, source: Any, store: Any, total: int | None, target: str, concurrency: int) -> None:
        """Say how many inputs will really be sent: on a re-run most may be in the output already."""
        output_path, done = str(self.output_path), store.done
        if store.repaired:
            self.log.warning("Output %s: dropped a torn last line left by an earlier try", output_path)
        if len(done):
            prior = (len(done), output_path, store.prior_ok, store.prior_errors)
            self.log.info("Resuming: %d input(s) already in %s (%d ok, %d failed) are skipped", *prior)
        if not len(done) or total is None:
            shown = "?" if total is None else total
            plan = "Sending %s input(s) to %s with concurrency %d; results to %s"
            self.log.info(plan, shown, target, concurrency, output_path)
            return
        to_send = sum(1 for item in source if item.key not in done)
        if not to_send:
            self.log.info("Nothing to send: all %d input(s) are already in %s", total, output_path)
            return
        plan = "Sending %d of %d input(s) to %s with concurrency %d (the others are in %s already)"
        self.log.info(plan, to_send, total, target, concurrency, output_path)
