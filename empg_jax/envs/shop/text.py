"""Shop text: the pages' fixed texts, the buttons, the oracle's thoughts and the word list.

The observation is the page's visible text joined by ` | ` (WebShop uses ` [SEP] `; one `|`
token keeps pages short).
"""

from __future__ import annotations

from empg_jax.envs.core import NOTHING_HAPPENS
from empg_jax.envs.shop.categories import (
    CATEGORIES,
    DEPARTMENTS,
    INSTRUCTION_TEMPLATES,
    NOUNS,
    brand_names,
)
from empg_jax.envs.shop.state import K_BACK, K_BUY, K_NEXT, K_NONE, K_PREV, K_SUB, SUBPAGES
from empg_jax.text.word import split_words

SEP = "|"
# Buttons in the order of the global clickable table, and the kind of each.
BUTTONS = ("back", "prev", "next", *SUBPAGES, "buy", "search")
BUTTON_KINDS = {
    "back": K_BACK,
    "prev": K_PREV,
    "next": K_NEXT,
    "buy": K_BUY,
    "search": K_NONE,
    **{x: K_SUB for x in SUBPAGES},
}

TEXTS = {
    "search_head": f"webshop {SEP} instruction : {SEP}",
    "search_tail": f"{SEP} search",
    "back": "back to search",
    "results_head": f"back to search {SEP} page",
    "total": "( total results :",
    "close": ")",
    "prev": "< prev",
    "next": "next >",
    "item_head": f"back to search {SEP} < prev {SEP}",
    "selected": f"{SEP} selected :",
    "item_tail": f"{SEP} description {SEP} features {SEP} reviews {SEP} attributes {SEP} buy now",
    "sub_head": f"back to search {SEP} < prev {SEP}",
    "done": f"thank you for shopping with us ! {SEP} purchased {SEP}",
    "nothing": NOTHING_HAPPENS,
    "sep": SEP,
}
# The oracle's thought per case: (text before the variable part, text after).
THOUGHTS = {
    "search": ("i am on the search page , so i will search for", "."),
    "open": ("the result", "matches the instruction , so i will open it ."),
    "next": ("no result on this page matches , so i will look at the next page .", ""),
    "research": ("these results do not match , so i will search again .", ""),
    "wrong": ("this item does not match the instruction , so i will go back .", ""),
    "option": ("the instruction asks for", ", so i will select it ."),
    "buy": ("the item and its options match the instruction , so i will buy it .", ""),
    "sub": ("i will go back to the item page .", ""),
    "done": ("the purchase is done .", ""),
}
_EXTRA_WORDS = (
    "webshop instruction search back to page total results prev next selected description "
    "features reviews attributes buy now thank you for shopping with us purchased price rating "
    "out of a customer says good would again click nothing happens product i am on the so will "
    "result matches open it no this look at these do not match item does go its options and asks "
    "select need find is done b"
).split()


def words() -> tuple[str, ...]:
    """Every letter word the shop may emit or accept (catalogue words included), sorted."""
    texts = [*TEXTS.values(), *(a + " " + b for a, b in THOUGHTS.values()), *_EXTRA_WORDS]
    texts += list(brand_names()) + list(NOUNS) + list(DEPARTMENTS)
    for path, nouns, attrs, descriptors, options, _ in CATEGORIES:
        texts += [*path, *nouns, *attrs, *descriptors]
        for name, values in options:
            texts += [name, *values]
    texts += [t for tpl in INSTRUCTION_TEMPLATES for t in tpl.split()]
    texts += ["this", "from", "is", "and", "some", "an", "in", "size", "scent", "flavor", "pack"]
    found = {w for t in texts for w in split_words(t) if w.isalpha()}
    return tuple(sorted(found))
