"""The shop's world data: product categories, their attributes and options, and brand names.

Each category gives a three-level path ("clothing > men > shirts"), product-type nouns, a pool of
attributes (short phrases such as "long sleeve" or "gluten free"), descriptor adjectives, up to
two option types with their values, and a price range. The catalogue generator (`catalog`) draws
products and goals from these tables; the environment's word list (`text.words`) is their union.
"""

from __future__ import annotations

import functools

import numpy as np

# The first level of the category paths; a goal's task type is its product's department.
DEPARTMENTS = ("clothing", "shoes", "beauty", "grocery", "electronics", "home", "sports")

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
# Goal instructions, as in WebShop's synthetic goals.
INSTRUCTION_TEMPLATES = (
    "i need {a} {attrs} {noun}{opts} , and price lower than {price} dollars",
    "i am looking for {a} {attrs} {noun}{opts} , and price lower than {price} dollars",
    "find me {a} {attrs} {noun}{opts} , with price lower than {price} dollars",
)


@functools.lru_cache(maxsize=1)
def brand_names(n: int = 90) -> tuple[str, ...]:
    """Invented brand names, the same for every catalogue seed (the word list must not vary)."""
    rng = np.random.default_rng(20240521)
    names: set[str] = set()
    while len(names) < n:
        k = int(rng.integers(2, 4))
        names.add("".join(rng.choice(_SYLLABLES, size=k)))
    return tuple(sorted(names))
