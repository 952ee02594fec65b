"""The storefront's catalogue: a seeded sample of priced products (the demo shop sells these;
sample traffic views and buys them).

>>> items = catalogue(3)
>>> [p.item_id for p in items], items == catalogue(3)
(['item-0', 'item-1', 'item-2'], True)
>>> display_name(items[0]).startswith(items[0].brand.title())
True
"""
from __future__ import annotations

import random
from dataclasses import dataclass

CATEGORIES = ("shoes", "jackets", "bags", "watches", "shirts", "hats", "socks", "scarves")
BRANDS = ("acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka")


@dataclass(frozen=True)
class Product:
    item_id: str
    category: str
    brand: str
    price: float


def catalogue(n_items: int = 200, seed: int = 1) -> list[Product]:
    """``n_items`` products ``item-0`` ..., each of a category and brand, priced 5 to 300."""
    rng = random.Random(seed)
    return [Product(f"item-{i}", rng.choice(CATEGORIES), rng.choice(BRANDS),
                    round(rng.uniform(5, 300), 2)) for i in range(n_items)]


def display_name(product: Product) -> str:
    return f"{product.brand.title()} {product.category} {product.item_id[5:]}"
