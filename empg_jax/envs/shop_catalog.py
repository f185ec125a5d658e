"""Generated product catalogue and synthetic goals for the WebShop-like `shop` environment.

WebShop (Yao et al., "WebShop: Towards Scalable Real-World Web Interaction with Grounded Language
Agents", arXiv 2207.01206) runs on 1,000 scraped Amazon products with synthetic goals in verl-agent
(environments.md §1.2). That data cannot be obtained offline, so this module generates a catalogue
of the same shape, deterministically from a seed, on the host (plain Python and NumPy, run once):

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

**Fuzzy-match substitute [reconstructed].** WebShop uses `thefuzz.fuzz.token_set_ratio > 85`.
That package is not a dependency here; `token_set_ratios` below reimplements the same definition
(token sets; intersection and the two sorted remainders compared pairwise with the normalised
Indel similarity 2 * LCS / (|a| + |b|), scaled to 0-100; 100 when one set contains the other) and
is evaluated once at generation time for every attribute pair and option pair. The part-of-speech
tagger WebShop uses for title nouns (spaCy) is replaced by the generator's own knowledge of which
words are nouns (product-type words, materials and other noun parts of phrases, and brand names as
proper nouns).
"""

from __future__ import annotations

import dataclasses
import functools
import random

import numpy as np

# WebShop normalises colour options to a fixed colour vocabulary before fuzzy matching.
BASE_COLOURS = (
    "black",
    "white",
    "red",
    "blue",
    "green",
    "grey",
    "pink",
    "brown",
    "beige",
    "purple",
)

_CLOTH_COLOURS = (
    "black",
    "white",
    "red",
    "navy blue",
    "light blue",
    "dark grey",
    "heather grey",
    "olive green",
    "pink",
    "burgundy red",
    "khaki brown",
    "purple",
)
_TECH_COLOURS = ("black", "white", "silver", "space grey", "rose gold", "blue", "red", "green")
_HOME_COLOURS = ("white", "beige", "grey", "charcoal grey", "navy blue", "sage green", "brown")
_CLOTH_SIZES = ("x-small", "small", "medium", "large", "x-large", "xx-large")
_SHOE_SIZES = ("size 6", "size 7", "size 8", "size 9", "size 10", "size 11", "size 12")
_PACKS = ("pack of 1", "pack of 2", "pack of 4", "pack of 6", "pack of 12", "pack of 24")
_VOLUMES = ("1 ounce", "2 ounce", "4 ounce", "8 ounce", "16 ounce")
_FLAVOURS = (
    "chocolate",
    "vanilla",
    "strawberry",
    "peanut butter",
    "sea salt",
    "honey",
    "cinnamon",
    "lemon",
)
_SCENTS = ("lavender", "unscented", "rose", "coconut", "eucalyptus", "citrus")
_BED_SIZES = ("twin", "full", "queen", "king", "california king")

# (path, product-type nouns, attribute pool, descriptor adjectives, option types, price range $)
CATEGORIES = (
    (
        ("clothing", "men", "shirts"),
        ("t-shirt", "polo shirt", "henley shirt"),
        (
            "long sleeve",
            "short sleeve",
            "cotton",
            "polyester",
            "machine wash",
            "slim fit",
            "crew neck",
            "v-neck",
            "moisture wicking",
        ),
        ("classic", "casual", "soft", "athletic", "vintage"),
        (("color", _CLOTH_COLOURS), ("size", _CLOTH_SIZES)),
        (8, 45),
    ),
    (
        ("clothing", "women", "dresses"),
        ("dress", "maxi dress", "sundress"),
        (
            "short sleeve",
            "sleeveless",
            "floral print",
            "high waist",
            "machine wash",
            "polyester",
            "button closure",
            "pockets",
        ),
        ("elegant", "casual", "summer", "flowy", "boho"),
        (("color", _CLOTH_COLOURS), ("size", _CLOTH_SIZES)),
        (15, 70),
    ),
    (
        ("clothing", "women", "pants"),
        ("leggings", "yoga pants", "jogger pants"),
        (
            "high waist",
            "tummy control",
            "pockets",
            "elastic waistband",
            "quick dry",
            "nylon spandex",
            "machine wash",
            "butt lift",
        ),
        ("stretchy", "athletic", "casual", "soft", "seamless"),
        (("color", _CLOTH_COLOURS), ("size", _CLOTH_SIZES)),
        (10, 50),
    ),
    (
        ("clothing", "men", "jackets"),
        ("hoodie", "jacket", "fleece jacket"),
        (
            "zip up",
            "water resistant",
            "fleece lined",
            "drawstring hood",
            "cotton",
            "windproof",
            "machine wash",
            "long sleeve",
        ),
        ("warm", "lightweight", "casual", "outdoor", "hooded"),
        (("color", _CLOTH_COLOURS), ("size", _CLOTH_SIZES)),
        (20, 90),
    ),
    (
        ("shoes", "men", "sneakers"),
        ("sneakers", "running shoes", "walking shoes"),
        (
            "rubber sole",
            "lace up",
            "non slip",
            "breathable mesh",
            "memory foam",
            "arch support",
            "lightweight",
        ),
        ("athletic", "comfortable", "casual", "sport"),
        (("color", _CLOTH_COLOURS), ("size", _SHOE_SIZES)),
        (25, 110),
    ),
    (
        ("shoes", "women", "sandals"),
        ("sandals", "slippers", "flip flops"),
        (
            "open toe",
            "rubber sole",
            "non slip",
            "ankle strap",
            "memory foam",
            "arch support",
            "faux fur",
        ),
        ("comfortable", "summer", "cute", "soft"),
        (("color", _CLOTH_COLOURS), ("size", _SHOE_SIZES)),
        (10, 60),
    ),
    (
        ("beauty", "skin care", "moisturizers"),
        ("face cream", "body lotion", "night cream"),
        (
            "paraben free",
            "fragrance free",
            "hyaluronic acid",
            "sensitive skin",
            "natural ingredients",
            "cruelty free",
            "anti aging",
            "dry skin",
        ),
        ("hydrating", "gentle", "daily", "rich", "lightweight"),
        (("size", _VOLUMES), ("scent", _SCENTS)),
        (6, 60),
    ),
    (
        ("beauty", "hair care", "shampoo"),
        ("shampoo", "conditioner", "hair mask"),
        (
            "sulfate free",
            "paraben free",
            "argan oil",
            "dry hair",
            "color safe",
            "natural ingredients",
            "cruelty free",
        ),
        ("nourishing", "gentle", "repairing", "daily", "volumizing"),
        (("size", _VOLUMES), ("scent", _SCENTS)),
        (5, 40),
    ),
    (
        ("beauty", "makeup", "lipstick"),
        ("lipstick", "lip gloss", "lip balm"),
        (
            "long lasting",
            "cruelty free",
            "paraben free",
            "matte finish",
            "natural ingredients",
            "waterproof",
        ),
        ("creamy", "velvet", "bold", "nude"),
        (("color", ("red", "pink", "nude beige", "berry purple", "coral pink", "brown")),),
        (4, 30),
    ),
    (
        ("grocery", "snacks", "cookies"),
        ("cookies", "crackers", "protein bars"),
        (
            "gluten free",
            "sugar free",
            "low carb",
            "non gmo",
            "keto friendly",
            "high protein",
            "individually wrapped",
            "vegan",
        ),
        ("crunchy", "healthy", "baked", "soft", "organic"),
        (("flavor", _FLAVOURS), ("pack", _PACKS)),
        (3, 40),
    ),
    (
        ("grocery", "beverages", "tea"),
        ("green tea", "herbal tea", "coffee beans"),
        (
            "caffeine free",
            "non gmo",
            "fair trade",
            "gluten free",
            "sugar free",
            "usda organic",
            "kosher",
        ),
        ("premium", "organic", "loose leaf", "smooth", "bold"),
        (
            ("flavor", ("honey", "lemon", "mint", "vanilla", "cinnamon", "original")),
            ("pack", _PACKS),
        ),
        (4, 45),
    ),
    (
        ("grocery", "pantry", "nuts"),
        ("almonds", "cashews", "trail mix"),
        (
            "non gmo",
            "gluten free",
            "high protein",
            "resealable bag",
            "kosher",
            "vegan",
            "low sodium",
        ),
        ("roasted", "raw", "salted", "healthy"),
        (("flavor", ("sea salt", "honey", "original", "chocolate", "cinnamon")), ("pack", _PACKS)),
        (5, 50),
    ),
    (
        ("electronics", "audio", "headphones"),
        ("headphones", "earbuds", "bluetooth speaker"),
        (
            "wireless",
            "noise cancelling",
            "long battery life",
            "water resistant",
            "built in microphone",
            "fast charging",
            "usb c",
        ),
        ("portable", "compact", "premium", "stereo", "bass"),
        (("color", _TECH_COLOURS),),
        (15, 200),
    ),
    (
        ("electronics", "accessories", "chargers"),
        ("phone charger", "power bank", "charging cable"),
        (
            "fast charging",
            "usb c",
            "high capacity",
            "compact design",
            "led indicator",
            "braided nylon",
            "wireless",
        ),
        ("portable", "compact", "durable", "universal"),
        (("color", _TECH_COLOURS), ("pack", ("pack of 1", "pack of 2", "pack of 3"))),
        (8, 60),
    ),
    (
        ("electronics", "computers", "keyboards"),
        ("keyboard", "mouse", "webcam"),
        (
            "wireless",
            "usb c",
            "ergonomic design",
            "backlit keys",
            "plug and play",
            "long battery life",
            "high resolution",
        ),
        ("compact", "gaming", "slim", "quiet", "portable"),
        (("color", _TECH_COLOURS),),
        (12, 120),
    ),
    (
        ("home", "bedding", "sheets"),
        ("sheet set", "duvet cover", "pillowcases"),
        (
            "deep pocket",
            "microfiber",
            "egyptian cotton",
            "machine wash",
            "wrinkle free",
            "breathable",
            "hypoallergenic",
        ),
        ("soft", "luxury", "cooling", "silky"),
        (("color", _HOME_COLOURS), ("size", _BED_SIZES)),
        (20, 120),
    ),
    (
        ("home", "furniture", "chairs"),
        ("office chair", "accent chair", "bar stool"),
        (
            "lumbar support",
            "easy assembly",
            "adjustable height",
            "faux leather",
            "solid wood",
            "swivel base",
            "padded seat",
        ),
        ("modern", "ergonomic", "comfortable", "sturdy"),
        (("color", _HOME_COLOURS),),
        (40, 250),
    ),
    (
        ("home", "kitchen", "storage"),
        ("storage containers", "water bottle", "lunch box"),
        (
            "bpa free",
            "dishwasher safe",
            "leak proof",
            "stainless steel",
            "microwave safe",
            "easy to clean",
            "airtight lids",
        ),
        ("reusable", "durable", "stackable", "insulated"),
        (("color", _HOME_COLOURS), ("pack", ("pack of 1", "pack of 2", "pack of 4", "pack of 6"))),
        (6, 50),
    ),
    (
        ("home", "bath", "towels"),
        ("bath towels", "hand towels", "bath mat"),
        (
            "quick dry",
            "cotton",
            "highly absorbent",
            "machine wash",
            "non slip",
            "soft touch",
            "hotel quality",
        ),
        ("plush", "soft", "luxury", "thick"),
        (("color", _HOME_COLOURS), ("pack", ("pack of 2", "pack of 4", "pack of 6", "pack of 8"))),
        (10, 70),
    ),
    (
        ("sports", "fitness", "yoga"),
        ("yoga mat", "resistance bands", "foam roller"),
        (
            "non slip",
            "eco friendly",
            "extra thick",
            "carrying strap",
            "latex free",
            "high density",
            "lightweight",
        ),
        ("durable", "portable", "premium", "workout"),
        (("color", _CLOTH_COLOURS),),
        (8, 60),
    ),
)

# Nouns inside attribute phrases and product types (the generator's stand-in for a POS tagger).
NOUNS = frozenset(
    """t-shirt shirt polo henley dress sundress leggings pants jogger hoodie jacket fleece sneakers
    shoes sandals slippers flops cream lotion shampoo conditioner hair mask lipstick gloss balm
    cookies crackers bars tea beans coffee almonds cashews mix headphones earbuds speaker charger
    bank cable keyboard mouse webcam sheet set cover pillowcases duvet chair stool containers bottle
    box towels mat bands roller sleeve cotton polyester neck print waist pockets closure waistband
    nylon spandex hood sole mesh foam support toe strap fur skin ingredients acid oil finish protein
    battery life microphone capacity design indicator keys resolution pocket microfiber wood base
    seat steel lids touch quality density leather butt tummy water trail phone body face night lip
    storage lunch bath hand yoga resistance power men women""".split()
)

_SYLLABLES = (
    "zen lum kor vex tal mira nov bel dax fen gor hal ive jun kai lor mox nal or pax qui ros sol "
    "tev ur vin wex yar zol ara bri cel dor eno fly"
).split()
_INSTRUCTION_TEMPLATES = (
    "i need {a} {attrs} {noun}{opts} , and price lower than {price} dollars",
    "i am looking for {a} {attrs} {noun}{opts} , and price lower than {price} dollars",
    "find me {a} {attrs} {noun}{opts} , with price lower than {price} dollars",
)
_NUM_GOALS_PER_PRODUCT = 6


def indel_ratios(pairs: list[tuple[str, str]]) -> np.ndarray:
    """Similarity 0-100 of each string pair, 100 * 2 * LCS(a, b) / (|a| + |b|) (normalised Indel
    similarity, the `ratio` of rapidfuzz that thefuzz wraps), vectorised over the pairs.

    The longest common subsequence is a dynamic programme over character positions, run for all
    pairs at once (one NumPy step per cell), so thousands of pairs take milliseconds.
    """
    if not pairs:
        return np.zeros((0,), np.float64)
    width = max(1, max(max(len(a), len(b)) for a, b in pairs))
    codes = np.zeros((2, len(pairs), width), np.int32)
    for k, (a, b) in enumerate(pairs):
        codes[0, k, : len(a)] = [ord(c) for c in a]
        codes[1, k, : len(b)] = [ord(c) for c in b]
    len_a = np.array([len(a) for a, _ in pairs])
    len_b = np.array([len(b) for _, b in pairs])
    prev = np.zeros((len(pairs), width + 1), np.int32)
    for i in range(width):
        cur = np.zeros_like(prev)
        live_i = i < len_a
        for j in range(width):
            same = (codes[0, :, i] == codes[1, :, j]) & live_i & (j < len_b)
            cur[:, j + 1] = np.where(same, prev[:, j] + 1, np.maximum(prev[:, j + 1], cur[:, j]))
        prev = np.where(live_i[:, None], cur, prev)
    lcs = prev[np.arange(len(pairs)), len_b]
    total = len_a + len_b
    return np.where(total > 0, 200.0 * lcs / np.maximum(total, 1), 100.0)


def token_set_ratios(pairs: list[tuple[str, str]], prune_at: float | None = None) -> np.ndarray:
    """Token-set similarity 0-100 of each pair: our own implementation of the published definition.

    Both strings are split into word sets; with I the sorted intersection and Da, Db the sorted
    differences, the score is the best `indel_ratios` among (I, I+Da), (I, I+Db), (I+Da, I+Db);
    it is 100 when the sets share a word and one contains the other.

    With `prune_at`, a comparison whose length bound 200 * min(|a|, |b|) / (|a| + |b|) is at most
    `prune_at` is not computed and reports that bound instead (enough to test `> prune_at`).
    """
    jobs, full = [], np.zeros((len(pairs),), bool)
    for k, (a, b) in enumerate(pairs):
        ta, tb = set(a.lower().split()), set(b.lower().split())
        inter = " ".join(sorted(ta & tb))
        only_a, only_b = " ".join(sorted(ta - tb)), " ".join(sorted(tb - ta))
        combo_a, combo_b = f"{inter} {only_a}".strip(), f"{inter} {only_b}".strip()
        full[k] = bool(inter) and (not only_a or not only_b)
        jobs += [(inter, combo_a), (inter, combo_b), (combo_a, combo_b)]
    lens = np.array([(len(x), len(y)) for x, y in jobs]).reshape(-1, 2)
    bound = 200.0 * lens.min(1) / np.maximum(lens.sum(1), 1)
    need = np.ones(len(jobs), bool) if prune_at is None else bound > prune_at
    need &= np.array([bool(x) for x, _ in jobs]) & ~np.repeat(full, 3)
    unique = sorted({jobs[k] for k in np.flatnonzero(need)})
    values = dict(zip(unique, indel_ratios(unique), strict=True))
    ratios = np.array([values.get(j, b) for j, b in zip(jobs, bound, strict=True)])
    ratios = ratios.reshape(len(pairs), 3)
    # An empty intersection compared with anything scores 0, as in the reference definition.
    empty = np.array(
        [[not a for a, _ in jobs[3 * k : 3 * k + 2]] + [False] for k in range(len(pairs))]
    )
    ratios = np.where(empty, 0.0, ratios)
    return np.where(full, 100.0, ratios.max(1))


def token_set_ratio(a: str, b: str) -> float:
    """`token_set_ratios` of one pair."""
    return float(token_set_ratios([(a, b)])[0])


def normalize_colour(text: str) -> str:
    """Maps an option text to its base colour when it names one (WebShop's colour normalisation)."""
    for colour in BASE_COLOURS:
        if colour in text.split():
            return colour
    return text


def fuzzy_match_table(left: list[str], right: list[str], threshold: float = 85.0) -> np.ndarray:
    """match_LxR[i, j] = token_set_ratio(left[i], right[j]) > threshold (WebShop's test)."""
    pairs = [(a, b) for a in left for b in right]
    return (token_set_ratios(pairs, prune_at=threshold) > threshold).reshape(len(left), len(right))


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


@functools.lru_cache(maxsize=1)
def brand_names(n: int = 90) -> tuple[str, ...]:
    """Invented brand names, the same for every catalogue seed (the word list must not vary)."""
    rng = np.random.default_rng(20240521)
    names: set[str] = set()
    while len(names) < n:
        k = int(rng.integers(2, 4))
        names.add("".join(rng.choice(_SYLLABLES, size=k)))
    return tuple(sorted(names))


def _price_text(cents: int) -> str:
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
    template = _INSTRUCTION_TEMPLATES[rng.randrange(len(_INSTRUCTION_TEMPLATES))]
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
    """attr_hit_NxA: goal attribute a is matched by product p (spec §1.2, n_attr)."""
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
    """opt_match_OxO[chosen, goal]: colour-normalised token_set_ratio > 85 (spec §1.2, n_opt)."""
    vals = [normalize_colour(v) for v in catalog.option_values]
    return fuzzy_match_table(vals, vals)
