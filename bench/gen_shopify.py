"""Write a Shopify products export of N rows as CSV on stdout (deterministic seed).

    python bench/gen_shopify.py 1000000 > /tmp/shopify-1m.csv

Shaped as Shopify exports it: the columns of Products > Export, a product's rows together,
product cells on its first row only, 1-8 variants (Color and Size options, in either order,
some without a SKU), images past the variants on image-only rows, HTML bodies with newlines,
and one product in twenty a draft or archived. Rows average ~280 bytes.
"""

from __future__ import annotations

import csv
import random
import sys

HEADER = [
    "Handle",
    "Title",
    "Body (HTML)",
    "Vendor",
    "Product Category",
    "Type",
    "Tags",
    "Published",
    "Option1 Name",
    "Option1 Value",
    "Option1 Linked To",
    "Option2 Name",
    "Option2 Value",
    "Option2 Linked To",
    "Option3 Name",
    "Option3 Value",
    "Option3 Linked To",
    "Variant SKU",
    "Variant Grams",
    "Variant Inventory Tracker",
    "Variant Inventory Qty",
    "Variant Inventory Policy",
    "Variant Fulfillment Service",
    "Variant Price",
    "Variant Compare At Price",
    "Variant Requires Shipping",
    "Variant Taxable",
    "Variant Barcode",
    "Image Src",
    "Image Position",
    "Image Alt Text",
    "Gift Card",
    "SEO Title",
    "SEO Description",
    "Google Shopping / Google Product Category",
    "Variant Image",
    "Variant Weight Unit",
    "Variant Tax Code",
    "Cost per item",
    "Status",
]
VENDORS = ["Atelier Nord", "Maison Ourse", "Toteme", "Ganni", "Khaite", "Nanushka", "Byredo"]
CATEGORIES = {
    "Apparel & Accessories > Clothing > Dresses": ("Dresses", ["Slip Dress", "Midi Dress"]),
    "Apparel & Accessories > Clothing > Shirts & Tops": ("Shirts", ["Linen Shirt", "Poplin Top"]),
    "Apparel & Accessories > Clothing Accessories > Hats": ("Hats", ["Merino Beanie", "Cap"]),
    "Apparel & Accessories > Shoes": ("Shoes", ["Leather Loafer", "Suede Boot"]),
}
COLORS = ["Black", "Ecru", "Navy", "Olive", "Red", "Sand"]
SIZES = ["XS", "S", "M", "L", "XL"]
CDN = "https://cdn.shopify.com/s/files/1/0601/2222/files/"


def product(rng: random.Random, number: int) -> list[list[str]]:
    """The rows of one product."""
    category = rng.choice(list(CATEGORIES))
    kind, names = CATEGORIES[category]
    handle = f"{rng.choice(names).lower().replace(' ', '-')}-{number}"
    colors = rng.sample(COLORS, rng.randint(1, 2))
    sizes = rng.sample(SIZES, rng.randint(1, 4))
    size_first = rng.random() < 0.3
    images = [f"{CDN}{handle}-{n}.jpg" for n in range(1, rng.randint(2, 6))]
    status = "active" if rng.random() >= 0.05 else rng.choice(["draft", "archived"])
    with_sku = rng.random() >= 0.2
    price = f"{rng.randint(20, 900)}.00"
    rows: list[list[str]] = []
    for index, (color, size) in enumerate((c, s) for c in colors for s in sizes):
        cells = dict.fromkeys(HEADER, "")
        options = (
            [("Size", size), ("Color", color)] if size_first else [("Color", color), ("Size", size)]
        )
        cells.update(
            {
                "Handle": handle,
                "Option1 Value": options[0][1],
                "Option2 Value": options[1][1],
                "Variant SKU": f"{handle.upper()}-{color[:3].upper()}-{size}" if with_sku else "",
                "Variant Grams": "350",
                "Variant Inventory Tracker": "shopify",
                "Variant Inventory Qty": str(rng.randint(0, 40)),
                "Variant Inventory Policy": "deny",
                "Variant Fulfillment Service": "manual",
                "Variant Price": price,
                "Variant Compare At Price": ""
                if rng.random() < 0.7
                else f"{int(float(price) * 1.3)}.00",
                "Variant Requires Shipping": "true",
                "Variant Taxable": "true",
                "Variant Barcode": f"0{rng.randint(10**11, 10**12 - 1)}",
                "Variant Image": f"{CDN}{handle}-{color.lower()}.jpg",
                "Variant Weight Unit": "kg",
            }
        )
        if index == 0:
            cells.update(
                {
                    "Title": rng.choice(names),
                    "Body (HTML)": f"<p>{rng.choice(names)} by the atelier.</p>\n<ul>\n"
                    "<li>Made in Portugal</li>\n<li>Dry clean only</li>\n</ul>",
                    "Vendor": rng.choice(VENDORS),
                    "Product Category": category,
                    "Type": kind,
                    "Tags": "new-in, ss26",
                    "Published": "true" if status == "active" else "false",
                    "Option1 Name": options[0][0],
                    "Option2 Name": options[1][0],
                    "Gift Card": "false",
                    "Status": status,
                }
            )
        if index < len(images):
            cells.update({"Image Src": images[index], "Image Position": str(index + 1)})
        rows.append([cells[name] for name in HEADER])
    for position in range(len(rows), len(images)):
        cells = dict.fromkeys(HEADER, "")
        cells.update(
            {"Handle": handle, "Image Src": images[position], "Image Position": str(position + 1)}
        )
        rows.append([cells[name] for name in HEADER])
    return rows


def main() -> None:
    """Write the header and products until N data rows are written."""
    wanted = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    rng = random.Random(20261129)
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(HEADER)
    written, number = 0, 0
    while written < wanted:
        number += 1
        rows = product(rng, number)[: wanted - written]
        writer.writerows(rows)
        written += len(rows)


if __name__ == "__main__":
    main()
