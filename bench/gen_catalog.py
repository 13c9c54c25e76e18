"""Write a realistic catalog of N variants as JSON Lines on stdout (deterministic seed).

    python bench/gen_catalog.py 1000000 > /tmp/catalog-1m.jsonl

Lines are ~400 bytes, wrapped as the API's body lines, with varied fields: several variants
(sizes, colours) per product, https image URLs, categories joined by ": ", prices in major
units, the odd bare product and the odd extra field.
"""

from __future__ import annotations

import random
import sys

import orjson

DESIGNERS = [
    "111Skin",
    "Acne Studios",
    "Bottega Veneta",
    "Ganni",
    "Isabel Marant",
    "Jacquemus",
    "Khaite",
    "La Mer",
    "Loewe",
    "Nanushka",
    "Ottolinger",
    "Proenza Schouler",
    "Sisley Paris",
    "Toteme",
    "Zimmermann",
    "Augustinus Bader",
    "Charlotte Tilbury",
    "Byredo",
]
GARMENTS = {
    "Clothing: Dresses: Midi Dresses": ["Silk Slip Dress", "Pleated Midi Dress", "Wrap Dress"],
    "Clothing: Knitwear: Sweaters": ["Cashmere Crewneck", "Ribbed Wool Sweater", "Mohair Cardigan"],
    "Clothing: Jeans: Straight Leg": ["High-Rise Straight Jeans", "Relaxed Denim Trousers"],
    "Shoes: Boots: Ankle Boots": ["Leather Ankle Boots", "Suede Chelsea Boots"],
    "Bags: Shoulder Bags": ["Leather Shoulder Bag", "Quilted Mini Bag"],
    "Beauty: Skincare: Moisturizers: Moisturizers": ["Antioxidant Essence", "Rich Cream"],
    "Beauty: Fragrance: Eau de Parfum": ["Eau de Parfum", "Extrait de Parfum"],
}
COLOURS = ["Black", "Ivory", "Camel", "Navy", "Burgundy", "Sage", "Ecru", "Chocolate", ""]
SIZES = {
    "Clothing": ["XXS", "XS", "S", "M", "L", "XL"],
    "Shoes": ["36", "37", "38", "39", "40", "41"],
    "Bags": ["all"],
    "Beauty": ["30ml", "50ml", "100ml"],
}


def products(rng: random.Random) -> object:
    """Yield body lines forever: a product at a time, each with 1-6 variants."""
    number = 0
    while True:
        number += 1
        category = rng.choice(list(GARMENTS))
        top = category.split(": ")[0]
        designer = rng.choice(DESIGNERS)
        pid = f"{designer.replace(' ', '')[:3].upper()}-{number:07d}"
        suffix = rng.choice(["", "in Organic Cotton", "No. 5", "Y2"])
        title = f"{rng.choice(GARMENTS[category])} {suffix}".strip()
        price = round(rng.uniform(25, 2400), 2)
        colours = rng.sample(COLOURS, k=rng.randint(1, 2))
        sizes = SIZES[top]
        for colour in colours:
            for size in rng.sample(sizes, k=min(len(sizes), rng.randint(1, 3))):
                vid = f"{pid}-{colour[:3].upper() or 'NA'}-{size}"
                product = {
                    "product_identifier": pid,
                    "variant_identifier": vid,
                    "title": title,
                    "images": [
                        f"https://cdn.example-shop.com/images/{pid}/{vid}_V{i}.jpg"
                        for i in range(1, rng.randint(2, 4))
                    ],
                    "designer": designer,
                    "categories": [category.rsplit(": ", 1)[0], category],
                    "sizes": [size],
                    "color": colour,
                    "price": price,
                }
                if rng.random() < 0.1:
                    product["gender"] = rng.choice(["women", "men", "unisex"])
                if rng.random() < 0.02:
                    yield product  # a bare product line
                else:
                    yield {"operation": "insert", "product_data": product}


def main() -> None:
    """Write N lines (first argument) to stdout."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    rng = random.Random(20260513)
    out = sys.stdout.buffer
    batch: list[bytes] = []
    for index, line in enumerate(products(rng)):
        if index >= count:
            break
        batch.append(orjson.dumps(line))
        if len(batch) >= 10000:
            out.write(b"\n".join(batch) + b"\n")
            batch.clear()
    if batch:
        out.write(b"\n".join(batch) + b"\n")


if __name__ == "__main__":
    main()
