"""HTML entities in the text of a feed psykhe sends as written (JSON Lines, a generic CSV):
one grouped warning with the count and the first lines, the text left as it is; shop exports
are decoded when read, so they have none. The CLI runs as a subprocess."""

from __future__ import annotations

from pathlib import Path

import orjson

from psykhe_cli.sandbox.inspect import SandboxHandle
from tests.helpers import isolated_env, product, psykhe, write_feed

AMP = (
    "warning[html_entities]: title holds HTML entities such as '&amp;', sent as written: "
    "write the characters themselves ('&amp;' is '&')"
)


def test_entities_in_json_lines_titles_are_one_grouped_warning(tmp_path: Path) -> None:
    items = [product(f"P{i}") | {"title": f"Beanie &amp; Scarf {i}"} for i in range(1000)]
    items[1]["title"] = "R&D notes; H&M"  # ampersands that are no entity
    feed = write_feed(tmp_path / "feed.jsonl", items)
    out = psykhe("validate", str(feed), env=isolated_env(tmp_path / "home"))
    assert out.returncode == 0, out.stderr
    assert out.stderr.splitlines() == [
        f"{feed}:1: {AMP} (product_identifier=P0)",
        f"{feed}:3: {AMP} (product_identifier=P2)",
        f"{feed}:4: {AMP} (product_identifier=P3)",
        f"{feed}: warning[html_entities] × 999: lines 1, 3, 4, … (see --json for all)",
    ]
    assert "  html_entities: 999\n" in out.stdout


def test_entities_in_csv_text_fields_are_named_and_the_text_sent_as_written(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = tmp_path / "feed.csv"
    feed.write_text(
        "product_identifier,variant_identifier,title,images,price,color,categories\n"
        "A,A-1,Tee &#8211; Basic,https://a.example/a.jpg?w=1&amp;h=2,3,Red &amp; Blue,Tops\n"
    )
    out = psykhe("validate", str(feed), "--json", env=env)
    assert out.returncode == 0, out.stderr
    assert [(p["line"], p["code"], p["message"]) for p in orjson.loads(out.stdout)["problems"]] == [
        (
            2,
            "html_entities",
            "title, color hold HTML entities such as '&#8211;', sent as written: write the "
            "characters themselves ('&#8211;' is '–')",
        )
    ]
    pushed = psykhe("push", str(feed), "--json", "--poll-interval", "0.05", env=env)
    assert pushed.returncode == 0, pushed.stderr
    (stored,) = sandbox.products(active=True)
    assert (stored["data"]["title"], stored["data"]["color"]) == (
        "Tee &#8211; Basic",
        "Red &amp; Blue",
    )


def test_a_shop_export_decoded_when_read_has_no_entity_warning(
    tmp_path: Path, env: dict[str, str]
) -> None:
    feed = tmp_path / "woo.csv"
    feed.write_text(
        "ID,Type,SKU,Name,Published,Visibility in catalog,Regular price,Images\n"
        "10,simple,cap,Beanie &amp; Scarf Set,1,visible,20,https://a.example/c.jpg\n"
    )
    out = psykhe("validate", str(feed), "--format", "woocommerce", "--json", env=env)
    assert out.returncode == 0, out.stderr
    assert orjson.loads(out.stdout)["problems"] == []
