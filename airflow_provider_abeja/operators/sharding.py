"""Sharded batch inference: split one input, map `AbejaBatchRequestOperator` over the shards, merge.

In a DAG::

    split = AbejaSplitBatchInputOperator(task_id="split", input_path=..., work_dir=..., shards=8)
    score = AbejaBatchRequestOperator.partial(task_id="score", deployment_id=..., service_id=...,
                                              retries=3).expand_kwargs(split.output)
    merge = AbejaMergeBatchShardsOperator(task_id="merge", work_dir=...)
    split >> score >> merge

Each mapped task may run on another worker: the shards, their outputs and the plan live in object
storage (`s3://...` with `storage_conn_id`, or a shared folder). A shard task that dies is retried,
on any worker, and resumes from its own output; the merge checks that every input was answered
exactly once and writes one manifest. See `airflow_provider_abeja.batch.shards`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_abeja.exceptions import InvalidArgumentError
from airflow_provider_abeja.operators._base import AbejaBaseOperator, required_path
from airflow_provider_abeja.operators.batch import INPUT_FORMATS, choice_argument, number_argument

PLAN_NAME = "plan.json"
MANIFEST_NAME = "manifest.json"


def _write_json(path: Any, value: Any) -> None:
    """Write `value` as JSON to `path`, whole or not at all (a rename or one upload)."""
    from airflow_provider_abeja.batch.paths import published

    with published(path) as out:
        out.write(json.dumps(value, indent=2, sort_keys=True).encode())


class _ShardOperator(AbejaBaseOperator):
    """What the split and the merge share: the run's folder and the object store's connection."""

    ui_color = "#b5e3f2"
    named_arguments: ClassVar[tuple[str, ...]] = ("work_dir", "storage_conn_id")

    def __init__(self, *, work_dir: str, storage_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.work_dir = work_dir
        self.storage_conn_id = storage_conn_id


class AbejaSplitBatchInputOperator(_ShardOperator):
    """Split a JSONL file, a directory or a glob into shards; returns one kwargs dict per shard.

    :param input_path: what `AbejaBatchRequestOperator` would read (path, ``file://``, ``s3://``...).
    :param work_dir: where the shard files and ``plan.json`` go (one folder per run).
    :param shards: how many shards (empty ones are dropped); about the number of workers to use.
    :param output_dir: where each shard's results go; default ``<work_dir>/results``.
    :param input_format: ``auto``, ``jsonl`` or ``files``, as for the batch operator.
    :param key_field: the JSONL field naming each input (default: its line number in the whole input).
    :param payload_field: send only this field of each JSONL line.
    :param storage_conn_id: Airflow connection of the object store; passed on to every shard.
    """

    template_fields: Sequence[str] = (
        "input_path",
        "work_dir",
        "output_dir",
        "shards",
        "key_field",
        "payload_field",
    )
    named_arguments = (*_ShardOperator.named_arguments, "input_path", "output_dir")

    def __init__(
        self,
        *,
        input_path: str,
        shards: int | str,
        output_dir: str | None = None,
        input_format: str = "auto",
        key_field: str | None = None,
        payload_field: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        choice_argument("input_format", input_format, INPUT_FORMATS)
        if not isinstance(shards, str):  # a template is checked once rendered
            number_argument("shards", shards, int, 1)
        self.input_path = input_path
        self.shards = shards
        self.output_dir = output_dir
        self.input_format = input_format
        self.key_field = key_field
        self.payload_field = payload_field

    def execute(self, context: Mapping[str, Any]) -> list[dict[str, Any]]:
        from airflow_provider_abeja.batch.inputs import FilesSource, JsonlSource, locate_input
        from airflow_provider_abeja.batch.paths import is_file
        from airflow_provider_abeja.batch.shards import join, shard_specs, split_files, split_jsonl

        conn_id = self.storage_conn_id
        input_path = required_path(self.input_path, "input_path")
        work_dir = required_path(self.work_dir, "work_dir")
        output_dir = str(self.output_dir or join(work_dir, "results"))
        count = number_argument("shards", self.shards, int, 1)
        work = self._path(work_dir, "work_dir")
        source, pattern, files = locate_input(input_path, self.input_format, conn_id)
        output = self._path(output_dir, "output_dir")
        self._check_apart(source if pattern is None else None, files, work, output)
        if files:
            written = split_files(FilesSource(source, pattern), work, count)
        elif not is_file(source):
            raise InvalidArgumentError("input_path", f"no such file or directory: {input_path}")
        else:
            fields = {"key_field": self.key_field or None, "payload_field": self.payload_field or None}
            written = split_jsonl(JsonlSource(source, **fields), work, count)
        specs = shard_specs(input_path, written, work_dir, output_dir, files=files, storage_conn_id=conn_id)
        plan = {
            "input_path": input_path,
            "inputs": sum(size for _, size in written),
            "shards": [{**spec, "inputs": size} for spec, (_, size) in zip(specs, written, strict=True)],
        }
        _write_json(work / PLAN_NAME, plan)
        sizes = "/".join(str(size) for _, size in written) or "0"
        message = "Split %s into %d shard(s) of %s input(s) under %s"
        self.log.info(message, input_path, len(specs), sizes, work_dir)
        return specs

    @staticmethod
    def _check_apart(source: Any, folder: bool, work: Any, output: Any) -> None:
        """The input is neither in the run's folders nor holds them (a shard or a result would
        overwrite it, or be read as an input next time); the results are not the shards."""
        from airflow_provider_abeja.batch.overlap import check_apart, location

        folders = ("input_path", "work_dir", "output_dir") if folder else ("work_dir", "output_dir")
        check_apart({"input_path": source, "work_dir": work}, folders=folders)
        check_apart({"input_path": source, "output_dir": output}, folders=folders)
        if location(work) == location(output):
            raise InvalidArgumentError(
                "output_dir", "is work_dir: each shard's results would overwrite the shard"
            )


class AbejaMergeBatchShardsOperator(_ShardOperator):
    """Check that every input of a sharded batch was answered exactly once; write one manifest.

    The manifest (JSON; also the return value) holds the counts (inputs, ok, errors, error rate,
    duplicates, missing) overall and per shard, and each shard's output path: the output parts.

    :param work_dir: the split's ``work_dir`` (its ``plan.json`` names the shards).
    :param manifest_path: default ``<work_dir>/manifest.json``.
    :param max_error_rate: fail (without retry) when more than this fraction of inputs failed.
    :param storage_conn_id: Airflow connection of the object store.
    """

    template_fields: Sequence[str] = ("work_dir", "manifest_path", "max_error_rate")
    named_arguments = (*_ShardOperator.named_arguments, "manifest_path")

    def __init__(
        self, *, manifest_path: str | None = None, max_error_rate: float | str = 1.0, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.manifest_path = manifest_path
        self.max_error_rate = max_error_rate

    def execute(self, context: Mapping[str, Any]) -> dict[str, Any]:
        from airflow_provider_abeja.batch.overlap import check_apart
        from airflow_provider_abeja.batch.paths import open_binary, path_exists
        from airflow_provider_abeja.batch.shards import join, merge_shards

        work_dir = required_path(self.work_dir, "work_dir")
        manifest_path = str(self.manifest_path or join(work_dir, MANIFEST_NAME))
        rate = number_argument("max_error_rate", self.max_error_rate, float, 0, 1)
        plan_path = self._path(join(work_dir, PLAN_NAME), "work_dir")
        if not path_exists(plan_path):
            raise InvalidArgumentError("work_dir", f"no {PLAN_NAME} in {work_dir}: run the split first")
        manifest_file = self._path(manifest_path, "manifest_path")
        with open_binary(plan_path) as fh:
            plan = json.load(fh)
        shards = plan["shards"]
        outputs = [self._path(s["output_path"], "output_path", s.get("storage_conn_id")) for s in shards]
        for i, output in enumerate(outputs):  # the manifest would replace a shard's results
            check_apart({f"output_path of shard {i}": output, "manifest_path": manifest_file})
        check_apart({"work_dir": plan_path, "manifest_path": manifest_file})
        manifest = merge_shards(shards, outputs)
        manifest.update(input_path=plan["input_path"], manifest_path=manifest_path)
        _write_json(manifest_file, manifest)
        self.log.info(
            "%(inputs)d input(s) in %(shard_count)d shard(s): %(ok)d ok, %(errors)d failed "
            "(%(percent).2f%%), %(duplicates)d duplicate(s), %(missing)d missing; manifest %(manifest_path)s",
            {**manifest, "shard_count": len(shards), "percent": 100 * manifest["error_rate"]},
        )
        if manifest["duplicates"] or manifest["missing"]:
            raise AirflowFailException(
                "not every input was answered exactly once: {duplicates} duplicate(s), {missing} missing; "
                "see {manifest_path}".format_map(manifest)
            )
        if manifest["error_rate"] > rate:
            raise AirflowFailException(
                f"{manifest['errors']} of {manifest['inputs']} inputs failed "
                f"({manifest['error_rate']:.2%} > max_error_rate {rate:.2%}); see {manifest_path}"
            )
        return manifest


__all__ = ["AbejaMergeBatchShardsOperator", "AbejaSplitBatchInputOperator"]
