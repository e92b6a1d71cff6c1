"""The simulated shop's catalog: a category tree, brands with price tiers, titles from words, accessories.

Main products live in leaves such as ``Electronics/Smartphones``; their accessories live in a sibling
branch (``Electronics/Smartphones Accessories/Phone Cases``) and name the main products they fit in
:attr:`CatalogItem.complements`, preferring the same brand, as a real shop's compatibility data would.
Everything is drawn from an explicit :class:`numpy.random.Generator`, so one seed gives one catalog.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from contracts.events import CatalogItem

# top category -> [(main leaf, noun, base price EUR, [(accessory leaf, noun, base price)])]
TREE: dict[str, list[tuple[str, str, float, list[tuple[str, str, float]]]]] = {
    "Electronics": [
        ("Smartphones", "Smartphone", 450, [("Phone Cases", "Case", 19), ("Chargers", "Charger", 25),
                                            ("Screen Protectors", "Screen Protector", 12)]),
        ("Laptops", "Laptop", 900, [("Laptop Bags", "Laptop Bag", 45), ("Computer Mice", "Mouse", 30)]),
        ("Headphones", "Headphones", 120, [("Ear Tips", "Ear Tips", 9)]),
        ("Cameras", "Camera", 650, [("Memory Cards", "Memory Card", 25), ("Tripods", "Tripod", 60)]),
        ("Televisions", "TV", 700, [("Wall Mounts", "Wall Mount", 40), ("HDMI Cables", "HDMI Cable", 15)]),
    ],
    "Home": [
        ("Coffee Machines", "Coffee Machine", 300, [("Coffee Beans", "Coffee Beans", 14),
                                                    ("Descalers", "Descaler", 10)]),
        ("Sofas", "Sofa", 800, [("Cushions", "Cushion", 25)]),
        ("Lamps", "Lamp", 80, [("Light Bulbs", "Light Bulb", 8)]),
        ("Vacuum Cleaners", "Vacuum Cleaner", 250, [("Vacuum Bags", "Vacuum Bags", 12)]),
    ],
    "Fashion": [
        ("Sneakers", "Sneakers", 90, [("Shoe Care", "Shoe Cleaner", 12)]),
        ("Jackets", "Jacket", 150, []),
        ("Dresses", "Dress", 70, [("Belts", "Belt", 25)]),
        ("Watches", "Watch", 220, [("Watch Straps", "Watch Strap", 30)]),
    ],
    "Sports": [
        ("Bikes", "Bike", 700, [("Bike Helmets", "Helmet", 60), ("Bike Lights", "Bike Light", 25)]),
        ("Running Shoes", "Running Shoes", 110, [("Running Socks", "Running Socks", 12)]),
        ("Tents", "Tent", 200, [("Sleeping Bags", "Sleeping Bag", 70)]),
    ],
    "Garden": [
        ("Lawn Mowers", "Lawn Mower", 350, [("Mower Blades", "Mower Blade", 25)]),
        ("Grills", "Grill", 260, [("Grill Tools", "Grill Set", 30), ("Charcoal", "Charcoal", 10)]),
    ],
}
BRANDS: dict[str, list[str]] = {
    "Electronics": ["Voltra", "Nexon", "Pixelia", "Sonaro", "Kestrel", "Lumio"],
    "Home": ["Casara", "Brewmont", "Nordhaus", "Lumen & Co", "Dustaway"],
    "Fashion": ["Urbano", "Stridewell", "Maison Lys", "Tickwood", "Northpeak"],
    "Sports": ["Velocita", "Trailfox", "Summitline", "Peloro"],
    "Garden": ["Greenblade", "Emberline", "Hortex"],
}
TIER_WORDS = (("Basic", "Lite", "Essential", "Go"), ("Classic", "Plus", "Smart", "Active"),
              ("Pro", "Ultra", "Signature", "Elite"))
TIER_PRICE = (0.6, 1.0, 1.8)
COLORS = ("Black", "White", "Silver", "Blue", "Red", "Green", "Grey", "Beige")
MATERIALS = {"Electronics": ("aluminium", "plastic", "glass"), "Home": ("wood", "steel", "fabric", "ceramic"),
             "Fashion": ("leather", "cotton", "wool", "canvas"), "Sports": ("carbon", "steel", "nylon"),
             "Garden": ("steel", "cast iron", "plastic")}


@dataclass(frozen=True)
class Leaf:
    index: int
    path: tuple[str, ...]
    noun: str
    base_price: float
    top: str
    accessory_of: int | None  # index of the main leaf this accessory leaf serves


def build_leaves() -> list[Leaf]:
    leaves: list[Leaf] = []
    for top, mains in TREE.items():
        for name, noun, price, accs in mains:
            main = Leaf(len(leaves), (top, name), noun, price, top, None)
            leaves.append(main)
            for acc_name, acc_noun, acc_price in accs:
                leaves.append(Leaf(len(leaves), (top, f"{name} Accessories", acc_name), acc_noun, acc_price,
                                   top, main.index))
    return leaves


@dataclass
class Catalog:
    """Items as parallel arrays (what the simulator scores) plus their :class:`CatalogItem` records."""

    leaves: list[Leaf]
    brands: list[str]
    brand_tier: np.ndarray                      # per brand: 0 budget, 1 mid, 2 premium
    items: list[CatalogItem] = field(default_factory=list)
    leaf: list[int] = field(default_factory=list)
    brand: list[int] = field(default_factory=list)
    level: list[int] = field(default_factory=list)  # price level 0..2 within the leaf
    popularity: list[float] = field(default_factory=list)
    in_stock: list[bool] = field(default_factory=list)
    complements: list[list[int]] = field(default_factory=list)   # accessory -> main items
    accessories: dict[int, list[int]] = field(default_factory=dict)  # main item -> accessories
    by_leaf: dict[int, list[int]] = field(default_factory=dict)

    @property
    def main_leaves(self) -> list[int]:
        return [lf.index for lf in self.leaves if lf.accessory_of is None]

    def __len__(self) -> int:
        return len(self.items)

    def is_accessory(self, idx: int) -> bool:
        return self.leaves[self.leaf[idx]].accessory_of is not None

    def set_stock(self, idx: int, in_stock: bool) -> CatalogItem:
        self.in_stock[idx] = in_stock
        item = self.items[idx]
        self.items[idx] = CatalogItem(**{**_fields(item), "in_stock": in_stock})
        return self.items[idx]

    def add_item(self, rng: np.random.Generator, created_ts: int, leaf: int | None = None) -> CatalogItem:
        """Draw one new item (a leaf weighted like the initial catalog) and index it."""
        if leaf is None:
            leaf = int(rng.integers(len(self.leaves)))
        lf = self.leaves[leaf]
        top_brands = [b for b, name in enumerate(self.brands) if name in BRANDS[lf.top]]
        brand = int(top_brands[int(rng.integers(len(top_brands)))])
        tier = int(self.brand_tier[brand])
        price = round(float(lf.base_price * TIER_PRICE[tier] * rng.lognormal(0.0, 0.25)), 2)
        level = 0 if price < lf.base_price * 0.8 else (2 if price > lf.base_price * 1.4 else 1)
        color = COLORS[int(rng.integers(len(COLORS)))]
        material = MATERIALS[lf.top][int(rng.integers(len(MATERIALS[lf.top])))]
        idx = len(self.items)
        model = f"{'XSTMKR'[int(rng.integers(6))]}{int(rng.integers(1, 99))}"
        title = f"{self.brands[brand]} {TIER_WORDS[tier][int(rng.integers(4))]} {lf.noun} {model}, {color}"
        complements: list[int] = []
        if lf.accessory_of is not None:
            mains = self.by_leaf.get(lf.accessory_of, [])
            if mains:
                same = [m for m in mains if self.brand[m] == brand]
                pool = same if same and rng.random() < 0.7 else mains
                k = min(len(pool), int(rng.integers(1, 5)))
                complements = sorted(int(m) for m in rng.choice(pool, size=k, replace=False))
        item = CatalogItem(
            item_id=f"i{idx}", title=title, category=list(lf.path), price=price, brand=self.brands[brand],
            in_stock=True, attributes={"color": color, "material": material, "price_level": str(level)},
            complements=[f"i{m}" for m in complements], created_ts=created_ts)
        self.items.append(item)
        self.leaf.append(leaf)
        self.brand.append(brand)
        self.level.append(level)
        self.popularity.append(float(rng.lognormal(0.0, 1.0)))
        self.in_stock.append(True)
        self.complements.append(complements)
        self.by_leaf.setdefault(leaf, []).append(idx)
        for m in complements:
            self.accessories.setdefault(m, []).append(idx)
        return item


def _fields(item: CatalogItem) -> dict:
    return {f: getattr(item, f) for f in item.__struct_fields__}


def generate_catalog(rng: np.random.Generator, n_items: int, start_ms: int) -> Catalog:
    """``n_items`` items: about 60 % main products, the rest accessories of earlier main products."""
    leaves = build_leaves()
    brands = [b for top in BRANDS.values() for b in top]
    cat = Catalog(leaves=leaves, brands=brands, brand_tier=rng.integers(0, 3, size=len(brands)))
    mains = [lf.index for lf in leaves if lf.accessory_of is None]
    accs = [lf.index for lf in leaves if lf.accessory_of is not None]
    main_w = rng.dirichlet(np.full(len(mains), 4.0))
    acc_w = rng.dirichlet(np.full(len(accs), 4.0))
    n_main = max(len(mains), int(round(n_items * 0.6)))
    # Mains first, so every accessory finds the products it fits; ages spread over the past year.
    ages = np.sort(rng.integers(0, 365 * 86_400_000, size=n_items))[::-1]
    for k in range(n_items):
        if k < len(mains):
            leaf = mains[k]  # every main leaf gets at least one product
        elif k < n_main:
            leaf = mains[int(rng.choice(len(mains), p=main_w))]
        else:
            leaf = accs[int(rng.choice(len(accs), p=acc_w))]
        cat.add_item(rng, int(start_ms - ages[k]), leaf)
    return cat
