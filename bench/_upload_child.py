"""Fresh process: peak memory of sending one large file through request_service.

``--client ours`` uses airflow_provider_abeja's APIClient, ``sdk`` ABEJA's (run it with the SDK
venv's python), ``bare`` a plain requests.Session; ``control`` is the bare session sent the file
read whole into memory, to show that the measurement does see a body held in memory.

After the client is built and has made one small call, the baseline is the current RSS and
the kernel's peak (VmHWM) is reset through /proc/self/clear_refs; after the upload, the new
peak minus the baseline is what the upload cost.

Usage: python _upload_child.py --client ours|sdk|bare --port PORT --file PATH -> one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import time

ORG, DEP, SER = "1234567890123", "9999999999999", "ser-0123456789abcdef"


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--client", choices=["ours", "sdk", "bare", "control"], required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--file", required=True)
    args = parser.parse_args()

    if args.client == "ours":
        from airflow_provider_abeja.client import APIClient

        client = APIClient({"auth_token": "bench-token"}, api_url=f"http://127.0.0.1:{args.port}")

        def send(data: object) -> int:
            return client.request_service(
                ORG, DEP, SER, data=data, content_type="application/octet-stream"
            ).status_code

    elif args.client == "sdk":
        os.environ["ABEJA_API_URL"] = f"http://localhost:{args.port}"
        real = socket.getaddrinfo
        socket.getaddrinfo = lambda host, *a, **k: real(  # type: ignore[assignment]
            "127.0.0.1" if isinstance(host, str) and host.endswith(".localhost") else host, *a, **k
        )
        from abeja.services import APIClient as SdkClient

        sdk = SdkClient(credential={"auth_token": "bench-token"})

        def send(data: object) -> int:
            return sdk.request_service(
                ORG, DEP, SER, data=data, content_type="application/octet-stream"
            ).status_code

    else:
        import requests

        session = requests.Session()
        url = f"http://127.0.0.1:{args.port}/_inference/{ORG}/deployments/{DEP}/services/{SER}"

        def send(data: object) -> int:
            response = session.post(url, data=data, headers={"Content-Type": "application/octet-stream"})
            return response.status_code

    assert send(b"warm-up") == 200
    baseline = _status_kib("VmRSS")
    exact = _reset_peak()
    if not exact:
        baseline = max(baseline, _status_kib("VmHWM"))
    started = time.perf_counter()
    with open(args.file, "rb") as handle:
        status = send(handle.read() if args.client == "control" else handle)
    elapsed = time.perf_counter() - started
    peak = _status_kib("VmHWM")
    print(
        json.dumps(
            {
                "client": args.client,
                "status": status,
                "baseline_kib": baseline,
                "peak_kib": peak,
                "above_baseline_kib": peak - baseline,
                "seconds": elapsed,
                "peak_reset": exact,
            }
        )
    )


if __name__ == "__main__":
    main()
