"""AbejaServiceStatusSensor against the emulator: poke, reschedule and deferrable modes.

The real hook, connection (``AIRFLOW_CONN_...``), sync client and, for the deferrable mode, the
real trigger run over loopback; short delays and poke intervals keep it fast.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import (
    AirflowFailException,
    AirflowSensorTimeout,
    TaskDeferred,
)
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS

from abeja_emulator.handle import EmulatorHandle
from airflow_provider_abeja.sensors.service import AbejaServiceStatusSensor
from airflow_provider_abeja.triggers.service import AbejaServiceStatusTrigger
from tests._context import FakeTI

try:  # Airflow 3
    from airflow.sdk.exceptions import AirflowRescheduleException
except ImportError:  # Airflow 2.11
    from airflow.exceptions import AirflowRescheduleException  # type: ignore[no-redef]

pytestmark = pytest.mark.emulator

# Reschedule-mode execute() needs the metadata database on Airflow 2 (TaskReschedule lookups).
AIRFLOW_3_ONLY = pytest.mark.skipif(
    not AIRFLOW_V_3_0_PLUS, reason="reschedule execute() needs a DB on Airflow 2"
)

DEP = "9999999999999"
GOOD_VERSION = "ver-5a3d1e0000000001"
BAD_VERSION = "ver-bad0000000000001"
CONN_ID = "abeja_sensor_it"


@pytest.fixture
def emulator(abeja_emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> EmulatorHandle:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(abeja_emulator.airflow_connection(CONN_ID))
    )
    return abeja_emulator


def _sensor(service_id: str, **overrides: Any) -> AbejaServiceStatusSensor:
    kwargs: dict[str, Any] = {
        "task_id": "wait_service",
        "deployment_id": DEP,
        "service_id": service_id,
        "abeja_conn_id": CONN_ID,
        "poke_interval": 0.05,
        "timeout": 30,
    }
    kwargs.update(overrides)
    return AbejaServiceStatusSensor(**kwargs)


def _create(emulator: EmulatorHandle, version: str = GOOD_VERSION) -> str:
    return str(emulator.create_service(DEP, version)["service_id"])


class TestPokeMode:
    def test_waits_until_ready(self, emulator: EmulatorHandle) -> None:
        emulator.configure(ready_delay=0.5)
        ser = _create(emulator)
        sensor = _sensor(ser)
        assert sensor.execute({}) is None  # nothing pushed to XCom
        assert emulator.get_service(DEP, ser)["status"] == "READY"
        assert emulator.counters()["requests"]["get_service"] >= 2

    def test_failure_status_fails_fast_with_log_lines(self, emulator: EmulatorHandle) -> None:
        ser = _create(emulator, BAD_VERSION)
        with pytest.raises(AirflowFailException) as info:
            _sensor(ser).execute({})
        text = str(info.value)
        assert "FAILED" in text
        assert "ModuleNotFoundError" in text
        assert emulator.airflow_connection(CONN_ID)["password"] not in text

    def test_timeout(self, emulator: EmulatorHandle) -> None:
        emulator.configure(ready_delay=60)
        ser = _create(emulator)
        with pytest.raises(AirflowSensorTimeout):
            _sensor(ser, timeout=0.3).execute({})

    def test_wait_for_stopped(self, emulator: EmulatorHandle) -> None:
        ser = _create(emulator)
        emulator.wait_for_status(DEP, ser, "READY")
        emulator.set_service_status(ser, "STOPPED")
        _sensor(ser, target_status="STOPPED").execute({})

    def test_unknown_service_fails_without_retries(self, emulator: EmulatorHandle) -> None:
        with pytest.raises(AirflowFailException, match="404"):
            _sensor("ser-ffffffffffffffff").execute({})

    def test_organization_from_the_connection_or_explicit(self, emulator: EmulatorHandle) -> None:
        ser = _create(emulator)
        emulator.wait_for_status(DEP, ser, "READY")
        _sensor(ser, organization_id=emulator.organization_id).execute({})
        with pytest.raises(AirflowFailException):
            # Another organization: the emulator refuses (403/404), which no wait can fix.
            _sensor(ser, organization_id="9876543210987").execute({})


class TestRescheduleMode:
    def test_pokes_until_ready(self, emulator: EmulatorHandle) -> None:
        emulator.configure(ready_delay=60)
        ser = _create(emulator)
        sensor = _sensor(ser, mode="reschedule", poke_interval=5)
        assert sensor.mode == "reschedule"
        assert sensor.reschedule
        assert sensor.poke({}) is False
        emulator.set_service_status(ser, "READY")
        # The next poke is a new run of the task: a fresh sensor object.
        assert _sensor(ser, mode="reschedule", poke_interval=5).poke({}) is True

    def test_failure_status_raises(self, emulator: EmulatorHandle) -> None:
        ser = _create(emulator, BAD_VERSION)
        emulator.wait_for_status(DEP, ser, "FAILED")
        with pytest.raises(AirflowFailException, match="ModuleNotFoundError"):
            _sensor(ser, mode="reschedule").poke({})

    @AIRFLOW_3_ONLY
    def test_execute_frees_the_slot_until_ready(self, emulator: EmulatorHandle) -> None:
        emulator.configure(ready_delay=60)
        ser = _create(emulator)
        ti = FakeTI()
        with pytest.raises(AirflowRescheduleException):
            _sensor(ser, mode="reschedule", poke_interval=5).execute({"ti": ti})
        emulator.set_service_status(ser, "READY")
        assert _sensor(ser, mode="reschedule", poke_interval=5).execute({"ti": ti}) is None

    @AIRFLOW_3_ONLY
    def test_execute_fails_on_a_failure_status(self, emulator: EmulatorHandle) -> None:
        ser = _create(emulator, BAD_VERSION)
        emulator.wait_for_status(DEP, ser, "FAILED")
        with pytest.raises(AirflowFailException, match="ModuleNotFoundError"):
            _sensor(ser, mode="reschedule").execute({"ti": FakeTI()})


class TestDeferrableMode:
    async def _resume(self, sensor: AbejaServiceStatusSensor) -> None:
        """Defer, run the trigger as the triggerer would, then resume with its event."""
        with pytest.raises(TaskDeferred) as info:
            sensor.execute({})
        trigger = info.value.trigger
        assert isinstance(trigger, AbejaServiceStatusTrigger)
        classpath, kwargs = trigger.serialize()
        assert classpath == "airflow_provider_abeja.triggers.service.AbejaServiceStatusTrigger"
        rebuilt = AbejaServiceStatusTrigger(**json.loads(json.dumps(kwargs)))
        events = [event.payload async for event in rebuilt.run()]
        assert len(events) == 1
        method = getattr(sensor, info.value.method_name)
        method({}, event=events[0])

    async def test_defers_and_completes_on_ready(self, emulator: EmulatorHandle) -> None:
        emulator.configure(ready_delay=0.5)
        ser = _create(emulator)
        await self._resume(_sensor(ser, deferrable=True))
        assert emulator.get_service(DEP, ser)["status"] == "READY"

    async def test_failure_status_fails_after_deferral(self, emulator: EmulatorHandle) -> None:
        emulator.configure(ready_delay=0.5)
        ser = _create(emulator)
        with pytest.raises(TaskDeferred) as info:
            _sensor(ser, deferrable=True).execute({})
        emulator.set_service_status(ser, "FAILED", "model crashed: out of memory")
        events = [event.payload async for event in info.value.trigger.run()]
        with pytest.raises(AirflowFailException, match="out of memory"):
            _sensor(ser, deferrable=True).execute_complete({}, event=events[0])

    async def test_timeout_is_a_sensor_timeout(self, emulator: EmulatorHandle) -> None:
        emulator.configure(ready_delay=60)
        ser = _create(emulator)
        with pytest.raises(AirflowSensorTimeout):
            await self._resume(_sensor(ser, deferrable=True, timeout=0.5))

    def test_ready_service_does_not_defer(self, emulator: EmulatorHandle) -> None:
        ser = _create(emulator)
        emulator.wait_for_status(DEP, ser, "READY")
        assert _sensor(ser, deferrable=True).execute({}) is None


def test_templated_ids_render(emulator: EmulatorHandle) -> None:
    ser = _create(emulator)
    emulator.wait_for_status(DEP, ser, "READY")
    sensor = _sensor("{{ params.service }}", deployment_id="{{ params.deployment }}")
    sensor.render_template_fields({"params": {"service": ser, "deployment": DEP}})
    assert sensor.service_id == ser
    assert sensor.deployment_id == DEP
    sensor.execute({})
