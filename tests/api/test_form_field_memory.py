"""Memory by part type: a form part without a filename is refused past
`SHEETFLOW_MAX_FIELD_BYTES` while it streams, never collected in memory whole.

Litestar keeps such a part in memory (file parts are spooled to disk); before the limit, one
request with a 1000 MB part named `junk` held gigabytes. Here the body is a stream that
counts what the service pulled from it: the 413 must come after the first chunks of a part
that would run to megabytes, for whichever name the part has, and before any project is
looked up (the project in the URL does not exist).
"""

from __future__ import annotations

import gc
import uuid

import pytest

from service.settings import Settings
from tests.api.conftest import SECRET

BOUNDARY = "fieldmemoryboundary"
CHUNK = b"x" * 65536
CHUNKS = 64
"""The big part: 4 MiB, in 64 KiB chunks, inside the route's body limit (4 files of 1 MiB)."""


@pytest.fixture
def settings(tmp_path):
    return Settings(data_dir=tmp_path, jwt_secret=SECRET, max_file_bytes=1 << 20, max_files=4)


def part(name: str, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    return f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()


class Counted:
    """A request body that counts the chunks the service has pulled from it."""

    def __init__(self, head: bytes, chunks: int, tail: bytes) -> None:
        self.head, self.chunks, self.tail = head, chunks, tail
        self.pulled = 0

    async def __aiter__(self):
        self.pulled += 1
        yield self.head
        for _ in range(self.chunks):
            self.pulled += 1
            yield CHUNK
        self.pulled += 1
        yield self.tail


async def post(client, auth, body: Counted):
    return await client.post(
        f"/projects/{uuid.uuid4()}/batches",
        content=body.__aiter__(),
        headers={**auth(), "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
    )


@pytest.mark.parametrize(
    ("name", "filename"),
    [("junk", None), ("mode", None), ("sheet", None), ("files", None), ("files", "")],
    ids=["made-up name", "mode", "sheet", "files without filename", "empty filename"],
)
async def test_a_big_part_without_a_filename_is_a_413_before_the_rest_is_read(
    client, auth, name, filename
):
    head = part("mode") + b"list_mode\r\n" + part(name, filename)
    body = Counted(head, CHUNKS, f"\r\n--{BOUNDARY}--\r\n".encode())

    response = await post(client, auth, body)

    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert (problem["limit"], problem["limitValue"]) == ("max_field_bytes", 4096)
    assert repr(name) in problem["detail"]
    # The head and the first chunk are enough to see the part is too big: nothing more is read.
    assert body.pulled <= 2, f"{body.pulled} of {CHUNKS + 2} chunks read"
    gc.collect()  # a spooled part left open would fail the suite with a ResourceWarning


async def test_a_field_at_the_limit_is_read_and_a_file_part_of_any_size_too(client, auth):
    # A `sheet` of exactly 4096 bytes and a 1 MiB file are read whole: the upload goes on, to
    # the project (which does not exist).
    head = part("mode") + b"list_mode\r\n" + part("sheet") + b"s" * 4096 + b"\r\n"
    body = Counted(head + part("files", "big.csv"), 16, f"\r\n--{BOUNDARY}--\r\n".encode())

    response = await post(client, auth, body)

    assert response.status_code == 404, response.text
    assert body.pulled == 16 + 2
