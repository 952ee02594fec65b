"""The known response model of the simulated shoppers of ``personastream experiments
simulate``: how a shopper with hidden category tastes reacts to a recommendations shelf.

Each shopper likes ``n_liked`` of the catalogue's categories (drawn uniformly, hidden from the
pipeline). Shown a shelf, it scans it top down (a cascade): it clicks the item at position
``i`` with probability ``attraction * position_decay ** i``, ``attraction`` being
``p_click_liked`` for an item of a liked category and ``p_click_other`` otherwise, and stops
at the first click (at most one click per shelf). A clicked item's product page is viewed
(a ``product_view``), then carted with ``p_cart_liked`` or ``p_cart_other``; a session with a
cart ends in a purchase with ``p_purchase``. A session starts on the product page of an item
of a liked category (the landing page: what a search or an ad brought the shopper to).

Pure and seeded: every draw comes from the ``random.Random`` it is handed.

>>> import random
>>> model = ResponseModel()
>>> rng = random.Random(5)
>>> taste = model.draw_taste(rng, ["bags", "hats", "shoes", "socks"])
>>> taste.liked
('shoes', 'socks')
>>> model.click_probability(taste, "shoes", position=0), model.click_probability(taste, "bags", 0)
(0.12, 0.03)
>>> round(model.click_probability(taste, "shoes", position=2), 4)
0.0588
>>> shelf = ["bags", "hats", "socks", "shoes"]
>>> [model.choose_click(taste, shelf, random.Random(s)) for s in range(12)]
[None, None, 2, None, None, None, None, None, None, None, None, None]
"""
from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Sequence

__all__ = ["ResponseModel", "Taste"]


@dataclass(frozen=True)
class Taste:
    """A shopper's hidden tastes: the categories it likes."""

    liked: tuple[str, ...]

    def likes(self, category: str) -> bool:
        return category in self.liked


@dataclass(frozen=True)
class ResponseModel:
    """The simulated shoppers' behaviour, fully defined by these parameters."""

    n_liked: int = 2
    p_click_liked: float = 0.12
    p_click_other: float = 0.03
    position_decay: float = 0.7
    p_cart_liked: float = 0.3
    p_cart_other: float = 0.1
    p_purchase: float = 0.5

    def __post_init__(self):
        for name, value in asdict(self).items():
            if name != "n_liked" and not 0 <= value <= 1:
                raise ValueError(f"response model: {name} must be a probability in [0, 1], "
                                 f"got {value}")
        if self.n_liked < 1:
            raise ValueError(f"response model: n_liked must be at least 1, got {self.n_liked}")

    def draw_taste(self, rng: random.Random, categories: Sequence[str]) -> Taste:
        """``n_liked`` distinct categories of ``categories``, uniformly (sorted)."""
        if self.n_liked > len(categories):
            raise ValueError(f"response model: n_liked {self.n_liked} exceeds the "
                             f"{len(categories)} categories")
        return Taste(tuple(sorted(rng.sample(sorted(categories), self.n_liked))))

    def click_probability(self, taste: Taste, category: str, position: int) -> float:
        """The chance to click the item at 0-based ``position`` once the scan reaches it."""
        attraction = self.p_click_liked if taste.likes(category) else self.p_click_other
        return attraction * self.position_decay ** position

    def choose_click(self, taste: Taste, shelf: Sequence[str], rng: random.Random
                     ) -> int | None:
        """The position clicked on a shelf of items of categories ``shelf`` (top first), or
        None. One draw per position scanned."""
        for position, category in enumerate(shelf):
            if rng.random() < self.click_probability(taste, category, position):
                return position
        return None

    def carts(self, taste: Taste, category: str, rng: random.Random) -> bool:
        """Whether the shopper adds a clicked item of ``category`` to its cart."""
        return rng.random() < (self.p_cart_liked if taste.likes(category) else self.p_cart_other)

    def purchases(self, rng: random.Random) -> bool:
        """Whether a session with a cart ends in a purchase."""
        return rng.random() < self.p_purchase

    def expected_ctr(self, liked_share: float, shelf_size: int) -> float:
        """Clicks per impression of a shelf whose items are each of a liked category with
        probability ``liked_share`` (independently): what ranking by taste can gain.

        >>> m = ResponseModel()
        >>> round(m.expected_ctr(2 / 8, 8), 4), round(m.expected_ctr(1.0, 8), 4)
        (0.1544, 0.3243)
        """
        miss = 1.0
        for position in range(shelf_size):
            attraction = liked_share * self.p_click_liked + (1 - liked_share) * self.p_click_other
            miss *= 1 - attraction * self.position_decay ** position
        return 1 - miss

    def describe(self) -> str:
        """One line naming every parameter (for the report)."""
        return (f"each likes {self.n_liked} categories (hidden); click at position i with "
                f"{self.p_click_liked} (liked) or {self.p_click_other} (other) x "
                f"{self.position_decay}^i, first click only; cart a clicked item "
                f"{self.p_cart_liked} (liked) or {self.p_cart_other} (other); buy the cart "
                f"{self.p_purchase}; sessions land on a liked item's page")
