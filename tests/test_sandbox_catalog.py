"""The sandbox's catalog: insert and soft_replace semantics, failures, persistence."""

from __future__ import annotations

import gzip
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from psykhe_cli.sandbox import server, store
from psykhe_cli.sandbox.inspect import SandboxHandle
from tests.test_sandbox_api import client, line, post


def keys(products: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(p["product_identifier"], p["variant_identifier"]) for p in products]


def ingest(sandbox: SandboxHandle, body: bytes, mode: str = "insert") -> dict[str, Any]:
    response = post(sandbox, body, mode=mode)
    assert response.status_code == 202, response.text
    return sandbox.wait_for(response.json()["data"]["ingestion_id"])


def test_insert_upserts_and_leaves_other_products_untouched(sandbox: SandboxHandle) -> None:
    ingest(sandbox, line("A", "A1", price=1) + line("B", "B1"))
    done = ingest(sandbox, line("A", "A1", price=2) + line("C", "C1"))
    assert done["product_metrics"] == {
        "lines": 2,
        "upserted": 2,
        "deactivated": 0,
        "failed_lines": 0,
    }
    products = sandbox.products()
    assert keys(products) == [("A", "A1"), ("B", "B1"), ("C", "C1")]
    assert [p["active"] for p in products] == [True, True, True]
    assert products[0]["data"] == {
        "product_identifier": "A",
        "variant_identifier": "A1",
        "price": 2,
    }
    assert [p["ingestion_id"] for p in products] == [2, 1, 2]


def test_variants_of_one_product_are_separate_entries(sandbox: SandboxHandle) -> None:
    ingest(sandbox, line("A", "A-S") + line("A", "A-M") + line("B"))
    assert keys(sandbox.products()) == [("A", "A-M"), ("A", "A-S"), ("B", "")]


def test_soft_replace_deactivates_every_other_active_product_of_the_client(
    sandbox: SandboxHandle,
) -> None:
    ingest(sandbox, line("A", "A1") + line("B", "B1") + line("C", "C1"))
    done = ingest(sandbox, line("B", "B1", price=9) + line("D", "D1"), mode="soft_replace")
    assert done["status"] == 4
    assert done["product_metrics"] == {
        "lines": 2,
        "upserted": 2,
        "deactivated": 2,
        "failed_lines": 0,
    }
    assert keys(sandbox.products(active=True)) == [("B", "B1"), ("D", "D1")]
    assert keys(sandbox.products(active=False)) == [("A", "A1"), ("C", "C1")]
    inactive = sandbox.products(active=False)[0]
    assert inactive["data"] == {"product_identifier": "A", "variant_identifier": "A1"}  # kept


def test_insert_reactivates_an_inactive_product(sandbox: SandboxHandle) -> None:
    ingest(sandbox, line("A", "A1") + line("B", "B1"))
    ingest(sandbox, line("B", "B1"), mode="soft_replace")
    ingest(sandbox, line("A", "A1"))
    assert keys(sandbox.products(active=True)) == [("A", "A1"), ("B", "B1")]


def test_soft_replace_only_touches_its_own_client(sandbox_factory: Any) -> None:
    shared = sandbox_factory(keys={"sk_one": "one", "sk_two": "two"})
    one = SandboxHandle(shared.base_url, api_key="sk_one", client_id="one")
    two = SandboxHandle(shared.base_url, api_key="sk_two", client_id="two")
    ingest(one, line("A"))
    ingest(two, line("Z"), mode="soft_replace")
    assert [(p["client_id"], p["product_identifier"], p["active"]) for p in shared.products()] == [
        ("one", "A", True),
        ("two", "Z", True),
    ]


def test_a_bad_line_fails_the_whole_ingestion_and_changes_nothing(sandbox: SandboxHandle) -> None:
    ingest(sandbox, line("A", "A1", price=1) + line("B", "B1"))
    before = sandbox.products()
    body = (
        line("A", "A1", price=2)
        + b"\n"
        + b'{"operation":"insert","product_data":{"title":"x"}}\n'
        + b"[1]\n"
    )
    done = ingest(sandbox, body, mode="soft_replace")
    assert done["status"] == 5
    assert done["product_metrics"] == {
        "lines": 3,
        "upserted": 0,
        "deactivated": 0,
        "failed_lines": 2,
    }
    assert done["error"] == {
        "code": "invalid_line",
        "message": "line 3: product_data.product_identifier is missing or not a non-empty string",
        "line": 3,
    }
    assert sandbox.products() == before


def test_each_kind_of_bad_line_is_named(sandbox: SandboxHandle) -> None:
    bad = [
        (b"not json\n", "not valid JSON"),
        (b"[1, 2]\n", "not a JSON object"),
        (b'{"product_data": "x"}\n', "product_data is missing or not an object"),
        (b'{"product_data": {"product_identifier": ""}}\n', "product_identifier is missing"),
        (
            b'{"product_data": {"product_identifier": "A", "variant_identifier": 5}}\n',
            "not a string",
        ),
    ]
    for number, (body, reason) in enumerate(bad, start=1):
        done = ingest(sandbox, body)
        assert (done["id"], done["status"], done["error"]["line"]) == (number, 5, 1)
        assert reason in done["error"]["message"]


def test_forced_failure_changes_nothing(sandbox: SandboxHandle) -> None:
    ingest(sandbox, line("A") + line("B"))
    sandbox.set_faults(ingestion={"outcome": "failed"})
    done = ingest(sandbox, line("C"), mode="soft_replace")
    assert (done["status"], done["error"]["code"]) == (5, "forced_failure")
    assert done["product_metrics"] == {
        "lines": 1,
        "upserted": 0,
        "deactivated": 0,
        "failed_lines": 0,
    }
    assert keys(sandbox.products(active=True)) == [("A", ""), ("B", "")]


def test_cut_short_gzip_soft_replace_changes_nothing(sandbox: SandboxHandle) -> None:
    ingest(sandbox, line("A") + line("B"))
    truncated = gzip.compress(line("C") * 1000)[:-100]
    response = post(sandbox, truncated, mode="soft_replace", **{"Content-Encoding": "gzip"})
    assert response.status_code == 400
    assert [i["id"] for i in sandbox.ingestions()] == [1]
    assert keys(sandbox.products(active=True)) == [("A", ""), ("B", "")]


def test_cut_short_connection_soft_replace_changes_nothing(sandbox: SandboxHandle) -> None:
    ingest(sandbox, line("A") + line("B"))
    sandbox.set_faults(drop={"after_bytes": 1000})
    body = line("C") * 10_000
    with client() as http:
        try:
            http.post(sandbox.ingestion_url, content=body, headers=sandbox.headers("soft_replace"))
        except httpx.TransportError:
            pass
        else:
            raise AssertionError("the connection was not dropped")
    [_, cut] = sandbox.requests()
    assert (cut["complete"], cut["status"], cut["ingestion_id"]) == (False, None, None)
    assert [i["id"] for i in sandbox.ingestions()] == [1]
    assert keys(sandbox.products(active=True)) == [("A", ""), ("B", "")]


def test_db_keeps_state_across_a_restart(sandbox_factory: Any, tmp_path: Path) -> None:
    db = tmp_path / "sandbox.db"
    first = sandbox_factory(db_path=db)
    ingest(first, line("A") + line("B"))
    sandbox_factory.stop(first)
    second = sandbox_factory(db_path=db)
    assert keys(second.products()) == [("A", ""), ("B", "")]
    assert second.ingestion(1)["status"] == 4
    assert ingest(second, line("C"))["id"] == 2


def test_an_unfinished_ingestion_is_processed_after_a_restart(
    sandbox_factory: Any, tmp_path: Path
) -> None:
    db = tmp_path / "sandbox.db"
    slow = sandbox_factory(db_path=db, processing_delay=30)
    assert post(slow, line("A")).status_code == 202
    sandbox_factory.stop(slow)
    again = sandbox_factory(db_path=db)
    assert again.wait_for(1)["status"] == 4
    assert keys(again.products()) == [("A", "")]


def test_a_line_over_the_line_limit_fails_the_ingestion(
    sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "MAX_LINE_BYTES", 200)
    done = ingest(sandbox, line("A") + line("B", pad="x" * 500) + line("C"))
    assert (done["status"], done["error"]["line"]) == (5, 2)
    assert done["error"]["message"] == "line 2: longer than 200 bytes"
    assert done["product_metrics"] == {
        "lines": 3,
        "upserted": 0,
        "deactivated": 0,
        "failed_lines": 1,
    }


def test_stopping_during_an_upload_cuts_it_and_creates_nothing(
    sandbox_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server, "GRACEFUL_SHUTDOWN", 1)
    db = tmp_path / "s.db"
    slow = sandbox_factory(db_path=db, faults=({"slow_read": {"bytes_per_second": 1000}},))
    failures: list[Exception] = []

    def upload() -> None:
        with client() as http:
            try:
                http.post(slow.ingestion_url, content=line("A") * 10_000, headers=slow.headers())
            except httpx.TransportError as exc:
                failures.append(exc)

    uploader = threading.Thread(target=upload)
    uploader.start()
    while not slow.requests():
        time.sleep(0.01)
    sandbox_factory.stop(slow)
    uploader.join()
    assert len(failures) == 1
    again = sandbox_factory(db_path=db)
    assert (again.ingestions(), again.products()) == ([], [])
    assert list((tmp_path / "s.db.spool").iterdir()) == []
