"""Unit tests never touch the network: every socket is blocked for them. Every botocore session of
the run shares one loader of botocore's data files."""

from __future__ import annotations

import functools
from collections.abc import Iterator

import botocore.loaders
import botocore.session
import pytest
import pytest_socket


@pytest.fixture(autouse=True, scope="session")
def _one_botocore_loader() -> Iterator[None]:
    # Each embedded AWS (moto's mock_aws) starts with a new default boto3 session, whose loader would
    # parse endpoints.json and every service model again: a tenth of a second per test. The files do
    # not change during a run, and the loader only reads them, so one loader (its cache) serves all.
    shared = functools.cache(botocore.loaders.create_loader)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.session, "create_loader", shared)
        yield


@pytest.fixture(autouse=True)
def _no_network() -> Iterator[None]:
    pytest_socket.disable_socket(allow_unix_socket=True)
    yield
    pytest_socket.enable_socket()
