"""Guarded promotion: compare green with blue, maybe ask a human, swap, bake, roll back by itself.

An ABEJA endpoint routes to one service, so the guard lives here. ``guarded_promotion`` puts the
steps in a task group:

    compare -> [approve] -> swap_and_bake -> settle (teardown)

- ``AbejaCompareServicesOperator`` replays a validation set against blue (what the endpoint
  serves) and green with the batch machinery, and fails when green breaks a threshold.
- ``approve`` (Airflow 3.1+): the standard provider's ``ApprovalOperator`` showing the comparison;
  a rejection, or no answer before the timeout, fails it.
- ``AbejaGuardedSwapOperator`` routes the endpoint to green and probes through it for the bake
  period; a breach routes it back to blue, reads it back, and fails saying what breached and when.
- ``AbejaSettleReleaseOperator`` runs whatever happened: the endpoint ends on a service it read
  back (blue unless the bake passed), and the other of blue and green is deleted.

Each step starts from what the endpoint routes to now, so a retry (or a killed worker's retry)
carries on instead of repeating a change.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from airflow_provider_abeja.exceptions import InvalidArgumentError, NotFound
from airflow_provider_abeja.operators._base import (
    DEFAULT_ENDPOINT_ALIAS,
    AbejaDeploymentOperator,
    WaitInterrupted,
    required_id,
    seconds,
)
from airflow_provider_abeja.operators.batch import (
    READER_OPTIONS,
    AbejaBatchRequestOperator,
    held_options,
    input_source,
    number_argument,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

XCOM_BLUE = "blue_service_id"
XCOM_COMPARISON_TABLE = "comparison_table"
XCOM_PROMOTED = "promoted_service_id"
READY = "READY"
#: The batch operator's arguments that mean nothing to the comparison, and why (refused by name).
REFUSED_BATCH_ARGUMENTS = {
    "service_id": "blue and green are the services called (blue_service_id, green_service_id)",
    "errors_path": "every answer, failed or not, is in output_path and counted in the report",
}


def validation_set(operator: Any, names: Sequence[str] = READER_OPTIONS) -> Any:
    """The batch operator's reader of the ``operator``'s ``input_path`` / ``inputs`` (with its
    reader options ``names``), or the channel's files for an
    ``abeja-datalake://<channel_id>[/<file_id>]`` path (see ``batch.channel``) read with the
    ``operator``'s client, made once the path is checked."""
    from airflow_provider_abeja.batch.channel import ChannelSource, channel_path

    input_path, inputs, options = operator.input_path, operator.inputs, held_options(operator, names)
    located = channel_path(input_path) if inputs is None else None
    if located is None:
        return input_source(operator, names)
    return ChannelSource(operator.client, *located, **options)


def _optional_id(value: Any, argument: str) -> str | None:
    """A rendered id that may be missing (a template pulling an XCom never pushed renders "None")."""
    if value is None or str(value).strip() in ("", "None"):
        return None
    return required_id(value, argument)


class _ReleaseOperator(AbejaDeploymentOperator):
    """The endpoint of a release and its blue and green services: reading, routing, verifying.

    Green is the service to promote; blue, the one the endpoint ``endpoint_alias`` served before.
    """

    template_fields: Sequence[str] = (
        *AbejaDeploymentOperator.template_fields,
        "endpoint_alias",
        "blue_service_id",
        "green_service_id",
    )
    named_arguments = (
        *AbejaDeploymentOperator.named_arguments,
        *("endpoint_alias", "blue_service_id", "green_service_id"),
    )
    ui_color = "#eef7ee"

    def __init__(
        self,
        *,
        endpoint_alias: str = DEFAULT_ENDPOINT_ALIAS,
        green_service_id: str,
        blue_service_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.endpoint_alias: str | None = endpoint_alias  # typed as the batch operator's (the comparison)
        self.green_service_id, self.blue_service_id = green_service_id, blue_service_id

    def serving(self, organization_id: str) -> str | None:
        """The service the endpoint routes to now (None: there is no such endpoint)."""
        alias = required_id(self.endpoint_alias, "endpoint_alias")
        try:
            endpoint = self.client.get_endpoint(organization_id, self.deployment_id, alias)
        except NotFound:
            return None
        return str(endpoint.get("service_id") or "") or None

    def status(self, organization_id: str, service_id: str) -> str | None:
        """The service's status, None when it is gone."""
        try:
            return self.client.get_service(organization_id, self.deployment_id, service_id).get("status")
        except NotFound:
            return None

    def route_verified(self, organization_id: str, service_id: str) -> None:
        """Point the endpoint at ``service_id`` (unless it is there) and read it back."""
        alias = required_id(self.endpoint_alias, "endpoint_alias")
        if self.serving(organization_id) != service_id:
            self.client.update_endpoint(organization_id, self.deployment_id, alias, service_id)
        found = self.serving(organization_id)
        if found != service_id:
            raise AirflowException(f"endpoint {alias} routes to {found} after routing it to {service_id}")
        self.log.info("Endpoint %s routes to %s (read back)", alias, service_id)

    def delete_unless_serving(self, organization_id: str, service_id: str | None) -> bool:
        """Delete a service the endpoint does not route to (read just before), its latest log lines
        copied first (``delete_service``); gone is fine."""
        if not service_id or self.serving(organization_id) == service_id:
            return False
        deleted = self.delete_service(organization_id, service_id)
        if deleted:
            self.log.info("Deleted service %s", service_id)
        return deleted


class AbejaCompareServicesOperator(_ReleaseOperator, AbejaBatchRequestOperator):
    """Replay a validation set against blue and green; fail when green breaks a threshold.

    Every input goes to both services, with the batch operator's bounded concurrency, re-sends
    and resumable output (``output_path`` holds both answers of each input; a retry skips what is
    there). Returns the report (also pushed as the ``comparison`` XCom and written as JSON to
    ``report_path``, default ``<output>.report.json``): per service ``requests``, ``errors``,
    ``error_rate``, ``p50_ms``/``p95_ms``/``p99_ms`` of the answered inputs; ``agreement_rate``
    of green with blue over the inputs both answered, ``disagreeing_keys`` (the first five) and
    ``breaches``. The report's Markdown table goes to the task log and the ``comparison_table`` XCom.

    Takes the batch operator's arguments (see ``AbejaBatchRequestOperator``) but ``service_id``
    and ``errors_path``, refused by name: the services are blue and green, and every answer,
    failed or not, is in ``output_path`` and counted in the report. ``concurrency`` is the
    requests in flight for both services together (default two per instance of each).
    ``input_path`` may also be a Datalake channel, ``abeja-datalake://<channel_id>`` (every file
    of it: JSONL files give one input per line, other files one input each), or one of its files,
    ``abeja-datalake://<channel_id>/<file_id>``.

    :param green_service_id: the candidate (``ser-...``).
    :param blue_service_id: the service to compare with; default: the one ``endpoint_alias``
        routes to (pushed as the ``blue_service_id`` XCom before anything is sent).
    :param endpoint_alias: the endpoint whose service is blue (default ``default``).
    :param report_path: where the JSON report goes (default ``<output>.report.json``).
    :param compare_field: compare only this field of the answers (a dotted path); numbers agree
        within ``tolerance``. Default: the whole answers, equal as JSON.
    :param tolerance: how far apart two numbers of ``compare_field`` may be and agree (default 0).
    :param agree: ``agree(blue_answer, green_answer) -> bool``, instead of the above.
    :param min_agreement: the lowest agreement rate green may have (default 1.0: every answer).
    :param max_error_rate: the highest error rate green may have (default 0.0).
    :param max_p95_ms: the highest p95 latency of green in milliseconds (default: no limit).
    :param max_p95_ratio: the highest ratio of green's p95 latency to blue's (default: no limit).
    :param abort_statuses: statuses that stop the replay for a retry, as in the batch operator
        (default 401, 403: a 503 from green is green's error, not a reason to retry).
    """

    template_fields: Sequence[str] = (
        *(f for f in AbejaBatchRequestOperator.template_fields if f not in REFUSED_BATCH_ARGUMENTS),
        "blue_service_id",
        "green_service_id",
        "report_path",
    )
    named_arguments = (
        *(a for a in AbejaBatchRequestOperator.named_arguments if a not in REFUSED_BATCH_ARGUMENTS),
        *("blue_service_id", "green_service_id", "report_path"),
    )

    def __init__(
        self,
        *,
        report_path: str | None = None,
        compare_field: str | None = None,
        tolerance: float = 0.0,
        agree: Callable[[Any, Any], bool] | None = None,
        min_agreement: float | None = 1.0,
        max_error_rate: float = 0.0,
        max_p95_ms: float | None = None,
        max_p95_ratio: float | None = None,
        abort_statuses: Sequence[int] = (401, 403),
        **kwargs: Any,
    ) -> None:
        for argument, why in REFUSED_BATCH_ARGUMENTS.items():
            if kwargs.pop(argument, None) is not None:
                raise InvalidArgumentError(argument, f"is not an argument of the comparison: {why}")
        super().__init__(max_error_rate=max_error_rate, abort_statuses=abort_statuses, **kwargs)
        self.report_path = report_path
        self.compare_field = compare_field
        self.tolerance = number_argument("tolerance", tolerance, float, 0)
        self.agree = agree
        # Each threshold, given or None (no limit), with its highest value (rates are fractions).
        given = {
            "max_error_rate": (max_error_rate, 1),
            "min_agreement": (min_agreement, 1),
            "max_p95_ms": (max_p95_ms, None),
            "max_p95_ratio": (max_p95_ratio, None),
        }
        self.thresholds: dict[str, float | None] = {
            name: None if value is None else number_argument(name, value, float, 0, high)
            for name, (value, high) in given.items()
        }

    def _blue(self, organization_id: str, green: str, ti: Any) -> str:
        given = self.blue_service_id
        blue = required_id(given, "blue_service_id") if given else self.serving(organization_id)
        if blue is None:
            raise AirflowFailException(
                f"endpoint {self.endpoint_alias} does not exist (or routes nowhere): there is no blue to "
                "compare green with (make the first release with AbejaRouteEndpointOperator)"
            )
        if blue == green:
            raise InvalidArgumentError("green_service_id", f"{green} is blue, the service to compare with")
        ti.xcom_push(key=XCOM_BLUE, value=blue)
        return blue

    def _full_source(self) -> Any:
        return validation_set(self)

    def execute(self, context: Mapping[str, Any]) -> dict[str, Any]:
        from airflow_provider_abeja.batch import compare
        from airflow_provider_abeja.batch.paths import published
        from airflow_provider_abeja.batch.results import iter_records, open_result_store
        from airflow_provider_abeja.batch.runner import BatchAborted, BatchStopped
        from airflow_provider_abeja.batch.sender import Target

        ti = context["ti"]
        organization_id = self.resolve_organization_id()
        green = required_id(self.green_service_id, "green_service_id")
        source = compare.Paired(self.build_source())  # its paths and ids checked before any request
        output = self._path(str(self.output_path), "output_path")
        blue = self._blue(organization_id, green, ti)
        targets = [Target(organization_id, self.deployment_id, s) for s in (blue, green)]
        concurrency = self.concurrency or sum(self._default_concurrency(t) for t in targets)
        client = self._client(concurrency)
        store = open_result_store(output, layout=self.output_layout, fsync_interval=self.fsync_interval)
        runner = self._runner(client, targets, store, concurrency)  # paired: blue, green in turn
        self.log.info("Comparing green %s with blue %s, %d requests in flight", green, blue, concurrency)
        try:
            runner.run(source, source.count() if self.count_inputs else None)
        except (BatchAborted, BatchStopped) as exc:
            raise AirflowException(str(exc)) from exc
        finally:
            client.close()
        agree = compare.agreement(self.compare_field or None, self.tolerance, self.agree)
        result = compare.report(iter_records(output), agree)
        report_path = self._report_path()
        breaches = compare.breaches(result, self.thresholds)
        result.update(
            blue_service_id=blue,
            green_service_id=green,
            thresholds=self.thresholds,
            breaches=breaches,
            output_path=str(self.output_path),
            report_path=report_path,
        )
        with published(self._path(report_path, "report_path")) as out:
            out.write(json.dumps(result, indent=2).encode())
        shown = compare.table(result, self.thresholds)
        self.log.info("Green against blue:\n%s", shown)
        ti.xcom_push(key="comparison", value=result)
        ti.xcom_push(key=XCOM_COMPARISON_TABLE, value=shown)
        if breaches:
            raise AirflowFailException(f"green {green} is not promoted: " + "; ".join(breaches))
        return result

    def _report_path(self) -> str:
        return str(self.report_path or str(self.output_path).removesuffix(".jsonl") + ".report.json")

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The validation set in; both answers and the report out; green is the service judged."""
        from airflow_provider_abeja.lineage import operator_lineage

        return operator_lineage(
            self,
            inputs=[self.input_path, self.include_keys_from],
            outputs=[str(self.output_path), self._report_path()],
            service_id=str(self.green_service_id),
        )


class AbejaGuardedSwapOperator(_ReleaseOperator):
    """Route the endpoint to green, bake, and roll back to blue on a breach.

    Every ``probe_interval`` seconds during ``bake_seconds`` it sends one input of the sample
    (the first ``probe_sample`` of ``input_path`` / ``inputs``, in turn) through the endpoint
    and reads green's status. A breach (green not READY, or the probes' error rate above
    ``max_error_rate``) routes the endpoint back to blue, reads it back, and fails without
    retries naming what breached and when. After a clean bake the endpoint is read back on
    green and, with ``retire_blue``, blue is deleted; ``promoted_service_id`` is pushed.

    A retry starts from the endpoint: on blue it swaps again, on green it bakes again (a worker
    killed mid-bake left it there); on green with blue gone the promotion is done. On ``on_kill``
    the bake routes back to blue before the task ends.

    :param blue_service_id: the service the endpoint routes to before the swap (``ser-...``).
    :param green_service_id: the service to promote (``ser-...``).
    :param endpoint_alias: the endpoint (default ``default``).
    :param bake_seconds: how long to watch green behind the endpoint (default 300).
    :param probe_interval: seconds between two probes and status reads (default 10).
    :param max_error_rate: the probes' highest error rate before a rollback (default 0.0).
    :param input_path: the validation set to probe with (JSONL or files, as the batch operator's,
        or a Datalake channel, ``abeja-datalake://<channel_id>``, as the comparison's).
    :param inputs: instead, a list of JSON bodies. With neither, the bake watches green's status only.
    :param key_field: the field naming each input (as the batch operator's).
    :param payload_field: send only this field of each input (as the batch operator's).
    :param probe_sample: how many inputs, from the start, are sent in turn (default 20).
    :param storage_conn_id: the object store's connection of ``input_path``.
    :param retire_blue: delete blue after a clean bake (default True).
    """

    template_fields: Sequence[str] = (*_ReleaseOperator.template_fields, "input_path", "inputs")
    named_arguments = (*_ReleaseOperator.named_arguments, "input_path", "storage_conn_id")

    def __init__(
        self,
        *,
        blue_service_id: str,
        bake_seconds: float | timedelta = 300.0,
        probe_interval: float | timedelta = 10.0,
        max_error_rate: float = 0.0,
        input_path: str | None = None,
        inputs: Sequence[Any] | str | None = None,
        key_field: str | None = None,
        payload_field: str | None = None,
        probe_sample: int = 20,
        storage_conn_id: str | None = None,
        retire_blue: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(blue_service_id=blue_service_id, **kwargs)
        self.bake_seconds = seconds(bake_seconds, "bake_seconds")
        self.probe_interval = seconds(probe_interval, "probe_interval") or 0.0
        if self.probe_interval <= 0:
            raise InvalidArgumentError("probe_interval", "must be above zero")
        self.max_error_rate = number_argument("max_error_rate", max_error_rate, float, 0, 1)
        self.input_path, self.inputs = input_path, inputs
        self.key_field, self.payload_field = key_field, payload_field
        self.probe_sample = number_argument("probe_sample", probe_sample, int, 1)
        self.storage_conn_id = storage_conn_id
        self.retire_blue = retire_blue

    def _probes(self) -> list[Any]:
        if self.input_path is None and self.inputs is None:
            return []
        source = validation_set(self, ("key_field", "payload_field"))
        return list(itertools.islice(source, self.probe_sample))

    def execute(self, context: Context) -> dict[str, Any]:
        organization_id = self.resolve_organization_id()
        blue = required_id(self.blue_service_id, "blue_service_id")
        green = required_id(self.green_service_id, "green_service_id")
        probes = self._probes()
        current = self.serving(organization_id)
        if current not in (blue, green):
            raise AirflowFailException(
                f"endpoint {self.endpoint_alias} routes to {current}, neither blue {blue} nor green "
                f"{green}: someone else changed it; nothing was done"
            )
        if current == green and self.status(organization_id, blue) is None:
            self.log.info("An earlier try promoted green %s and retired blue %s", green, blue)
            baked: dict[str, Any] = {"probes": 0, "errors": 0}
        else:
            if current == blue:
                if self.status(organization_id, green) != READY:
                    raise AirflowFailException(f"green {green} is not READY: the endpoint was not changed")
                self.route_verified(organization_id, green)
            else:
                self.log.info("The endpoint routes to green %s already (an earlier try): baking again", green)
            baked = self._bake(organization_id, blue, green, probes)
        self.route_verified(organization_id, green)
        if self.retire_blue:
            self.delete_unless_serving(organization_id, blue)
        context["ti"].xcom_push(key=XCOM_PROMOTED, value=green)
        return {"service_id": green, "previous_service_id": blue, **baked}

    def _bake(self, organization_id: str, blue: str, green: str, probes: list[Any]) -> dict[str, Any]:
        """Probe and watch until the bake ends; on a breach or a kill, route back to blue and raise."""
        from airflow_provider_abeja.batch.sender import Sender, Target

        target = Target(organization_id, self.deployment_id, endpoint_alias=self.endpoint_alias)
        sender = Sender(self.client, target, resend_statuses=(), abort_statuses=())
        stop = self._stop_event
        started = time.monotonic()
        deadline = started + (self.bake_seconds or 0.0)
        sent = errors = 0
        cycle = itertools.cycle(probes)
        self.log.info(
            "Baking green %s for %ss, a probe every %ss", green, self.bake_seconds, self.probe_interval
        )
        while True:
            breach = None
            if probes:
                outcome = sender(next(cycle))
                sent += 1
                if outcome.get("status") != "ok":
                    errors += 1
                    if errors / sent > self.max_error_rate:
                        detail = (outcome.get("error") or {}).get("message", outcome.get("status"))
                        breach = (
                            f"probe error rate {errors}/{sent} > max_error_rate {self.max_error_rate:.2%} "
                            f"(last: {detail})"
                        )
            status = self.status(organization_id, green)
            if breach is None and status != READY:
                breach = f"green {green} is {status or 'gone'}"
            elapsed = time.monotonic() - started
            if breach is not None:
                self.route_verified(organization_id, blue)
                at = datetime.now(timezone.utc).isoformat(timespec="seconds")
                raise AirflowFailException(
                    f"bake breached at {at}, {elapsed:.1f}s into it: {breach}; the endpoint routes to "
                    f"blue {blue} again (read back)"
                )
            if time.monotonic() >= deadline:
                self.log.info("Bake passed: %d probes, %d errors, %.1fs", sent, errors, elapsed)
                return {"probes": sent, "errors": errors, "bake_seconds": round(elapsed, 1)}
            if stop.wait(min(self.probe_interval, max(0.0, deadline - time.monotonic()))):
                self.route_verified(organization_id, blue)
                raise WaitInterrupted(
                    f"killed {elapsed:.1f}s into the bake: the endpoint routes to blue {blue}"
                )


class AbejaSettleReleaseOperator(_ReleaseOperator):
    """End a release with the endpoint on a service it read back, and nothing else of it left.

    When the promotion did not finish (``promoted_service_id`` is not green) and the endpoint
    routes to green, it routes back to blue (if blue is still there). Then whichever of blue and
    green the endpoint does not route to is deleted. An endpoint moved to another service since,
    or deleted, is left alone, and so is blue. Meant as the release's teardown: it runs whatever
    failed, and is idempotent.

    :param blue_service_id: the service the endpoint served before the release (may be missing).
    :param green_service_id: the release's new service (may be missing).
    :param endpoint_alias: the endpoint (default ``default``).
    :param promoted_service_id: green once its bake passed (the swap's ``promoted_service_id`` XCom).
    """

    template_fields: Sequence[str] = (*_ReleaseOperator.template_fields, "promoted_service_id")
    ui_color = "#fdecea"
    #: Not the ids: a teardown's pulls of XComs never pushed render "None" (missing, ``_optional_id``).
    named_arguments = (*AbejaDeploymentOperator.named_arguments, "endpoint_alias")

    def __init__(self, *, promoted_service_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.promoted_service_id = promoted_service_id

    def execute(self, context: Context) -> dict[str, Any]:
        organization_id = self.resolve_organization_id()
        blue = _optional_id(self.blue_service_id, "blue_service_id")
        green = _optional_id(self.green_service_id, "green_service_id")
        promoted = (
            green is not None and _optional_id(self.promoted_service_id, "promoted_service_id") == green
        )
        alias = self.endpoint_alias
        current = self.serving(organization_id)
        if current == green and not promoted and blue and self.status(organization_id, blue) == READY:
            self.log.warning("The promotion of %s did not finish: routing back to blue %s", green, blue)
            self.route_verified(organization_id, blue)
            current = blue
        elif current is not None and current not in (blue, green):
            self.log.warning("Endpoint %s routes to %s, not this release: nothing deleted", alias, current)
            return {"service_id": current, "deleted": []}
        elif current is not None:
            self.route_verified(organization_id, current)
        else:  # no endpoint (deleted by hand?): what it served is unknown, so blue is kept
            self.log.warning("Endpoint %s does not exist: only green can be deleted", alias)
            blue = None
        if promoted and current is None:
            green = None
        deleted = [s for s in (blue, green) if self.delete_unless_serving(organization_id, s)]
        return {"service_id": current, "deleted": deleted}


def guarded_promotion(
    *,
    deployment_id: str,
    green_service_id: str,
    output_path: str,
    input_path: str | None = None,
    inputs: Sequence[Any] | str | None = None,
    endpoint_alias: str = DEFAULT_ENDPOINT_ALIAS,
    key_field: str | None = None,
    payload_field: str | None = None,
    approval: Any = False,
    approval_timeout: timedelta = timedelta(hours=24),
    bake_seconds: float | timedelta = 300.0,
    probe_interval: float | timedelta = 10.0,
    bake_max_error_rate: float = 0.0,
    group_id: str = "guarded_promotion",
    **compare_kwargs: Any,
) -> Any:
    """A task group promoting ``green_service_id`` behind ``endpoint_alias`` (see the module docstring).

    The validation set (``input_path``, which may be ``abeja-datalake://<channel_id>``, or
    ``inputs``) is replayed by ``compare`` (its thresholds and options in ``compare_kwargs``, see
    ``AbejaCompareServicesOperator``; results to ``output_path``) and sampled by the bake's
    probes. ``approval=True`` adds a human approval on Airflow 3.1+ (rejected when nobody answers
    within ``approval_timeout``); an operator instead is put between compare and swap as the gate
    (its failure stops the promotion). The group ends with the endpoint on a verified service and
    only that one of blue and green left.
    """
    from airflow.providers.common.compat.sdk import TaskGroup

    common: dict[str, Any] = {"deployment_id": deployment_id, "endpoint_alias": endpoint_alias}
    inputs_kwargs: dict[str, Any] = {
        "input_path": input_path,
        "inputs": inputs,
        "key_field": key_field,
        "payload_field": payload_field,
    }
    with TaskGroup(group_id=group_id) as group:
        compare = AbejaCompareServicesOperator(
            task_id="compare",
            green_service_id=green_service_id,
            output_path=output_path,
            **common,
            **inputs_kwargs,
            **compare_kwargs,
        )
        blue = f"{{{{ ti.xcom_pull(task_ids='{compare.task_id}', key='{XCOM_BLUE}') }}}}"
        swap = AbejaGuardedSwapOperator(
            task_id="swap_and_bake",
            blue_service_id=blue,
            green_service_id=green_service_id,
            bake_seconds=bake_seconds,
            probe_interval=probe_interval,
            max_error_rate=bake_max_error_rate,
            **common,
            **inputs_kwargs,
        )
        if approval is True:
            compare >> approval_step(compare.task_id, green_service_id, approval_timeout) >> swap
        elif approval:  # the DAG's own gate (Airflow 2.11: a sensor a human satisfies)
            compare >> approval >> swap
        else:
            compare >> swap
        settle = AbejaSettleReleaseOperator(
            task_id="settle",
            blue_service_id=blue,
            green_service_id=green_service_id,
            promoted_service_id=f"{{{{ ti.xcom_pull(task_ids='{swap.task_id}', key='{XCOM_PROMOTED}') }}}}",
            **common,
        )
        swap >> settle.as_teardown()
    return group


def approval_step(compare_task_id: str, green_service_id: str, timeout: timedelta) -> Any:
    """The standard provider's approval (Airflow 3.1+) showing the comparison; a timeout rejects."""
    try:
        from airflow.providers.standard.operators.hitl import ApprovalOperator
    except ImportError:
        raise InvalidArgumentError(
            "approval",
            "needs Airflow 3.1+ (the standard provider's ApprovalOperator); see docs/guarded-promotion.md",
        ) from None
    return ApprovalOperator(
        task_id="approve",
        subject=f"Promote {green_service_id}?",
        body=f"{{{{ ti.xcom_pull(task_ids='{compare_task_id}', key='{XCOM_COMPARISON_TABLE}') }}}}",
        defaults=ApprovalOperator.REJECT,
        fail_on_reject=True,
        response_timeout=timeout,
    )


__all__ = [
    "AbejaCompareServicesOperator",
    "AbejaGuardedSwapOperator",
    "AbejaSettleReleaseOperator",
    "guarded_promotion",
]
