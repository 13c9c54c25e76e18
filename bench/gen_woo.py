"""Write a WooCommerce product export of N rows as CSV on stdout (deterministic seed).

    python bench/gen_woo.py 1000000 > /tmp/woo-1m.csv

Shaped as WooCommerce's Products > Export writes it, ordered by ID: the exporter's columns,
simple products (two in five), variable parents each followed by their variations (1-10,
Color and Size attributes), and the variations a shop adds to an old product later, which get
new IDs and so come far after their parent (one variable product in ten gets some): the
reader cannot forget a parent once its variations have passed. One product in twenty is
private (Published 0), a draft (-1) or hidden from the catalog; one in fifty is grouped.
HTML descriptions with newlines, "A > B" category paths, images joined with ", ". Rows average
~330 bytes.
"""

from __future__ import annotations

import csv
import random
import sys

HEADER = [
    "ID",
    "Type",
    "SKU",
    "GTIN, UPC, EAN, or ISBN",
    "Name",
    "Published",
    "Is featured?",
    "Visibility in catalog",
    "Short description",
    "Description",
    "Date sale price starts",
    "Date sale price ends",
    "Tax status",
    "Tax class",
    "In stock?",
    "Stock",
    "Low stock amount",
    "Backorders allowed?",
    "Sold individually?",
    "Weight (kg)",
    "Length (cm)",
    "Width (cm)",
    "Height (cm)",
    "Allow customer reviews?",
    "Purchase note",
    "Sale price",
    "Regular price",
    "Categories",
    "Tags",
    "Shipping class",
    "Images",
    "Download limit",
    "Download expiry days",
    "Parent",
    "Grouped products",
    "Upsells",
    "Cross-sells",
    "External URL",
    "Button text",
    "Position",
    "Brands",
    "Attribute 1 name",
    "Attribute 1 value(s)",
    "Attribute 1 visible",
    "Attribute 1 global",
    "Attribute 2 name",
    "Attribute 2 value(s)",
    "Attribute 2 visible",
    "Attribute 2 global",
]
BRANDS = ["Atelier Nord", "Maison Ourse", "Toteme", "Ganni", "Khaite", "Nanushka"]
CATEGORIES = [
    "Clothing > Hoodies",
    "Clothing > Tshirts",
    "Clothing > Accessories",
    "Decor, Music",
    "Clothing > Dresses, Sale",
]
NAMES = ["Hoodie", "Beanie", "Tee", "Scarf", "Sneaker", "Poster", "Slip Dress", "Album"]
COLORS = ["Red", "Blue", "Green", "Black", "Sand", "Olive"]
SIZES = ["XS", "S", "M", "L", "XL"]
WP = "https://shop.example.com/wp-content/uploads/2026/03/"
#: a variable product's variations added later come this many products after it, at most
LATE_SPAN = 200_000


class Export:
    """The rows written so far, the next ID, and the variations due later."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.next_id = 10
        #: product number -> the cells of the late variations to write when it comes (their
        #: IDs given then: a variation added later has a newer ID)
        self.late: dict[int, list[dict[str, str]]] = {}

    def row(self, **cells: str) -> list[str]:
        values = dict.fromkeys(HEADER, "")
        values.update({"ID": str(self.next_id), "Tax status": "taxable", "In stock?": "1"})
        values["Allow customer reviews?"] = "1"
        values.update({name.replace("_", " "): value for name, value in cells.items()})
        self.next_id += 1
        return [values[name] for name in HEADER]


def _shown(rng: random.Random) -> tuple[str, str]:
    """Published and Visibility in catalog: one product in twenty not shown."""
    if rng.random() >= 0.05:
        return "1", "visible"
    return rng.choice([("0", "visible"), ("-1", "visible"), ("1", "hidden")])


def product(export: Export, number: int) -> list[list[str]]:
    """The rows of product ``number`` (and the late variations due at it)."""
    rng = export.rng
    rows = [export.row(**cells) for cells in export.late.pop(number, [])]
    name = rng.choice(NAMES)
    sku = f"woo-{name.lower().replace(' ', '-')}-{number}"
    published, visibility = _shown(rng)
    images = ", ".join(f"{WP}{sku}-{n}.jpg" for n in range(1, rng.randint(2, 4)))
    common = {
        "Name": name,
        "Published": published,
        "Visibility_in_catalog": visibility,
        "Description": f"<p>{name} by the atelier.</p>\n<p>Made in Portugal.</p>",
        "Categories": rng.choice(CATEGORIES),
        "Tags": "knit, winter" if rng.random() < 0.5 else "",
        "Images": images,
        "Brands": rng.choice(BRANDS),
        "Weight_(kg)": "0.5",
    }
    kind = rng.random()
    if kind < 0.02:
        rows.append(export.row(Type="grouped", SKU=sku, Name=name, Published="1"))
        return rows
    price = str(rng.randint(10, 300))
    if kind < 0.42:
        color = rng.choice(COLORS)
        attributes = {"Attribute_1_name": "Color", "Attribute_1_value(s)": color}
        rows.append(export.row(Type="simple", SKU=sku, Regular_price=price, **common, **attributes))
        return rows
    colors, sizes = rng.sample(COLORS, rng.randint(1, 2)), rng.sample(SIZES, rng.randint(1, 5))
    parent_attributes = {
        "Attribute_1_name": "Color",
        "Attribute_1_value(s)": ", ".join(colors),
        "Attribute_2_name": "Size",
        "Attribute_2_value(s)": ", ".join(sizes),
    }
    rows.append(export.row(Type="variable", SKU=sku, **common, **parent_attributes))
    pairs = [(color, size) for color in colors for size in sizes]
    later = rng.random() < 0.1
    for position, (color, size) in enumerate(pairs, start=1):
        own_sku = f"{sku}-{color[:3].lower()}-{size.lower()}" if rng.random() < 0.8 else ""
        variation = {
            "Type": "variation",
            "SKU": own_sku,
            "Name": f"{name} - {color}, {size}",
            "Published": "1",
            "Regular_price": price,
            "Sale_price": str(int(price) - 5) if rng.random() < 0.2 else "",
            "Parent": sku,
            "Position": str(position),
            "Attribute_1_name": "Color",
            "Attribute_1_value(s)": color,
            "Attribute_2_name": "Size",
            "Attribute_2_value(s)": size,
        }
        if later and position == len(pairs) and len(pairs) > 1:
            due = number + rng.randint(1, LATE_SPAN)
            export.late.setdefault(due, []).append(variation)
        else:
            rows.append(export.row(**variation))
    return rows


def main() -> None:
    """Write the header and products until N data rows are written."""
    wanted = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    export = Export(random.Random(20261207))
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(HEADER)
    written, number = 0, 0
    while written < wanted:
        number += 1
        rows = product(export, number)[: wanted - written]
        writer.writerows(rows)
        written += len(rows)


if __name__ == "__main__":
    main()
