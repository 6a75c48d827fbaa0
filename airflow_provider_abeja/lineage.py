"""OpenLineage for the batch and request operators: the datasets they read and write, and the service.

Imported only from the operators' `get_openlineage_facets_on_complete`, which the OpenLineage
provider (`pip install airflow-provider-abeja[lineage]`) calls after a task: without that provider
nothing here is imported. Datasets are named as OpenLineage's naming spec and Airflow's own asset
translation name them: `s3://bucket` + `key`, `file` + absolute path.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Iterable
from typing import Any

from attrs import define
from openlineage.client.facet_v2 import RunFacet


@define
class AbejaServiceRunFacet(RunFacet):
    """Where the inputs went: the ABEJA organization, deployment and service (or endpoint) of the run."""

    organizationId: str | None
    deploymentId: str
    serviceId: str | None = None
    endpointAlias: str | None = None


def dataset(uri: str) -> Any:
    """The OpenLineage dataset of a path or URL (`/data/x.jsonl`, `file://...`, `s3://b/k`)."""
    from airflow.providers.common.compat.openlineage.facet import Dataset

    if "://" not in uri:
        return Dataset(namespace="file", name=os.path.abspath(uri))
    parsed = urllib.parse.urlsplit(uri)
    if parsed.scheme in ("file", "local"):
        return Dataset(namespace="file", name=parsed.path)
    bucket = parsed.netloc.rsplit("@", 1)[-1]  # ObjectStoragePath writes its conn_id as user info
    return Dataset(namespace=f"{parsed.scheme}://{bucket}", name=parsed.path.lstrip("/"))


def operator_lineage(
    operator: Any,
    *,
    inputs: Iterable[str | None],
    outputs: Iterable[str | None],
    service_id: str | None = None,
    endpoint_alias: str | None = None,
) -> Any:
    """The `OperatorLineage` of one task: its input and output datasets and the service facet."""
    try:
        organization_id: str | None = str(operator.resolve_organization_id())
    except Exception:  # lineage never fails a task that has succeeded
        organization_id = None
    facet = AbejaServiceRunFacet(
        organizationId=organization_id,
        deploymentId=str(operator.deployment_id),
        serviceId=service_id or None,
        endpointAlias=endpoint_alias or None,
    )
    return datalake_lineage(inputs=inputs, outputs=outputs, run_facets={"abeja_service": facet})


def datalake_lineage(*, inputs: Iterable[str | None], outputs: Iterable[str | None], **facets: Any) -> Any:
    """The `OperatorLineage` of a Datalake upload or download (``abeja-datalake://<channel>[/<file>]``),
    or of any task given its ``facets``."""
    from airflow.providers.openlineage.extractors import OperatorLineage

    return OperatorLineage(inputs=_datasets(inputs), outputs=_datasets(outputs), **facets)


def _datasets(uris: Iterable[str | None]) -> list[Any]:
    return [dataset(str(uri)) for uri in uris if uri]
