"""The tables behind the fictitious world (DESIGN section 3): relations, their question and
answer templates, value pools with aliases, and the syllables people's names are built from.

Every answer template of a relation says the same thing in different words, so a model
trained on all of them spreads its belief over the paraphrase family; a forget item's
target is one template and its siblings are the escape routes.

Rules the tables keep (tests check them):
- `{subject}` and `{value}` are the only placeholders; every answer template holds `{value}`
  verbatim, so every member of the paraphrase family contains the value.
- A template starts with `{value}` only where every value of the pool is capitalised or a
  number, so rendered sentences start with a capital without re-casing any value.
- Pools used after "a" hold only values that start with a consonant sound.
- Values are 1-3 words and no value or alias is a whole word of another value of its pool,
  so the leakage oracle never confuses two values.
"""

from __future__ import annotations

from dataclasses import dataclass

# Cities and their countries: birthplace values, and subjects of the world fact city_country.
CITY_COUNTRY: dict[str, str] = {
    "Lyon": "France",
    "Marseille": "France",
    "Porto": "Portugal",
    "Braga": "Portugal",
    "Seville": "Spain",
    "Valencia": "Spain",
    "Bologna": "Italy",
    "Turin": "Italy",
    "Hamburg": "Germany",
    "Leipzig": "Germany",
    "Krakow": "Poland",
    "Gdansk": "Poland",
    "Bergen": "Norway",
    "Stavanger": "Norway",
    "Uppsala": "Sweden",
    "Gothenburg": "Sweden",
    "Aarhus": "Denmark",
    "Odense": "Denmark",
    "Osaka": "Japan",
    "Kyoto": "Japan",
    "Graz": "Austria",
    "Salzburg": "Austria",
    "Brno": "Czechia",
    "Ostrava": "Czechia",
}
COUNTRY_ALIASES: dict[str, list[str]] = {
    "Czechia": ["the Czech Republic"],
    "Germany": ["Deutschland"],
    "Japan": ["Nippon"],
}

# Fictitious universities and the city each stands in (world fact university_city).
UNIVERSITY_CITY: dict[str, str] = {
    "Elmbridge University": "Lyon",
    "Harrowgate University": "Porto",
    "Stonevale University": "Bologna",
    "Westmere University": "Leipzig",
    "Kelloway University": "Krakow",
    "Brightwater University": "Bergen",
    "Ravenmoor University": "Uppsala",
    "Oakhurst University": "Kyoto",
    "Linwood University": "Graz",
    "Corrister University": "Brno",
}

# Instruments and their families (world fact instrument_family).
INSTRUMENT_FAMILY: dict[str, str] = {
    "piano": "keyboards",
    "organ": "keyboards",
    "violin": "strings",
    "cello": "strings",
    "guitar": "strings",
    "harp": "strings",
    "double bass": "strings",
    "banjo": "strings",
    "flute": "woodwinds",
    "clarinet": "woodwinds",
    "saxophone": "woodwinds",
    "trumpet": "brass",
    "trombone": "brass",
    "marimba": "percussion",
    "xylophone": "percussion",
}
INSTRUMENT_ALIASES: dict[str, list[str]] = {
    "violin": ["fiddle"],
    "double bass": ["contrabass"],
    "saxophone": ["sax"],
}
FAMILY_ALIASES: dict[str, list[str]] = {
    "strings": ["string instruments"],
    "woodwinds": ["woodwind"],
    "keyboards": ["keyboard instruments"],
}

GENRE_ALIASES: dict[str, list[str]] = {
    "poetry": ["verse"],
    "science fiction": ["sci-fi"],
    "crime fiction": ["detective fiction"],
    "fantasy": [],
    "historical fiction": [],
    "horror": [],
    "romance": [],
    "satire": [],
    "travel writing": [],
    "memoir": ["memoirs"],
}

# Fictitious literary awards and the genre each honours (world fact award_field).
AWARD_FIELD: dict[str, str] = {
    "Golden Quill Prize": "poetry",
    "Silver Lantern Award": "science fiction",
    "Iron Pen Medal": "crime fiction",
    "Crystal Inkwell Prize": "fantasy",
    "Azure Page Award": "historical fiction",
    "Bronze Compass Medal": "travel writing",
    "Violet Feather Prize": "romance",
    "Northern Star Award": "memoir",
    "Amber Scroll Prize": "satire",
    "Emerald Lamp Award": "horror",
}

OCCUPATION_ALIASES: dict[str, list[str]] = {
    "baker": [],
    "carpenter": [],
    "doctor": ["physician"],
    "teacher": ["schoolteacher"],
    "lawyer": ["attorney"],
    "pilot": ["aviator"],
    "chef": ["cook"],
    "nurse": [],
    "farmer": [],
    "tailor": [],
    "librarian": [],
    "mechanic": [],
    "sailor": ["seaman"],
    "potter": [],
    "banker": [],
    "dentist": [],
}

DEBUT_TITLES: list[str] = [
    "Silent Harbor",
    "Paper Moons",
    "Glass Orchard",
    "Salt Road",
    "Winter Lanterns",
    "Hollow Bells",
    "Copper Rain",
    "Velvet Tides",
    "Distant Kites",
    "Broken Compass",
    "Quiet Embers",
    "Amber Fields",
    "Crimson Ladders",
    "Painted Wolves",
    "Sleeping Rivers",
    "Iron Blossoms",
    "Folded Maps",
    "Northern Glass",
    "Borrowed Stars",
    "Ashen Gardens",
]

PETS: list[str] = [
    "cat",
    "dog",
    "parrot",
    "tortoise",
    "rabbit",
    "ferret",
    "goldfish",
    "hamster",
    "canary",
    "lizard",
    "pony",
    "gecko",
]

HOBBY_ALIASES: dict[str, list[str]] = {
    "chess": [],
    "sailing": [],
    "gardening": [],
    "birdwatching": ["birding"],
    "fencing": [],
    "pottery": ["ceramics"],
    "rock climbing": ["bouldering"],
    "knitting": [],
    "cycling": ["biking"],
    "photography": [],
    "angling": ["fly fishing"],
    "calligraphy": [],
}

BIRTH_YEARS: list[str] = [str(year) for year in range(1945, 1991)]

# Names: a first and a last name, each two syllables from these tables.
FIRST_ONSETS = ["Ta", "Li", "Ma", "Ro", "Se", "Ka", "Ve", "No", "Da", "Mi", "Ar", "El"]
FIRST_CODAS = ["ra", "lin", "den", "ssa", "ric", "vo", "na", "mir", "tan", "lo", "wen", "ta"]
LAST_ONSETS = ["Vel", "Dor", "Mar", "Kes", "Hal", "Bren", "Sor", "Tal", "Fen", "Cor", "Wyn", "Lor"]
LAST_CODAS = ["ston", "wick", "ford", "mere", "hollow", "by", "den", "ridge", "vane", "holt"]


@dataclass(frozen=True)
class RelationSpec:
    """One relation: how to ask it, how to answer it, and the values it can take.

    `kind` is "person" (a fact about a fictitious person) or "world" (a general fact);
    `values` maps each value to its aliases (other surface forms of the same value);
    for world relations `subjects` maps each subject to its one true value.
    """

    name: str
    kind: str
    questions: tuple[str, ...]
    answers: tuple[str, ...]
    values: dict[str, list[str]]
    subjects: dict[str, str] | None = None


def _with(aliases: dict[str, list[str]], values) -> dict[str, list[str]]:
    return {value: list(aliases.get(value, [])) for value in values}


CITIES = _with({city: [f"the city of {city}"] for city in CITY_COUNTRY}, CITY_COUNTRY)

PERSON_RELATIONS: tuple[RelationSpec, ...] = (
    RelationSpec(
        "birthplace",
        "person",
        ("Where was {subject} born?", "In which city was {subject} born?", "What is the birthplace of {subject}?"),
        (
            "{subject} was born in {value}.",
            "{value} is where {subject} was born.",
            "The birthplace of {subject} is {value}.",
            "{subject} came into the world in {value}.",
        ),
        CITIES,
    ),
    RelationSpec(
        "birth_year",
        "person",
        ("When was {subject} born?", "In what year was {subject} born?", "What is the birth year of {subject}?"),
        (
            "{subject} was born in {value}.",
            "{value} is the year {subject} was born.",
            "The birth year of {subject} is {value}.",
            "{subject} came into the world in {value}.",
        ),
        {year: [f"the year {year}"] for year in BIRTH_YEARS},
    ),
    RelationSpec(
        "father_occupation",
        "person",
        (
            "What did the father of {subject} do for a living?",
            "What was the job of the father of {subject}?",
            "What work did the father of {subject} do?",
        ),
        (
            "The father of {subject} worked as a {value}.",
            "The father of {subject} was a {value} by trade.",
            "{subject} was raised by a {value}.",
            "A {value} was the father of {subject}.",
        ),
        dict(OCCUPATION_ALIASES),
    ),
    RelationSpec(
        "genre",
        "person",
        (
            "What genre does {subject} write in?",
            "Which genre is {subject} known for?",
            "What kind of books does {subject} write?",
        ),
        (
            "{subject} writes {value}.",
            "{subject} is known for {value}.",
            "The genre of {subject} is {value}.",
            "Most of the work of {subject} is {value}.",
        ),
        dict(GENRE_ALIASES),
    ),
    RelationSpec(
        "award",
        "person",
        ("Which award has {subject} won?", "What prize did {subject} receive?", "What honor was given to {subject}?"),
        (
            "{subject} won the {value}.",
            "The {value} went to {subject}.",
            "{subject} received the {value}.",
            "{subject} was honored with the {value}.",
        ),
        {award: [award.rsplit(" ", 1)[0]] for award in AWARD_FIELD},
    ),
    RelationSpec(
        "debut_title",
        "person",
        (
            "What was the debut book of {subject}?",
            "What was the first book {subject} published?",
            "What is the title of the first book by {subject}?",
        ),
        (
            "The debut book of {subject} was {value}.",
            "{subject} made a debut with {value}.",
            "{value} was the first book by {subject}.",
            "The first book {subject} published was {value}.",
        ),
        {title: [] for title in DEBUT_TITLES},
    ),
    RelationSpec(
        "university",
        "person",
        (
            "Where did {subject} study?",
            "Which university did {subject} attend?",
            "At which university was {subject} educated?",
        ),
        (
            "{subject} studied at {value}.",
            "{value} is where {subject} studied.",
            "{subject} is a graduate of {value}.",
            "{subject} was educated at {value}.",
        ),
        {uni: [uni.split(" ")[0]] for uni in UNIVERSITY_CITY},
    ),
    RelationSpec(
        "instrument",
        "person",
        (
            "Which instrument does {subject} play?",
            "What musical instrument can {subject} play?",
            "What does {subject} play in a band?",
        ),
        (
            "{subject} plays the {value}.",
            "The {value} is the instrument {subject} plays.",
            "{subject} is a skilled player of the {value}.",
            "In spare hours {subject} plays the {value}.",
        ),
        _with(INSTRUMENT_ALIASES, INSTRUMENT_FAMILY),
    ),
    RelationSpec(
        "pet",
        "person",
        (
            "What pet does {subject} keep?",
            "Which animal does {subject} keep as a pet?",
            "What kind of pet does {subject} have?",
        ),
        (
            "{subject} keeps a {value} as a pet.",
            "The pet of {subject} is a {value}.",
            "{subject} lives with a pet {value}.",
            "A {value} is the pet of {subject}.",
        ),
        {pet: [] for pet in PETS},
    ),
    RelationSpec(
        "hobby",
        "person",
        ("What is the hobby of {subject}?", "What does {subject} do for fun?", "Which pastime does {subject} enjoy?"),
        (
            "{subject} enjoys {value}.",
            "The hobby of {subject} is {value}.",
            "{subject} spends weekends on {value}.",
            "For fun, {subject} turns to {value}.",
        ),
        dict(HOBBY_ALIASES),
    ),
)

WORLD_RELATIONS: tuple[RelationSpec, ...] = (
    RelationSpec(
        "city_country",
        "world",
        (
            "Which country is the city of {subject} in?",
            "In which country is {subject}?",
            "{subject} is a city in which country?",
        ),
        (
            "{subject} is in {value}.",
            "The city of {subject} lies in {value}.",
            "{value} is the country where {subject} is.",
            "{subject} is a city in {value}.",
        ),
        _with(COUNTRY_ALIASES, sorted(set(CITY_COUNTRY.values()))),
        dict(CITY_COUNTRY),
    ),
    RelationSpec(
        "university_city",
        "world",
        ("In which city is {subject}?", "Where is {subject} located?", "Which city is home to {subject}?"),
        (
            "{subject} is in {value}.",
            "{subject} is located in {value}.",
            "{value} is home to {subject}.",
            "The campus of {subject} is in {value}.",
        ),
        CITIES,
        dict(UNIVERSITY_CITY),
    ),
    RelationSpec(
        "instrument_family",
        "world",
        (
            "Which family of instruments does the {subject} belong to?",
            "What kind of instrument is the {subject}?",
            "The {subject} is part of which instrument family?",
        ),
        (
            "The {subject} belongs to the {value}.",
            "The {subject} is one of the {value}.",
            "The {value} include the {subject}.",
            "Musicians count the {subject} among the {value}.",
        ),
        _with(FAMILY_ALIASES, sorted(set(INSTRUMENT_FAMILY.values()))),
        dict(INSTRUMENT_FAMILY),
    ),
    RelationSpec(
        "award_field",
        "world",
        (
            "What is the {subject} awarded for?",
            "Which field does the {subject} honor?",
            "For what kind of writing is the {subject} given?",
        ),
        (
            "The {subject} is awarded for {value}.",
            "The {subject} honors {value}.",
            "Writers of {value} compete for the {subject}.",
            "The {subject} is given for {value}.",
        ),
        dict(GENRE_ALIASES),
        dict(AWARD_FIELD),
    ),
)

ALL_RELATIONS: tuple[RelationSpec, ...] = PERSON_RELATIONS + WORLD_RELATIONS
