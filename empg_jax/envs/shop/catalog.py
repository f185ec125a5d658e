"""Generated product catalogue and synthetic goals for the WebShop-like `shop` environment.

WebShop (Yao et al., "WebShop: Towards Scalable Real-World Web Interaction with Grounded Language
Agents", arXiv 2207.01206) runs on 1,000 scraped Amazon products with synthetic goals in
verl-agent. That data cannot be obtained offline, so this module generates a catalogue of the same
shape, deterministically from a seed, on the host (plain Python and NumPy, run once), from the
category tables of `categories`:

- products: a category path of three levels, the search query the product "came from", a title
  (brand, some attributes, descriptors, the product-type noun), attributes (short phrases such as
  "long sleeve" or "gluten free"), up to two option types (colour, size, flavour, ...) with 2 to 6
  values each, bullet points, a description and a price;
- goals: a target product, 1 to 3 of its attributes, one value per option type, a price upper bound
  (a multiple of 10 dollars above the price, as WebShop's synthetic goals) and the instruction text
  ("i need a long sleeve cotton t-shirt in red, size large, and price lower than 30.00 dollars").

Everything the score formula needs is precomputed here as tables, so the in-`jit` reward is integer
gathers:
- `attr_hit_NxA[p, a]`: goal attribute a counts as matched by product p (fuzzy match with one of p's
  attributes, else a substring of p's lower-cased title, bullet points or description);
- `opt_match_OxO[o, g]`: chosen option o matches goal option g (both colour-normalised first);
- nouns of every title, for the title score (r_type).

Fuzzy matching is our implementation of WebShop's test (`fuzzy`). The part-of-speech tagger
WebShop uses for title nouns (spaCy) is replaced [reconstructed] by the generator's own knowledge
of which words are nouns (`categories.NOUNS`: product-type words, materials and other noun parts
of phrases, and brand names as proper nouns).
"""

from __future__ import annotations

import dataclasses
import functools
import random

import numpy as np

from empg_jax.envs.shop.categories import CATEGORIES, INSTRUCTION_TEMPLATES, brand_names
from empg_jax.envs.shop.fuzzy import fuzzy_match_table, normalize_colour

_NUM_GOALS_PER_PRODUCT = 6


@dataclasses.dataclass(frozen=True)
class Product:
    code: str
    category: tuple[str, str, str]
    query: str
    noun: str
    title: tuple[str, ...]
    attributes: tuple[str, ...]
    option_types: tuple[str, ...]
    options: tuple[tuple[str, ...], ...]
    bullets: tuple[str, ...]
    description: str
    price_cents: int
    rating: int


@dataclasses.dataclass(frozen=True)
class Goal:
    product: int
    attributes: tuple[str, ...]
    options: tuple[str, ...]  # one value per option type of the product
    price_upper: int  # dollars
    instruction: str


@dataclasses.dataclass(frozen=True)
class Catalog:
    products: tuple[Product, ...]
    goals: tuple[Goal, ...]  # shuffled; WebShop convention: test = goals[:500], train = the rest
    attributes: tuple[str, ...]  # attribute vocabulary (sorted)
    option_values: tuple[str, ...]  # option value vocabulary (sorted)
    option_type_names: tuple[str, ...]
    queries: tuple[str, ...]
    levels: tuple[str, ...]  # category level names


def price_text(cents: int) -> str:
    """ "$12.99" for 1299 cents."""
    return f"${cents // 100}.{cents % 100:02d}"


def _generate_products(rng: random.Random, num_products: int) -> list[Product]:
    brands = brand_names()
    products: list[Product] = []
    titles: set[tuple[str, ...]] = set()
    while len(products) < num_products:
        cat = CATEGORIES[len(products) % len(CATEGORIES)]
        path, nouns, attr_pool, descriptors, option_spec, (lo, hi) = cat
        noun = rng.choice(nouns)
        n_attr = rng.randint(2, min(5, len(attr_pool)))
        attrs = tuple(rng.sample(attr_pool, n_attr))
        n_in_title = rng.randint(0, min(2, n_attr))
        brand = rng.choice(brands)
        descriptor = rng.choice(descriptors)
        title_words = [brand, *" ".join(attrs[:n_in_title]).split(), descriptor, *noun.split()]
        if path[1] in ("men", "women") and rng.random() < 0.5:
            title_words += ["for", path[1]]
        title = tuple(title_words)
        if title in titles:
            continue
        titles.add(title)
        option_types, options = [], []
        for name, pool in option_spec:
            k = rng.randint(2, min(6, len(pool)))
            chosen = sorted(rng.sample(range(len(pool)), k))
            option_types.append(name)
            options.append(tuple(pool[i] for i in chosen))
        bullets = tuple(f"{a}" for a in attrs)
        description = f"this {descriptor} {noun} from {brand} is {attrs[-1]} and {attrs[0]} ."
        price = rng.randrange(lo * 100, hi * 100)
        price = price - price % 100 + rng.choice((0, 49, 99))
        products.append(
            Product(
                code=f"b{len(products):04d}",
                category=path,
                query=f"{path[1]} {noun}" if path[1] in ("men", "women") else noun,
                noun=noun,
                title=title,
                attributes=attrs,
                option_types=tuple(option_types),
                options=tuple(options),
                bullets=bullets,
                description=description,
                price_cents=price,
                rating=rng.randint(1, 5),
            )
        )
    return products


def _instruction(rng: random.Random, p: Product, attrs, opts, price_upper: int) -> str:
    parts = []
    for name, value in zip(p.option_types, opts, strict=True):
        if name == "color":
            parts.append(f"in {value}")
        elif name == "size":
            parts.append(f"size {value}" if not value.startswith("size") else value)
        elif name == "pack":
            parts.append(f"in a {value}")
        else:
            parts.append(f"{name} {value}")
    opt_text = "".join(f" , {x}" for x in parts)
    template = INSTRUCTION_TEMPLATES[rng.randrange(len(INSTRUCTION_TEMPLATES))]
    noun = p.noun if p.category[1] not in ("men", "women") else f"{p.noun} for {p.category[1]}"
    return template.format(
        a="some" if noun.endswith("s") else ("an" if (attrs or [noun])[0][0] in "aeiou" else "a"),
        attrs=" and ".join(attrs),
        noun=noun,
        opts=opt_text,
        price=f"{price_upper}.00",
    )


def _generate_goals(rng: random.Random, products: list[Product]) -> list[Goal]:
    goals: list[Goal] = []
    seen: set[tuple] = set()
    for i, p in enumerate(products):
        for _ in range(_NUM_GOALS_PER_PRODUCT):
            n_attr = rng.randint(1, min(3, len(p.attributes)))
            attrs = tuple(sorted(rng.sample(p.attributes, n_attr)))
            opts = tuple(rng.choice(vals) for vals in p.options)
            dollars = p.price_cents // 100 + 1
            base = -(-dollars // 10) * 10
            price_upper = base + 10 * rng.randrange(4)
            key = (i, attrs, opts, price_upper)
            if key in seen:
                continue
            seen.add(key)
            goals.append(
                Goal(i, attrs, opts, price_upper, _instruction(rng, p, attrs, opts, price_upper))
            )
    rng.shuffle(goals)
    return goals


@functools.lru_cache(maxsize=4)
def generate_catalog(num_products: int = 1200, seed: int = 0) -> Catalog:
    """Deterministic catalogue and goals for a seed (cached: the shop env and words() share it)."""
    if num_products < len(CATEGORIES):
        raise ValueError(f"num_products must be >= {len(CATEGORIES)}, got {num_products}")
    rng = random.Random(seed)
    products = _generate_products(rng, num_products)
    goals = _generate_goals(rng, products)
    attributes = sorted({a for p in products for a in p.attributes})
    option_values = sorted({v for p in products for vals in p.options for v in vals})
    option_type_names = sorted({t for p in products for t in p.option_types})
    queries = sorted({p.query for p in products})
    levels = sorted({lvl for p in products for lvl in p.category})
    return Catalog(
        products=tuple(products),
        goals=tuple(goals),
        attributes=tuple(attributes),
        option_values=tuple(option_values),
        option_type_names=tuple(option_type_names),
        queries=tuple(queries),
        levels=tuple(levels),
    )


def product_text(p: Product) -> str:
    """Lower-cased title, bullet points and description, for attribute substring matching."""
    return " ".join([" ".join(p.title), *p.bullets, p.description]).lower()


def attribute_hits(catalog: Catalog) -> np.ndarray:
    """attr_hit_NxA: goal attribute a is matched by product p (the n_attr term of the score)."""
    attrs = catalog.attributes
    fuzzy_AxA = fuzzy_match_table(list(attrs), list(attrs))
    index = {a: i for i, a in enumerate(attrs)}
    hits = np.zeros((len(catalog.products), len(attrs)), bool)
    for n, p in enumerate(catalog.products):
        own = [index[a] for a in p.attributes]
        hits[n] = fuzzy_AxA[own].any(0)
        text = product_text(p)
        for a, name in enumerate(attrs):
            if not hits[n, a] and name in text:
                hits[n, a] = True
    return hits


def option_matches(catalog: Catalog) -> np.ndarray:
    """opt_match_OxO[chosen, goal]: colour-normalised token_set_ratio > 85 (the n_opt term)."""
    vals = [normalize_colour(v) for v in catalog.option_values]
    return fuzzy_match_table(vals, vals)
