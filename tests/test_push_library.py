"""``Push`` as a library: in-process, a fake transport for the network, no observer."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import httpx
import pytest

from psykhe_cli.config import Secret, Settings
from psykhe_cli.errors import GuardRefused
from psykhe_cli.feeds import FeedSource
from psykhe_cli.ingestion import STATUS_COMPLETED
from psykhe_cli.push import Mode, PushRequest
from psykhe_cli.push.run import Push
from psykhe_cli.state import StateStore, Target
from tests.helpers import catalog, write_feed

BASE = "https://api.example.test"
KEY = "sk_test_library_key_0123456789"


class Server:
    """The API as a ``httpx.MockTransport`` handler: accepts each upload as the next id, and
    says each ingestion completed."""

    def __init__(self) -> None:
        self.uploads: list[tuple[str, bytes]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self.uploads.append((request.headers["x-psykhe-processing-mode"], request.read()))
            data = {"ingestion_id": 40 + len(self.uploads)}
            return httpx.Response(202, json={"errors": None, "meta": None, "data": data})
        ingestion_id = int(request.url.path.rstrip("/").rsplit("/", 1)[1])
        data = {"id": ingestion_id, "client_id": "c", "status": STATUS_COMPLETED}
        return httpx.Response(200, json={"errors": None, "meta": None, "data": data})


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        base_url=BASE,
        api_key=Secret(KEY),
        key_source="PSYKHE_API_KEY",
        config_path=tmp_path / "config.toml",
        state_dir=tmp_path / "state",
    )


def test_a_whole_push_runs_in_process_with_a_fake_transport(
    tmp_path: Path, settings: Settings
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(30))  # 10 products
    server = Server()
    request = PushRequest(
        sources=[FeedSource(str(feed))], mode=Mode.SOFT_REPLACE, yes=True, poll_interval=0.01
    )
    result = Push(request, settings, transport=httpx.MockTransport(server)).run()
    assert (result.ingestion_ids, result.status, result.products) == ([41], "completed", 10)
    ((mode, body),) = server.uploads
    assert mode == "soft_replace"
    assert gzip.decompress(body) == feed.read_bytes()
    assert result.bytes_sent == len(body)
    store = StateStore(settings.state_dir)
    target = Target.of(settings)
    (record,) = store.pushes(target)
    assert (record.ingestion_ids, record.status, record.exit_code) == ((41,), "completed", 0)
    syncs = store.full_syncs(target)
    assert syncs.completed is not None
    assert (syncs.completed.ingestion_id, syncs.completed.products) == (41, 10)

    # the guard works the same without a person: a shrunk catalog is refused, nothing sent
    small = write_feed(tmp_path / "small.jsonl", catalog(3))
    shrunk = PushRequest(sources=[FeedSource(str(small))], mode=Mode.SOFT_REPLACE, yes=True)
    with pytest.raises(GuardRefused) as refused:
        Push(shrunk, settings, transport=httpx.MockTransport(server)).run()
    assert refused.value.message.endswith(
        f"fewer than 50% of the 10, and 3 variants, fewer than 50% of the 30 of the last full "
        f"sync to {BASE} (ingestion 41, {syncs.completed.time}); nothing was sent"
    )
    assert len(server.uploads) == 1


def test_a_library_push_without_yes_is_refused_with_no_one_to_ask(
    tmp_path: Path, settings: Settings
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(3))
    server = Server()
    request = PushRequest(sources=[FeedSource(str(feed))], mode=Mode.SOFT_REPLACE)
    push = Push(request, settings, transport=httpx.MockTransport(server))
    with pytest.raises(GuardRefused, match="there is no terminal to ask on; nothing was sent"):
        push.run()
    assert server.uploads == []
    assert json.loads(json.dumps(push.result.to_json(7)))["mode"] == "soft_replace"
