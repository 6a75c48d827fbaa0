"""The Datalake: channels under the organization, files at the API root, pre-signed URLs, paging."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests

from abeja_emulator import EmulatorHandle, EmulatorProcess

from ._datalake import files, new_channel, ok, root, upload
from ._util import api

pytestmark = pytest.mark.emulator
FILE_ID = r"^\d{8}T\d{6}-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    state = tmp_path_factory.mktemp("datalake-state")
    with EmulatorProcess(ready_delay=0.0, sample=False, state_dir=state) as process:
        yield process


@pytest.fixture
def handle(emulator: EmulatorProcess) -> EmulatorHandle:
    return emulator.handle


def test_channel_create_get_list_patch_archive(handle):
    created = ok(api(handle, "POST", "channels", json={"name": "images", "description": "d"}))
    channel = created["channel"]
    assert created["organization_id"] == handle.organization_id
    assert {"organization_name", "created_at", "updated_at"} <= set(created)
    assert channel["storage_type"] == "datalake"  # the CLI sends no storage_type
    assert channel["archived"] is False
    assert channel["channel_id"].isdigit()
    assert len(channel["channel_id"]) == 13
    assert channel["created_at"].endswith("Z")
    assert "." not in channel["created_at"]
    cid = channel["channel_id"]
    assert ok(api(handle, "GET", f"channels/{cid}"))["channel"]["name"] == "images"
    patched = ok(api(handle, "PATCH", f"channels/{cid}", json={"description": "new"}))["channel"]
    assert (patched["name"], patched["description"]) == ("images", "new")
    archived = ok(api(handle, "POST", f"channels/{cid}/archive"))["channel"]
    assert archived["archived"] is True
    assert archived["security_method"] == "organization"
    listed = ok(api(handle, "GET", "channels", params={"filter_archived": "exclude_archived", "limit": 1000}))
    assert cid not in [c["channel_id"] for c in listed["channels"]]
    assert {"limit", "offset", "has_next"} <= set(listed)
    listed = ok(api(handle, "GET", "channels", params={"filter_archived": "include_archived"}))
    assert cid in [c["channel_id"] for c in listed["channels"]]
    ok(api(handle, "POST", f"channels/{cid}/unarchive"))
    assert api(handle, "POST", "channels", json={"storage_type": "s3"}).status_code == 400
    assert api(handle, "GET", "channels", params={"filter_archived": "yes"}).status_code == 400
    assert api(handle, "GET", "channels/1234").status_code == 404


def test_upload_list_info_download_delete(handle):
    cid = new_channel(handle)
    name = "%E6%97%A5%E6%9C%AC%E8%AA%9E.json"  # the SDK percent-encodes: stored and answered verbatim
    answer = upload(handle, cid, b'{"a": 1}', metadata={"filename": name}, lifetime="1week")
    assert set(answer) == {"file_id", "content_type", "metadata", "uploaded_at", "lifetime"}
    assert answer["lifetime"] == "1week"
    assert answer["metadata"] == {
        "x-abeja-meta-filename": name,
        "x-abeja-sys-meta-organizationid": handle.organization_id,
    }
    file_id = answer["file_id"]
    assert re.fullmatch(FILE_ID, file_id)
    stamp = file_id[:15]
    assert answer["uploaded_at"] == (
        f"{stamp[0:4]}-{stamp[4:6]}-{stamp[6:8]}T{stamp[9:11]}:{stamp[11:13]}:{stamp[13:15]}+00:00"
    )
    info = ok(root(handle, "GET", f"channels/{cid}/{file_id}"))
    assert info["download_uri"] == info["download_url"]
    assert {"file_id", "content_type", "metadata", "uploaded_at", "url_expires_on", "lifetime"} <= set(info)
    expires = urlsplit(info["download_uri"]).query
    assert "Expires=" in expires
    assert "Signature=" in expires
    fetched = requests.get(info["download_uri"], timeout=10)  # no credential
    assert (fetched.status_code, fetched.content) == (200, b'{"a": 1}')
    assert fetched.headers["content-type"] == "application/json"
    listed = files(handle, cid)
    assert [f["file_id"] for f in listed] == [file_id]
    deleted = ok(root(handle, "DELETE", f"channels/{cid}/{file_id}"))
    assert deleted == {"message": f"deleted file ({file_id})"}
    assert root(handle, "GET", f"channels/{cid}/{file_id}").status_code == 404
    assert requests.get(info["download_uri"], timeout=10).status_code == 404
    assert files(handle, cid) == []


def test_file_routes_check_credentials_and_organization(handle):
    cid = new_channel(handle)
    assert root(handle, "GET", f"channels/{cid}", auth=None).status_code == 401
    assert root(handle, "GET", f"channels/{cid}", auth=("user-1111111111111", "wrong")).status_code == 401
    assert root(handle, "GET", "channels/4444444444444").status_code == 404
    assert root(handle, "GET", "channels/not-a-channel").status_code == 400


def test_presigned_url_refuses_a_changed_signature_and_an_expired_url(handle):
    cid = new_channel(handle)
    file_id = upload(handle, cid)["file_id"]
    url = ok(root(handle, "GET", f"channels/{cid}/{file_id}"))["download_uri"]
    assert requests.get(url.replace("Signature=", "Signature=0"), timeout=10).status_code == 403
    assert requests.get(url.split("?")[0], timeout=10).status_code == 403
    handle.configure(datalake_url_lifetime=0)
    try:
        expired = ok(root(handle, "GET", f"channels/{cid}/{file_id}"))["download_uri"]
        assert requests.get(expired, timeout=10).status_code == 403  # Expires is a whole second, now or past
    finally:
        handle.configure(datalake_url_lifetime=3600)
    assert requests.get(url, timeout=10).status_code == 200


def test_lifetime_and_conflict_target(handle):
    cid = new_channel(handle)
    answer = root(handle, "POST", f"channels/{cid}/upload", data=b"x", params={"lifetime": "2days"})
    assert answer.status_code == 400
    upload(handle, cid, b"1", "text/plain", {"filename": "same.txt"}, conflict_target="filename")
    same = {"headers": {"x-abeja-meta-filename": "same.txt"}, "params": {"conflict_target": "filename"}}
    assert root(handle, "POST", f"channels/{cid}/upload", data=b"2", **same).status_code == 409
    upload(handle, cid, b"3", "text/plain", {"filename": "same.txt"})  # without conflict_target: kept
    assert len(files(handle, cid)) == 2


def test_metadata_and_lifetime_updates(handle):
    cid = new_channel(handle)
    file_id = upload(handle, cid, metadata={"a": "1", "b": "2"})["file_id"]
    body = {"x-abeja-meta-a": "9"}
    info = ok(root(handle, "PUT", f"channels/{cid}/{file_id}/metadata", json=body))
    assert info["metadata"] == {
        "x-abeja-meta-a": "9",
        "x-abeja-sys-meta-organizationid": handle.organization_id,
    }
    changed = ok(root(handle, "PUT", f"channels/{cid}/{file_id}/lifetime", json={"lifetime": "1day"}))
    assert changed == {"channel_id": cid, "file_id": file_id, "lifetime": "1day"}
    assert (
        root(handle, "PUT", f"channels/{cid}/{file_id}/lifetime", json={"lifetime": "x"}).status_code == 400
    )
    assert (
        root(handle, "PUT", f"channels/{cid}/{file_id}/metadata", json={"x-abeja-meta-a": 1}).status_code
        == 400
    )


def test_two_step_upload(handle):
    cid = new_channel(handle)
    headers = {"Content-Type": "text/csv", "x-abeja-meta-filename": "a.csv"}
    started = ok(root(handle, "POST", f"channels/{cid}", headers=headers))
    assert started["uploaded_at"] is None
    assert {"file_id", "upload_url", "url_expires_on", "metadata", "content_type"} <= set(started)
    assert files(handle, cid) == []  # no bytes yet
    assert requests.put(started["upload_url"], data=b"a,b\n", timeout=10).status_code == 200
    assert requests.put(started["upload_url"], data=b"again", timeout=10).status_code == 409
    listed = files(handle, cid)
    assert [(f["file_id"], f["content_type"]) for f in listed] == [(started["file_id"], "text/csv")]
    assert requests.get(listed[0]["download_uri"], timeout=10).content == b"a,b\n"


def test_list_paging_sort_query_and_days(handle):
    cid = new_channel(handle)
    ids = [
        upload(handle, cid, metadata={"filename": f"f{i}.json", "kind": "odd" if i % 2 else "even"})[
            "file_id"
        ]
        for i in range(5)
    ]
    seen, params = [], {"items_per_page": 2}
    while True:
        page = ok(root(handle, "GET", f"channels/{cid}", params=params))
        seen += [f["file_id"] for f in page["files"]]
        if not page["next_page_token"]:
            break
        params = {"next_page_token": page["next_page_token"]}  # sent alone: it carries the filters
    assert seen == ids
    assert [f["file_id"] for f in files(handle, cid, sort="-uploaded_at")] == ids[::-1]
    assert [f["file_id"] for f in files(handle, cid, q="x-abeja-meta-kind:odd")] == [ids[1], ids[3]]
    assert [f["file_id"] for f in files(handle, cid, q="x-abeja-meta-filename:f4")] == [ids[4]]
    today = ids[0][:8]
    assert len(files(handle, cid, start=today, end=today)) == 5
    assert files(handle, cid, start="20000101", end="20000102") == []
    assert len(files(handle, cid, start="20000101", end="29991231", timezone="Asia/Tokyo")) == 5
    for bad in ({"start": "2020-01-01"}, {"sort": "size"}, {"items_per_page": 0}, {"next_page_token": "x"}):
        assert root(handle, "GET", f"channels/{cid}", params=bad).status_code == 400, bad
    assert ok(root(handle, "GET", f"channels/{cid}/"))["files"]  # the docstrings' trailing slash


def test_channels_and_files_survive_a_restart(emulator, handle):
    cid = new_channel(handle, "kept")
    file_id = upload(handle, cid, b"kept bytes", "text/plain")["file_id"]
    emulator.stop()
    emulator.start()
    handle = emulator.handle
    assert ok(api(handle, "GET", f"channels/{cid}"))["channel"]["name"] == "kept"
    info = ok(root(handle, "GET", f"channels/{cid}/{file_id}"))
    assert requests.get(info["download_uri"], timeout=10).content == b"kept bytes"
