"""The search environment's world: entity types, relations, passage templates and name pools.

An episode's knowledge base (`episode`) has `COUNTS[i]` entities of type `TYPES[i]` with invented
names drawn from the pools below, linked by the functional `RELATIONS`; each entity has one
passage, its type's template with the related entities' names filled in.
"""

from __future__ import annotations

import numpy as np

# Entity types and how many of each an episode has.
TYPES = ("person", "city", "country", "company", "university", "film")
COUNTS = (16, 10, 4, 6, 4, 4)
OFFSETS = tuple(int(x) for x in np.cumsum((0,) + COUNTS[:-1]))
NUM_ENTITIES = sum(COUNTS)
PERSON, CITY, COUNTRY, COMPANY, UNIVERSITY, FILM = range(6)

# (name, subject type, object type, noun phrase used in questions)
RELATIONS = (
    ("born_in", PERSON, CITY, "the birthplace of"),
    ("works_for", PERSON, COMPANY, "the employer of"),
    ("studied_at", PERSON, UNIVERSITY, "the alma mater of"),
    ("in_country", CITY, COUNTRY, "the country of"),
    ("mayor", CITY, PERSON, "the mayor of"),
    ("capital", COUNTRY, CITY, "the capital of"),
    ("founded_by", COMPANY, PERSON, "the founder of"),
    ("based_in", COMPANY, CITY, "the home city of"),
    ("campus_in", UNIVERSITY, CITY, "the campus city of"),
    ("directed_by", FILM, PERSON, "the director of"),
)
REL = {r[0]: i for i, r in enumerate(RELATIONS)}

# Passage template per type: literal text and slots; "@self" is the entity's own name, "@rel" the
# object of a relation.
PASSAGES = {
    PERSON: (
        "@self : @self was born in @born_in , studied at @studied_at and works for @works_for ."
    ),
    CITY: "@self : @self is a city in @in_country . its mayor is @mayor .",
    COUNTRY: "@self : @self is a country whose capital is @capital .",
    COMPANY: "@self : @self was founded by @founded_by and is based in @based_in .",
    UNIVERSITY: "@self : @self has its campus in @campus_in .",
    FILM: "@self : @self is a film directed by @directed_by .",
}

FIRST_NAMES = (
    "anna boris clara dmitri elena felix greta hugo ilse jonas karla leon mira nils olga pavel "
    "rosa stefan tanja udo vera walter xenia yusuf zora adrian bianca cyril dora emil fiona gideon "
    "hanna igor julia kasimir lena marek nora oskar"
).split()
LAST_NAMES = (
    "kovar lindqvist moreau brandt okafor haskell petrov duarte vasquez novak fischer tanaka "
    "oyelaran castell weber ivanova marsh lindgren sato quinlan rhee achterberg dubois halloran "
    "jaskolski keller lorenz mbeki nakamura orsini pereira ramos schultz tremaine ulrich varga "
    "whitcombe yilmaz zeller abernathy"
).split()
CITY_NAMES = (
    "varno keldis ostrava belmira tarsk quillon dunmore esterhaven faloria gorwick halvik "
    "ingleport jarrow kessel lumen marrow norvik oldcastle pellham ravenna sorvik thessaly "
    "umbria valdor westmarch yarrow zennor arcadia brisa corvalle"
).split()
COUNTRY_NAMES = (
    "vardia elbonia corvinia estoria galdor hesperia ilyria jorvik kaldor lusitania montara norland"
).split()
COMPANY_STEMS = (
    "zentrix altavia brightwell cobalt dynamo everpeak fluxion gravitas helion ionic "
    "junction kinetic luminar meridian"
).split()
COMPANY_SUFFIXES = ("labs", "motors", "systems", "foods", "media", "group")
UNIVERSITY_STEMS = "kell ashford brenton corliss dunham elmhurst fairleigh glenmore".split()
FILM_ADJECTIVES = "silent crimson hollow golden distant broken frozen velvet".split()
FILM_NOUNS = "harbor garden frontier empire mirror voyage lantern orchard".split()
