"""The emulated platform: resources, lifecycle, inference dispatch. HTTP-free, driven by the routes."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import secrets
import sys
from collections import Counter
from typing import Any

from . import sample
from .auth import Authenticator
from .code_roots import CodeRoots
from .config import EmulatorConfig
from .datalake import Datalake
from .errors import bad_request, not_found
from .faults import FaultBook, build_fault
from .ids import new_hex_id, new_numeric_id, now_ts
from .limits import UploadLimits
from .logs import LogBook
from .models import (
    DEFAULT_IMAGE,
    FAILED,
    IN_PROGRESS,
    READY,
    RUNNING,
    STATUSES,
    STOPPED,
    Deployment,
    Endpoint,
    Service,
    Version,
    merged_env,
)
from .proxy_rules import (
    RUNTIME_LOST,
    UNAVAILABLE,
    DropConnection,
    ProxyError,
    answer_headers,
    check_runtime_answer,
    error_body,
    platform_headers,
    read_answer_body,
    to_content_list,
)
from .runs import RunPlatform
from .runtime import HandlerLoadError, InstancePool, InstanceUnavailable, PoolSpec, RuntimeLost
from .runtime_process import runtime_problem, sweep_scratch
from .service_locks import ServiceLocks
from .sources import SourceStore
from .store import NullStore
from .training import TrainingPlatform

_ALIAS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_ENDPOINT_ID = re.compile(r"^pnt-[0-9a-f]{16}$")
_HANDLER = re.compile(r"^\S+$")  # any name without spaces: the runtime itself judges it (module:function)
SPAWN_ALLOWANCE = 1.0  # seconds before READY is due when the instances are started


class InferenceAnswer:
    """What the inference route sends back (the proxy's answer: its headers are complete)."""

    __slots__ = ("body", "content_type", "headers", "status")

    def __init__(
        self, status: int, body: bytes, content_type: str | None, headers: list[tuple[str, str]]
    ) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers

    @classmethod
    def proxy_error(cls, status: int, message: str) -> InferenceAnswer:
        """An answer the proxy writes itself (outputErrorResponse): only a Content-Type header."""
        return cls(status, error_body(message), "application/json", [])


class Emulator:
    """All state of one emulator; one instance per server process, used from its event loop only."""

    def __init__(
        self,
        config: EmulatorConfig,
        store: NullStore | None = None,
        *,
        sample: bool = True,
        faults: list[dict[str, Any]] | None = None,
        limits: UploadLimits | None = None,
        code_roots: CodeRoots | None = None,
    ) -> None:
        self.initial_config = config.copy()
        self.limits = limits or UploadLimits()
        self.code_roots = code_roots or CodeRoots()
        self.locks = ServiceLocks()
        self.initial_faults = list(faults or [])
        self.config = config
        self.store = store or NullStore()
        self.sample = sample
        self.auth = Authenticator(config)
        self.faults = FaultBook()
        self.logs = LogBook(self.store, config.max_log_events_per_service)
        self.requests: Counter[str] = Counter()
        self.counters: Counter[str] = Counter()
        self.deployments: dict[str, Deployment] = {}
        self.versions: dict[str, Version] = {}
        self.services: dict[str, Service] = {}
        self.endpoints: dict[str, Endpoint] = {}
        self.pools: dict[str, InstancePool] = {}
        self.sources = SourceStore(self.store.path.parent / "sources" if self.store.path else None)
        self.runtime_problem: str | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        #: pools a redeploy replaced, closed by the next bring-up or a halt (never only by a task that
        #: may be cancelled before it runs: its runtimes would outlive the service)
        self._retiring: dict[str, list[InstancePool]] = {}
        self.public_url = "http://127.0.0.1"
        self.training = TrainingPlatform(self)
        self.datalake = Datalake(self)
        self.runs = RunPlatform(self)
        self._add_initial_faults()

    def _add_initial_faults(self) -> None:
        for spec in self.initial_faults:
            self.faults.add(build_fault(spec))

    # ----- start, stop, reset -------------------------------------------------------------------------

    async def startup(self) -> None:
        sweep_scratch()
        self.runtime_problem = runtime_problem()
        if self.runtime_problem:
            print(
                f"abeja-emulator: services cannot start: {self.runtime_problem}", file=sys.stderr, flush=True
            )
        loaded = self.store.load()
        for data in loaded.get("deployment", []):
            dep = Deployment.from_dict(data)
            self.deployments[dep.deployment_id] = dep
        for data in loaded.get("version", []):
            ver = Version.from_dict(data)
            self.versions[ver.version_id] = ver
        for data in loaded.get("service", []):
            ser = Service.from_dict(data)
            self.services[ser.service_id] = ser
        for data in loaded.get("endpoint", []):
            pnt = Endpoint.from_dict(data)
            self.endpoints[pnt.endpoint_id] = pnt
        self.logs.load(self.store.load_logs())
        self.datalake.load(loaded)
        self.runs.load(loaded)
        if not self.deployments and self.sample:
            self._seed_sample()
        for service in self.services.values():
            if service.status == IN_PROGRESS:
                self._deploy(service, reason="emulator restarted")
            elif service.status == READY:
                self.log_service(service.service_id, "[emulator] emulator restarted; restarting instances")
                self._launch(service, keep_ready=True)

    async def shutdown(self) -> None:
        await self._halt_all()
        await self.training.shutdown()
        await self.runs.shutdown()
        self.datalake.close()
        self.store.close()
        self.sources.close()

    async def reset(self) -> None:
        await self._halt_all()
        await self.training.reset()
        await self.runs.reset()
        self.datalake.clear()
        for mapping in (self.deployments, self.versions, self.services, self.endpoints):
            mapping.clear()
        self.logs.clear()
        self.store.clear()
        self.sources.clear()
        self.faults.clear()
        self.faults.triggered_total = 0
        self._add_initial_faults()
        self.requests.clear()
        self.counters.clear()
        self.locks.clear()
        self.config = self.initial_config.copy()
        self.auth.reconfigure(self.config)
        self.logs.max_per_service = self.config.max_log_events_per_service
        if self.sample:
            self._seed_sample()

    def configure(self, patch: dict[str, Any]) -> None:
        self.config.update(patch)
        self.auth.reconfigure(self.config)
        self.logs.max_per_service = self.config.max_log_events_per_service

    async def _halt_all(self) -> None:
        services = {*self.pools, *self._tasks, *self._retiring}
        await asyncio.gather(*(self._halt(ser) for ser in services))

    def _seed_sample(self) -> None:
        org = self.config.organization_id
        dep = self._new_deployment(org, sample.SAMPLE_DEPLOYMENT_NAME, {}, sample.SAMPLE_DEPLOYMENT_ID)
        for version_id, version, handler, env in sample.SAMPLE_VERSIONS:
            self._new_version(dep, version, handler, sample.SAMPLE_HANDLER_DIR, env, version_id)

    # ----- lookups ------------------------------------------------------------------------------------

    def deployment(self, org: str, dep: str) -> Deployment:
        found = self.deployments.get(dep)
        if found is None or found.organization_id != org:
            raise not_found(f"deployment {dep} not found")
        return found

    def service(self, org: str, dep: str, ser: str) -> Service:
        self.deployment(org, dep)
        found = self.services.get(ser)
        if found is None or found.deployment_id != dep or found.organization_id != org:
            raise not_found(f"service {ser} not found")
        return found

    def endpoint(self, org: str, dep: str, ref: str) -> Endpoint:
        self.deployment(org, dep)
        for pnt in self.endpoints.values():
            if (
                pnt.deployment_id == dep
                and pnt.organization_id == org
                and ref in (pnt.endpoint_id, pnt.custom_alias)
            ):
                return pnt
        raise not_found(f"endpoint {ref} not found")

    def deployment_wire(self, dep: Deployment) -> dict[str, Any]:
        """A deployment with its services, as GET /deployments/{id} answers."""
        services = [
            self.service_wire(s) for s in self.services.values() if s.deployment_id == dep.deployment_id
        ]
        return dep.wire(services)

    def _creator(self) -> str:
        return next(iter(self.config.users), "")

    def service_wire(self, service: Service) -> dict[str, Any]:
        version = self.versions.get(service.version_id)
        deployment = self.deployments.get(service.deployment_id)
        metrics = f"{self.public_url}/_emulator/services/{service.service_id}/metrics"
        return service.wire(version, deployment, metrics)

    # ----- deployments and versions -------------------------------------------------------------------

    def _new_deployment(
        self, org: str, name: str, env: dict[str, str], dep_id: str | None = None
    ) -> Deployment:
        stamp = now_ts()
        dep = Deployment(dep_id or new_numeric_id(), org, name, env, stamp, stamp, self._creator())
        self.deployments[dep.deployment_id] = dep
        self.store.put("deployment", dep.deployment_id, dep.to_dict())
        return dep

    def _new_version(
        self,
        dep: Deployment,
        version: str,
        handler: str,
        code_dir: str,
        parameters: dict[str, str],
        ver_id: str | None,
        image: str = DEFAULT_IMAGE,
    ) -> Version:
        stamp = now_ts()
        ver = Version(
            version_id=ver_id or new_hex_id("ver"),
            deployment_id=dep.deployment_id,
            organization_id=dep.organization_id,
            version=version,
            handler=handler,
            code_dir=code_dir,
            user_parameters=parameters,
            image=image,
            upload_token=secrets.token_urlsafe(16),
            creator_id=self._creator(),
            created_at=stamp,
            modified_at=stamp,
        )
        self.versions[ver.version_id] = ver
        self.store.put("version", ver.version_id, ver.to_dict())
        return ver

    def create_deployment(self, org: str, body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("name", "deployment")
        env = _env_dict(body.get("default_environment", {}), "default_environment")
        dep_id = body.get("deployment_id")
        if not isinstance(name, str) or not name:
            raise bad_request("name must be a non-empty string")
        if dep_id is not None:
            if not isinstance(dep_id, str) or not re.fullmatch(r"[0-9]{13}", dep_id):
                raise bad_request("deployment_id must be 13 digits")
            if dep_id in self.deployments:
                raise bad_request(f"deployment {dep_id} already exists")
        self.counters["deployments_created"] += 1
        return self._new_deployment(org, name, env, dep_id).wire()

    def list_deployments(self, org: str) -> dict[str, Any]:
        chosen = [d for d in self.deployments.values() if d.organization_id == org]
        return {"entries": [self.deployment_wire(d) for d in chosen]}

    def create_version(self, org: str, dep_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """The platform's body (version, handler, image, user_parameters); `code_dir` and
        `user_env_vars` (an alias of user_parameters) are the emulator's local conveniences."""
        dep = self.deployment(org, dep_id)
        version = body.get("version")
        handler = body.get("handler", "main:handler")
        code_dir = body.get("code_dir") or ""
        image = body.get("image") or DEFAULT_IMAGE
        name = "user_parameters" if "user_parameters" in body else "user_env_vars"
        parameters = _env_dict(body.get(name) or {}, name)
        if not isinstance(version, str) or not version:
            raise bad_request("version is required")
        if not isinstance(handler, str) or not _HANDLER.fullmatch(handler):
            raise bad_request("handler must be a name like module:function")
        if not isinstance(image, str):
            raise bad_request("image must be a string")
        if not isinstance(code_dir, str) or (code_dir and not os.path.isabs(code_dir)):
            raise bad_request("code_dir must be an absolute path")
        if code_dir and not self.code_roots.allows(code_dir):
            raise bad_request(
                f"code_dir must be under a folder the emulator allows ({self.code_roots.describe()}); "
                "start it with --code-root to allow another"
            )
        if any(v.deployment_id == dep_id and v.version == version for v in self.versions.values()):
            raise bad_request(f"version {version} already exists")
        self.counters["versions_created"] += 1
        ver = self._new_version(dep, version, handler, code_dir, parameters, None, image)
        return dict(ver.wire(), upload_url=self.upload_url(ver))

    def upload_url(self, ver: Version) -> str:
        """Where the version's code tarball goes (the platform's presigned URL; no credentials)."""
        return f"{self.public_url}/_emulator/uploads/{ver.version_id}/{ver.upload_token}"

    async def upload_source(self, ver_id: str, token: str, archive: bytes) -> dict[str, Any]:
        ver = self.versions.get(ver_id)
        if ver is None or not secrets.compare_digest(token, ver.upload_token):
            raise not_found("no such upload URL")
        # decompression and disk writes in a thread: a big archive must not stall every other request
        folder = await asyncio.to_thread(self.sources.unpack, ver_id, archive, self.limits)
        ver.source_dir = str(folder)
        ver.modified_at = now_ts()
        self.store.put("version", ver.version_id, ver.to_dict())
        return {"version_id": ver_id, "size": len(archive)}

    def list_versions(self, org: str, dep_id: str) -> dict[str, Any]:
        self.deployment(org, dep_id)
        return {"entries": [v.wire() for v in self.versions.values() if v.deployment_id == dep_id]}

    def version(self, org: str, dep_id: str, ver_id: str) -> Version:
        self.deployment(org, dep_id)
        found = self.versions.get(ver_id)
        if found is None or found.deployment_id != dep_id:
            raise not_found(f"version {ver_id} not found")
        return found

    # ----- services -----------------------------------------------------------------------------------

    def create_service(self, org: str, dep_id: str, body: dict[str, Any]) -> dict[str, Any]:
        self.deployment(org, dep_id)
        version_id = body.get("version_id")
        if not isinstance(version_id, str) or not version_id:
            raise bad_request("version_id is required")
        self._check_version(dep_id, version_id)
        number = _positive_int(body.get("instance_number", 1), "instance_number")
        stamp = now_ts()
        service = Service(
            service_id=new_hex_id("ser"),
            deployment_id=dep_id,
            organization_id=org,
            version_id=version_id,
            instance_number=number,
            min_instance_number=_positive_int(body.get("min_instance_number", number), "min_instance_number"),
            max_instance_number=_positive_int(body.get("max_instance_number", number), "max_instance_number"),
            enable_autoscale=_as_bool(body.get("enable_autoscale", False), "enable_autoscale"),
            instance_type=_instance_type(body.get("instance_type", "cpu-0.25")),
            user_env_vars=_env_dict(body.get("environment") or {}, "environment"),
            models=_models(body),
            record_channel_id=new_numeric_id(),
            created_at=stamp,
            modified_at=stamp,
        )
        self.services[service.service_id] = service
        self.counters["services_created"] += 1
        self.log_service(service.service_id, f"[emulator] service created from version {version_id}")
        self._deploy(service, reason="created")
        return self.service_wire(service)

    def list_services(
        self, org: str, dep_id: str, offset: int = 0, limit: int | None = None
    ) -> dict[str, Any]:
        """The deployment's services, oldest first: the seed's ``{"entries"}`` when they fit in one
        page and none was asked for, else one page in the platform's paged shape (offset, limit, total)."""
        self.deployment(org, dep_id)
        chosen = [s for s in self.services.values() if s.deployment_id == dep_id and s.organization_id == org]
        chosen.sort(key=lambda s: s.created_at)
        size = min(limit or self.config.services_page_size, self.config.services_page_size)
        entries = [self.service_wire(s) for s in chosen[offset : offset + size]]
        if not offset and limit is None and len(chosen) <= size:
            return {"entries": entries}
        return {"entries": entries, "offset": offset, "limit": size, "total": len(chosen)}

    async def update_service(self, org: str, dep_id: str, ser: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self.locks(ser):
            return self._update_service(org, dep_id, ser, body)

    def _update_service(self, org: str, dep_id: str, ser: str, body: dict[str, Any]) -> dict[str, Any]:
        service = self.service(org, dep_id, ser)
        staged = Service.from_dict(service.to_dict())
        if "version_id" in body:
            if not isinstance(body["version_id"], str):
                raise bad_request("version_id must be a string")
            self._check_version(dep_id, body["version_id"])
            staged.version_id = body["version_id"]
        if "instance_number" in body:
            staged.instance_number = _positive_int(body["instance_number"], "instance_number")
        for key in ("min_instance_number", "max_instance_number"):
            if key in body:
                setattr(staged, key, _positive_int(body[key], key))
        if "enable_autoscale" in body:
            staged.enable_autoscale = _as_bool(body["enable_autoscale"], "enable_autoscale")
        if "instance_type" in body:
            staged.instance_type = _instance_type(body["instance_type"])
        if "environment" in body:
            staged.user_env_vars = _env_dict(body["environment"] or {}, "environment")
        if "model_id" in body or "models" in body:
            staged.models = _models(body)
        redeploy = any(
            getattr(staged, key) != getattr(service, key)
            for key in ("version_id", "instance_number", "instance_type", "user_env_vars")
        )
        staged.modified_at = now_ts()
        # Update in place: a bring-up task still running from an earlier change holds this object
        # and only marks it READY while it is still the registered one (a replaced object stayed
        # IN_PROGRESS forever when an identical PATCH, e.g. a client retry, came in meanwhile).
        for name in dataclasses.fields(Service):
            setattr(service, name.name, getattr(staged, name.name))
        if redeploy and service.status != STOPPED:
            self._deploy(service, reason="updated")
        else:
            self._save(service)
        return self.service_wire(service)

    async def delete_service(self, org: str, dep_id: str, ser: str) -> dict[str, Any]:
        """Gone from the map and the state folder first (a racing call answers 404, a restart cannot
        bring it back), then its processes are stopped, all under the service's lock."""
        async with self.locks(ser):
            self.service(org, dep_id, ser)
            self.services.pop(ser, None)
            self.store.delete("service", ser)
            self.counters["services_deleted"] += 1
            await self._halt(ser)
            self.logs.drop(ser)
        self.locks.forget(ser)
        return {"message": f"{ser} deleted"}

    async def start_service(self, org: str, dep_id: str, ser: str) -> dict[str, Any]:
        async with self.locks(ser):
            service = self.service(org, dep_id, ser)
            if service.status in RUNNING:
                raise bad_request(f"service {ser} is already running")
            self._deploy(service, reason="started")
        return {"message": f"{ser} started"}

    async def stop_service(self, org: str, dep_id: str, ser: str) -> dict[str, Any]:
        async with self.locks(ser):
            service = self.service(org, dep_id, ser)
            if service.status not in RUNNING:
                raise bad_request(f"service {ser} is not running")
            await self._halt(ser)
            self._set_status(service, STOPPED, "[emulator] service stopped")
        return {"message": f"{ser} stopped"}

    async def force_status(self, ser: str, status: str, message: str | None = None) -> dict[str, Any]:
        """Control API: put a service in a status and keep it there (tests of sensors and failures)."""
        async with self.locks(ser):
            return await self._force_status(ser, status, message)

    async def _force_status(self, ser: str, status: str, message: str | None) -> dict[str, Any]:
        service = self.services.get(ser)
        if service is None:
            raise not_found(f"service {ser} not found")
        if status not in STATUSES:
            raise bad_request(f"status must be one of {', '.join(STATUSES)}")
        if message:
            self.log_service(ser, message)
        task = self._tasks.pop(ser, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        if status in (STOPPED, FAILED):
            await self._halt(ser)
        elif status == READY:
            pool = self.pools.get(ser)
            if pool is None or not pool.usable:  # never started, or its start was just cancelled
                self._launch(service, keep_ready=True)
        self._set_status(service, status, f"[emulator] status forced to {status}")
        return self.service_wire(service)

    # ----- lifecycle ----------------------------------------------------------------------------------

    def _check_version(self, dep_id: str, version_id: str) -> None:
        version = self.versions.get(version_id)
        if version is None or version.deployment_id != dep_id:
            raise bad_request(f"version {version_id} not found in deployment {dep_id}")

    def _save(self, service: Service) -> None:
        """Write the service through, unless it was deleted meanwhile (never resurrect it on disk)."""
        if self.services.get(service.service_id) is service:
            self.store.put("service", service.service_id, service.to_dict())

    def _set_status(self, service: Service, status: str, message: str | None = None) -> None:
        service.status = status
        service.modified_at = now_ts()
        self._save(service)
        if message:
            self.log_service(service.service_id, message)

    def log_service(self, ser: str, message: str) -> None:
        """Add a line to a service's recent logs (ignored once the service is deleted)."""
        if ser in self.services:
            self.logs.append(ser, message)

    def _deploy(self, service: Service, *, reason: str) -> None:
        """IN_PROGRESS now; new instances; READY after the ready delay (FAILED if the handler breaks)."""
        self._set_status(service, IN_PROGRESS, f"[emulator] service {reason}; status IN_PROGRESS")
        self._launch(service, keep_ready=False)

    def _launch(self, service: Service, *, keep_ready: bool) -> None:
        ser = service.service_id
        old_task = self._tasks.pop(ser, None)
        if old_task is not None:
            old_task.cancel()
        old_pool = self.pools.pop(ser, None)
        if old_pool is not None:
            self._retiring.setdefault(ser, []).append(old_pool)
        version = self.versions.get(service.version_id)
        if version is None:
            self._set_status(service, FAILED, f"[emulator] version {service.version_id} no longer exists")
            return
        deployment = self.deployments.get(service.deployment_id)
        platform = {
            "ABEJA_ORGANIZATION_ID": service.organization_id,
            "ABEJA_DEPLOYMENT_ID": service.deployment_id,
            "ABEJA_SERVICE_ID": ser,
            "ABEJA_MODEL_VERSION": version.version,
        }
        if service.models.get("alias"):
            platform["ABEJA_MODEL_ID"] = service.models["alias"]
        code = version.source_dir or version.code_dir or sample.SAMPLE_HANDLER_DIR
        model_dir = self.training.model_folder(service.models)
        spec = PoolSpec(code, version.handler, merged_env(deployment, version, service), platform, model_dir)
        size = min(service.instance_number, self.config.max_workers_per_service)
        pool = InstancePool(
            spec,
            size,
            lambda line, s=ser: self.log_service(s, line),  # type: ignore[misc]
            lambda index, code, s=service: self._instance_lost(s, index, code),  # type: ignore[misc]
        )
        self.pools[ser] = pool
        delay = 0.0 if keep_ready else self.config.ready_delay
        self._tasks[ser] = asyncio.create_task(self._bring_up(service, pool, delay, keep_ready))

    async def _bring_up(
        self,
        service: Service,
        pool: InstancePool,
        delay: float,
        keep_ready: bool,
    ) -> None:
        ser = service.service_id
        loop = asyncio.get_running_loop()
        began = loop.time()
        try:
            await self._close_retired(ser)
            # Start the instances only shortly before READY is due: a service held IN_PROGRESS by a long
            # ready delay (timeout tests, trigger benchmarks) costs no processes.
            if delay - SPAWN_ALLOWANCE > 0:
                await asyncio.sleep(delay - SPAWN_ALLOWANCE)
            version = self.versions.get(service.version_id)
            label = f"{version.version} ({version.handler})" if version else service.version_id
            self.log_service(ser, f"[emulator] starting {pool.size} instance(s) of version {label}")
            try:
                if self.runtime_problem:
                    raise HandlerLoadError(self.runtime_problem)
                await pool.start()
            except HandlerLoadError as exc:
                for line in str(exc).rstrip().splitlines():
                    self.log_service(ser, line)
                await pool.close()
                if self.pools.get(ser) is pool:
                    self.pools.pop(ser, None)
                self._set_status(service, FAILED, "[emulator] handler could not be loaded; status FAILED")
                return
            except InstanceUnavailable:
                return
            remaining = delay - (loop.time() - began)
            if remaining > 0:
                await asyncio.sleep(remaining)
            if not keep_ready and self.services.get(ser) is service:
                self._set_status(service, READY, "[emulator] service is READY")
        finally:
            if self._tasks.get(ser) is asyncio.current_task():
                self._tasks.pop(ser, None)

    def _instance_lost(self, service: Service, index: int, code: int | None) -> None:
        """A runtime exited: as on the platform its proxy goes down with it; the service is FAILED."""
        ser = service.service_id
        if self.services.get(ser) is not service or service.status not in RUNNING:
            return
        self._set_status(
            service,
            FAILED,
            f"[emulator] the runtime of instance {index} exited (code {code}); the model proxy shut down"
            " with it; status FAILED",
        )
        task = asyncio.ensure_future(self._halt(ser))
        self._tasks[f"lost-{ser}"] = task
        task.add_done_callback(lambda _t, key=f"lost-{ser}": self._tasks.pop(key, None))  # type: ignore[misc]

    async def _close_retired(self, ser: str) -> None:
        retiring = self._retiring.get(ser, [])
        while retiring:
            pool = retiring[0]
            await pool.close()
            if retiring and retiring[0] is pool:
                retiring.pop(0)
        if not retiring:
            self._retiring.pop(ser, None)

    async def _halt(self, ser: str) -> None:
        task = self._tasks.pop(ser, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        await self._close_retired(ser)
        pool = self.pools.pop(ser, None)
        if pool is not None:
            await pool.close()

    # ----- endpoints ----------------------------------------------------------------------------------

    def create_endpoint(self, org: str, dep_id: str, body: dict[str, Any]) -> dict[str, Any]:
        self.deployment(org, dep_id)
        ser = body.get("service_id")
        alias = body.get("custom_alias") or "default"
        if not isinstance(ser, str) or not ser:
            raise bad_request("service_id is required")
        self._check_service(org, dep_id, ser)
        if not isinstance(alias, str) or not _ALIAS.fullmatch(alias) or _ENDPOINT_ID.fullmatch(alias):
            raise bad_request("custom_alias must be 1-64 letters, digits, '-' or '_'")
        if any(p.deployment_id == dep_id and p.custom_alias == alias for p in self.endpoints.values()):
            raise bad_request(f"endpoint with custom_alias {alias} already exists")
        stamp = now_ts()
        pnt = Endpoint(new_hex_id("pnt"), dep_id, org, alias, ser, stamp, stamp)
        self.endpoints[pnt.endpoint_id] = pnt
        self.store.put("endpoint", pnt.endpoint_id, pnt.to_dict())
        self.counters["endpoints_created"] += 1
        return pnt.wire()

    def list_endpoints(self, org: str, dep_id: str) -> dict[str, Any]:
        self.deployment(org, dep_id)
        chosen = [
            p for p in self.endpoints.values() if p.deployment_id == dep_id and p.organization_id == org
        ]
        return {"entries": [p.wire() for p in sorted(chosen, key=lambda p: p.created_at)]}

    def update_endpoint(self, org: str, dep_id: str, ref: str, body: dict[str, Any]) -> dict[str, Any]:
        pnt = self.endpoint(org, dep_id, ref)
        ser = body.get("service_id")
        if not isinstance(ser, str) or not ser:
            raise bad_request("service_id is required")
        self._check_service(org, dep_id, ser)
        pnt.service_id = ser
        pnt.modified_at = now_ts()
        self.store.put("endpoint", pnt.endpoint_id, pnt.to_dict())
        return {"message": f"{pnt.endpoint_id} updated"}

    def delete_endpoint(self, org: str, dep_id: str, ref: str) -> dict[str, Any]:
        pnt = self.endpoint(org, dep_id, ref)
        self.endpoints.pop(pnt.endpoint_id, None)
        self.store.delete("endpoint", pnt.endpoint_id)
        self.counters["endpoints_deleted"] += 1
        return {"message": f"{pnt.endpoint_id} deleted"}

    def _check_service(self, org: str, dep_id: str, ser: str) -> None:
        found = self.services.get(ser)
        if found is None or found.deployment_id != dep_id or found.organization_id != org:
            raise bad_request(f"service {ser} not found in deployment {dep_id}")

    # ----- inference ----------------------------------------------------------------------------------

    async def infer(
        self, service: Service, method: str, headers: list[tuple[str, str]], query: str, body: bytes
    ) -> InferenceAnswer:
        """One request through the model proxy's rules to a runtime. Raises DropConnection or
        HandlerTimeout where the proxy closes the connection without an answer."""
        pool = self.pools.get(service.service_id)
        if service.status != READY or pool is None:
            return InferenceAnswer.proxy_error(503, UNAVAILABLE)
        self.counters["inference_requests"] += 1
        try:
            content_list = to_content_list(method, headers, query, body, pool.data_dir)
        except ProxyError as exc:
            return InferenceAnswer.proxy_error(exc.status, exc.message)
        try:
            answer = await pool.request(content_list, self.config.handler_timeout)
        except RuntimeLost:
            return InferenceAnswer.proxy_error(500, RUNTIME_LOST)
        except InstanceUnavailable:
            return InferenceAnswer.proxy_error(503, UNAVAILABLE)
        try:
            check_runtime_answer(answer)
            status, extra = answer_headers(answer, self._proxy_ids(service))
        except ProxyError as exc:
            read_answer_body(answer)  # removes the answer file
            return InferenceAnswer.proxy_error(exc.status, exc.message)
        except DropConnection:
            read_answer_body(answer)
            raise
        try:
            content = read_answer_body(answer)
        except ProxyError as exc:
            return InferenceAnswer.proxy_error(exc.status, exc.message)
        return InferenceAnswer(status, content, None, extra)

    def _proxy_ids(self, service: Service) -> tuple[tuple[str, str], ...]:
        version = self.versions.get(service.version_id)
        model_version = version.version if version else ""
        model_id = service.models.get("alias", "")
        return platform_headers(model_id, model_version, service.deployment_id, service.service_id)

    def health_check(self, service: Service) -> InferenceAnswer:
        """The proxy's /health_check: 200 once its runtime is up, 503 before (and after a crash)."""
        pool = self.pools.get(service.service_id)
        if service.status == READY and pool is not None and pool.usable:
            return InferenceAnswer(200, b'{"status":"ok"}', "application/json", [])
        return InferenceAnswer.proxy_error(503, UNAVAILABLE)

    # ----- introspection ------------------------------------------------------------------------------

    def counters_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            key: self.counters.get(key, 0)
            for key in (
                "services_created",
                "services_deleted",
                "endpoints_created",
                "endpoints_deleted",
                "deployments_created",
                "versions_created",
                "inference_requests",
            )
        }
        data["requests"] = dict(self.requests)
        data["services_running"] = sum(1 for s in self.services.values() if s.status in RUNNING)
        data["services_total"] = len(self.services)
        data["endpoints_total"] = len(self.endpoints)
        data["workers_running"] = sum(len(p.worker_pids) for p in self.pools.values())
        data["faults_triggered"] = self.faults.triggered_total
        data.update(self.training.counters())
        data.update(self.datalake.counters())
        data.update(self.runs.counters())
        return data

    def state_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.public_dict(),
            "deployments": [self.deployment_wire(d) for d in self.deployments.values()],
            "versions": [v.wire() for v in self.versions.values()],
            "services": [
                dict(self.service_wire(s), organization_id=s.organization_id) for s in self.services.values()
            ],
            "endpoints": [dict(p.wire(), deployment_id=p.deployment_id) for p in self.endpoints.values()],
            "faults": self.faults.list(),
        }

    def metrics(self, ser: str) -> dict[str, Any]:
        service = self.services.get(ser)
        if service is None:
            raise not_found(f"service {ser} not found")
        pool = self.pools.get(ser)
        return {
            "service_id": ser,
            "status": service.status,
            "instances": pool.size if pool else 0,
            "worker_pids": pool.worker_pids if pool else [],
            "in_flight": pool.in_flight if pool else 0,
            "max_in_flight": pool.max_in_flight if pool else 0,
            "served": pool.served if pool else 0,
        }


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise bad_request(f"{name} must be a positive integer")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise bad_request(f"{name} must be a positive integer") from None
    if number < 1 or (isinstance(value, float) and value != number):
        raise bad_request(f"{name} must be a positive integer")
    return number


def _as_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise bad_request(f"{name} must be true or false")


def _instance_type(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"(cpu|gpu)-[0-9.]+(-[a-z0-9]+)?", value):
        raise bad_request("instance_type must look like cpu-0.25")
    return value


def _env_dict(value: Any, name: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise bad_request(f"{name} must be an object of string values")
    return dict(value)


def _models(body: dict[str, Any]) -> dict[str, str]:
    if body.get("models") is not None:
        return _env_dict(body["models"], "models")
    model_id = body.get("model_id")
    if model_id is None:
        return {}
    if not isinstance(model_id, str):
        raise bad_request("model_id must be a string")
    return {"alias": model_id}
