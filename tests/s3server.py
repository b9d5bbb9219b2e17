"""A private S3 server on loopback for the tests of the S3 file store: moto's server mode.

`S3Server` runs moto's real HTTP server (ThreadedMotoServer) in this process on a free port of
127.0.0.1; boto3 — in the test and in `mailbot` child processes — talks to it over HTTP as to
MinIO or AWS. Buckets are made per test (`new_bucket`), so tests never see each other's files.
`refusing_keys` turns on moto's signature checks, under which the test's made-up keys are
refused as a real server refuses unknown ones.
"""

from __future__ import annotations

import itertools
import json
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

ACCESS_KEY = "mailbot-test-key"
SECRET_KEY = "mailbot-test-secret"  # moto accepts any keys until `refusing_keys`
# What a mailbot child process and this process need to reach the server and nothing else:
# no ~/.aws of the machine, no instance-metadata lookup (that would leave the loopback).
AWS_ENVIRONMENT = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                   "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/nonexistent",
                   "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}


class S3Server:
    def __init__(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._numbers = itertools.count(1)
        self.endpoint = ""

    def start(self) -> None:
        self._server.start()  # returns once the socket listens
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"

    def close(self) -> None:
        self._server.stop()

    def client(self) -> Any:
        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)

    def new_bucket(self) -> str:
        name = f"mailbot-test-{next(self._numbers)}"
        self.client().create_bucket(Bucket=name)
        return name

    def objects(self, bucket: str) -> dict[str, bytes]:
        """Every object of `bucket`: {name: bytes}."""
        client = self.client()
        listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
        return {item["Key"]: client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                for item in listed}

    @contextmanager
    def refusing_keys(self) -> Iterator[None]:
        """Signatures checked (moto's IAM emulation): keys it did not issue are refused."""
        self._reset_auth("0")
        try:
            yield
        finally:
            self._reset_auth("inf")

    def _reset_auth(self, count: str) -> None:
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset-auth",
                                         data=count.encode(), method="POST",
                                         headers={"Content-Type": "text/plain"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert json.load(answer)["status"] == "ok"
