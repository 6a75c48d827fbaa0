"""Each instance serves one request at a time: N instances run at most N handler calls at once."""

from __future__ import annotations

import textwrap
from concurrent.futures import ThreadPoolExecutor

import pytest

from ._util import infer

pytestmark = pytest.mark.emulator
TEXT = {"Content-Type": "text/plain"}

# The handler itself observes concurrency: a marker file per running call in a shared directory.
COUNTING_HANDLER = textwrap.dedent(
    """
    import os, time, uuid

    ACTIVE = os.environ["ACTIVE_DIR"]

    def handler(request, context):
        marker = os.path.join(ACTIVE, uuid.uuid4().hex)
        open(marker, "w").close()
        try:
            seen = len(os.listdir(ACTIVE))
            time.sleep(0.4)
            seen = max(seen, len(os.listdir(ACTIVE)))
        finally:
            os.remove(marker)
        return {"content": {"seen": seen, "pid": os.getpid()}}
    """
)


@pytest.mark.parametrize(("instances", "requests_sent"), [(2, 4), (1, 3)])
def test_instances_bound_concurrency(abeja_emulator, tmp_path, instances, requests_sent):
    code, active = tmp_path / "code", tmp_path / "active"
    code.mkdir()
    active.mkdir()
    (code / "main.py").write_text(COUNTING_HANDLER)
    dep = abeja_emulator.create_deployment(name="counting")["deployment_id"]
    version = abeja_emulator.create_version(
        dep, "1.0.0", code_dir=str(code), user_env_vars={"ACTIVE_DIR": str(active)}
    )
    service_id = abeja_emulator.create_service(dep, version["version_id"], instance_number=instances)[
        "service_id"
    ]
    abeja_emulator.wait_for_status(dep, service_id, "READY")

    with ThreadPoolExecutor(requests_sent) as pool:
        answers = list(
            pool.map(
                lambda _: infer(abeja_emulator, service_id, dep=dep, data=b"x", headers=TEXT),
                range(requests_sent),
            )
        )
    assert [a.status_code for a in answers] == [200] * requests_sent  # the extra ones queued, none refused
    seen = [a.json()["seen"] for a in answers]
    pids = {a.json()["pid"] for a in answers}
    assert max(seen) <= instances
    assert len(pids) == instances
    metrics = abeja_emulator.metrics(service_id)
    assert metrics["max_in_flight"] == min(instances, requests_sent)
    assert metrics["served"] == requests_sent
