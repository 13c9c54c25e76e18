"""The one module that makes text safe for a terminal line, in its two forms."""

from __future__ import annotations

from psykhe_cli.printable import clipped, printable


def test_printable_escapes_every_control_character_and_keeps_the_rest() -> None:
    assert printable("a\x1b[31mb\nc\u202ed é🙂") == "a\\x1b[31mb\\nc\\u202ed é🙂"


def test_clipped_squeezes_server_text_into_a_bounded_line() -> None:
    assert clipped("  bad\r\nthing\x00 ", 40) == "bad  thing"
    assert clipped("x" * 50, 10) == "x" * 9 + "…"
