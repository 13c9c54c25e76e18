"""The script a user would write instead of psykhe: each <item> of a Merchant Center RSS feed
to a JSON line with the standard library, no validation, no mapping (the yardstick of
bench_formats.py ``--format gmc``).

    python bench/iterparse_gmc.py feed.xml > items.jsonl
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET


def main() -> None:
    """Write each item's children as one JSON object a line."""
    out = sys.stdout
    for _, element in ET.iterparse(sys.argv[1]):
        if element.tag == "item":
            item = {child.tag.rpartition("}")[2]: child.text for child in element}
            out.write(json.dumps(item) + "\n")
            element.clear()


if __name__ == "__main__":
    main()
