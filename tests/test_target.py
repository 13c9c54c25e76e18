"""Target: one canonical identity however a base URL is spelled, by syntax, never by DNS."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from psykhe_cli.config import normalize_base_url
from psykhe_cli.target import Target, canonical_base_url, canonical_host, canonical_path

FP = "0123456789abcdef"


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
        ("http://127.0.0.1:8080/.", "http://127.0.0.1:8080"),
        ("http://127.0.0.1:8080//", "http://127.0.0.1:8080"),
        ("http://127.0.0.1:8080/a/../", "http://127.0.0.1:8080"),
        ("http://127.0.0.1:8080/a//b/./c/", "http://127.0.0.1:8080/a/b/c"),
        ("http://127.0.0.1:8080/%7Eapi/%2f", "http://127.0.0.1:8080/~api/%2F"),
        ("HTTP://LocalHost.:8080", "http://localhost:8080"),
        ("http://[::ffff:127.0.0.1]:8080", "http://127.0.0.1:8080"),
        ("http://[::FFFF:7f00:1]:8080", "http://127.0.0.1:8080"),
        ("http://[0:0::1]:8080/", "http://[::1]:8080"),
        ("http://127.1:8080", "http://127.0.0.1:8080"),
        ("http://0x7f.0.0.1:8080", "http://127.0.0.1:8080"),
        ("https://API.psykhe.dev:443/", "https://api.psykhe.dev"),
        ("http://localhost:80/v1/..", "http://localhost"),
    ],
)
def test_canonical_base_url_gives_one_spelling(spelling: str, canonical: str) -> None:
    assert canonical_base_url(spelling) == canonical
    assert Target(base_url=spelling, key_fingerprint=FP).name == f"{canonical} key:{FP}"


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("http://localhost:8080", "http://127.0.0.1:8080"),
        ("https://a.example", "https://b.example"),
        ("https://a.example", "http://a.example"),
        ("https://a.example:8443", "https://a.example"),
        ("https://a.example/v2", "https://a.example"),
        ("https://a.example/V1", "https://a.example/v1"),  # paths keep their case
    ],
)
def test_two_endpoints_stay_two_targets(one: str, other: str) -> None:
    assert canonical_base_url(one) != canonical_base_url(other)


def test_a_host_name_is_never_resolved() -> None:
    assert canonical_host("no-such-host.invalid.") == "no-such-host.invalid"
    assert canonical_host("1.2.3.4.example") == "1.2.3.4.example"


def test_a_profile_is_the_target_whatever_the_key() -> None:
    one = Target(base_url="https://a.example/", key_fingerprint="aaaa", profile="shop")
    rotated = Target(base_url="https://A.example", key_fingerprint="bbbb", profile="shop")
    assert one.name == rotated.name == "https://a.example profile:shop"
    assert one.slug == rotated.slug
    assert one.key_name == "https://a.example key:aaaa"
    other = Target(base_url="https://a.example", key_fingerprint="aaaa", profile="other")
    assert other.name != one.name


def test_without_a_profile_the_key_is_part_of_the_target() -> None:
    one = Target(base_url="https://a.example", key_fingerprint="aaaa")
    other = Target(base_url="https://a.example", key_fingerprint="bbbb")
    assert one.name != other.name and one.slug != other.slug
    assert "fingerprint aaaa" in one.nothing_known


def test_an_unparsable_url_is_kept_as_it_is() -> None:
    assert canonical_base_url("http://[::1") == "http://[::1"
    assert canonical_base_url("no scheme") == "no scheme"


_segment = st.sampled_from(["", ".", "..", "a", "B", "%7E", "v1", "x.y"])
_host = st.sampled_from(
    ["127.0.0.1", "localhost", "LOCALHOST.", "[::1]", "[::ffff:127.0.0.1]", "api.example"]
)


@given(
    scheme=st.sampled_from(["http", "HTTP", "https"]),
    host=_host,
    port=st.sampled_from(["", ":80", ":443", ":8080"]),
    segments=st.lists(_segment, max_size=6),
    trailing=st.booleans(),
)
def test_canonical_form_is_a_fixed_point_and_a_valid_base_url(
    scheme: str, host: str, port: str, segments: list[str], trailing: bool
) -> None:
    url = (
        f"{scheme}://{host}{port}" + "".join(f"/{s}" for s in segments) + ("/" if trailing else "")
    )
    canonical = canonical_base_url(url)
    assert canonical_base_url(canonical) == canonical
    assert not canonical.endswith("/")
    assert "/./" not in canonical + "/" and "/../" not in canonical + "/"
    if scheme.lower() == "https" or host != "api.example":
        assert canonical_base_url(normalize_base_url(url)) == canonical


@given(st.lists(_segment, max_size=8))
def test_canonical_path_never_climbs_above_the_root(segments: list[str]) -> None:
    path = canonical_path("/" + "/".join(segments))
    assert path == "" or path.startswith("/")
    assert all(part not in ("", ".", "..") for part in path.split("/")[1:])
