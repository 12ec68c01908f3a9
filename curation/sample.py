"""Deterministic seeded sample data: a mini-crawl of gzip WARC shards, reference corpora and a benchmark.

Everything is synthetic (a grammar-based prose generator over topic vocabularies), so the pipeline can
be exercised end to end with no network and no external data. Every crawl category that a later stage
must handle (boilerplate, spam, duplicates, benchmark contamination, foreign languages and encodings,
non-HTML, redirects, errors, a malformed record, a truncated shard) is present, and `truth.jsonl` says
which record is which. The same arguments give byte-identical files: all randomness comes from
`random.Random` instances seeded from `seed`, dates from a fixed base, gzip headers carry mtime 0.

Layout under the output directory:
  crawl/sample-NNNNN.warc.gz      gzip WARC, one record per member: warcinfo, then per page a request, a response
                                  (or revisit) and sometimes a metadata record; one shard holds the malformed member
  crawl/sample-truncated.warc.gz  a few complete pages, then a response member cut in half
  reference/webtext.jsonl.gz      {id, text}
  reference/wikipedia.jsonl.gz    {id, title, text}
  reference/books.jsonl.gz        {id, title, author, text}: Gutenberg-style header/footer/licence, \r\n lines
  benchmarks/sample_bench.jsonl   {context, continuation}, LAMBADA-style
  blocklists/adult/domains        a UT1-style blocklist naming the hosts of the crawl's first two spam pages
  truth.jsonl                     per page: url, shard, category, record_id (unique; a revisit shares its
                                  original's url) and duplicate_of / near_duplicate_of (+ jaccard_5gram) /
                                  benchmark_item / revisit_of / language / encoding / content_type / status ...
  sample.json                     the summary returned by generate_sample
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import io
import json
import random
import re
import string
import textwrap
import uuid
import zlib
from collections import Counter, deque
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

from warcio.warcwriter import WARCWriter

# ---------------------------------------------------------------- vocabulary
TOPICS = {  # topic -> (nouns, regular verbs, adjectives)
    "science": (
        "experiment theory molecule laboratory sample telescope particle cell protein galaxy signal "
        "measurement instrument orbit crystal fossil genome reaction sensor",
        "analyze measure observe record describe publish test confirm detect explore compare study",
        "experimental precise microscopic stable chemical magnetic",
    ),
    "history": (
        "empire treaty castle dynasty archive manuscript battle kingdom monastery harbor province merchant "
        "chronicle rebellion cathedral colony emperor village council",
        "conquer defend restore govern settle explore document renovate sign inherit abandon",
        "medieval ancient royal imperial colonial forgotten",
    ),
    "sports": (
        "team match season stadium coach player tournament league goal championship referee trophy striker "
        "defense record fan race medal club",
        "train score defend celebrate qualify compete finish coach support dominate",
        "athletic competitive undefeated professional decisive rival",
    ),
    "cooking": (
        "recipe kitchen sauce oven flavor ingredient dish bakery spice vegetable soup pastry chef market meal "
        "dough butter menu grill",
        "bake roast season simmer taste prepare mix serve slice combine",
        "fresh savory crispy spicy tender homemade",
    ),
    "technology": (
        "software network device processor server algorithm startup database interface battery platform "
        "engineer smartphone browser chip protocol update robot developer",
        "develop launch install design upgrade connect process compute deploy encrypt",
        "digital wireless automated open portable efficient",
    ),
    "travel": (
        "journey island hotel airport passport beach mountain museum tourist ferry route guide village coast "
        "valley station map trail",
        "visit explore travel discover cross reach enjoy hike book wander",
        "scenic remote crowded coastal historic tropical",
    ),
    "nature": (
        "forest river animal habitat fox meadow glacier wetland bird insect seed storm drought lake reef "
        "canyon predator flower soil",
        "migrate protect shelter flood survive adapt hunt observe",
        "wild endangered native seasonal fragile vast",
    ),
    "music": (
        "album concert orchestra melody guitar choir festival composer rhythm singer band symphony lyric piano "
        "studio audience chord drum ballad",
        "compose perform record rehearse release tune arrange celebrate play promote",
        "acoustic melodic classical lively electronic harmonic",
    ),
    "economy": (
        "market company investor budget price bank currency factory export loan worker industry tax profit "
        "contract trade retailer economist policy",
        "invest borrow export hire reduce increase finance manage regulate negotiate",
        "financial fiscal global volatile profitable domestic",
    ),
    "health": (
        "patient doctor clinic vaccine treatment symptom nurse hospital therapy diet disease exercise "
        "medicine researcher injury infection heart virus",
        "treat diagnose prevent recover monitor examine heal prescribe reduce improve",
        "clinical chronic healthy medical preventive mental",
    ),
}
ADJECTIVES = (
    "important new old large small local recent major popular modern traditional remarkable unusual "
    "careful famous difficult simple quiet bright strong early rare common independent detailed practical "
    "regional significant unexpected reliable"
).split()
ADVERBS = (
    "quickly slowly carefully rarely often quietly suddenly gradually eventually steadily widely briefly "
    "frequently openly finally largely partly initially clearly closely"
).split()
PLACES = (
    "Ashford|Brightwater|Caldera Bay|Dunmore|Eastbrook|Fairhaven|Glenrock|Harlow|Ironbridge|Juniper Falls|"
    "Kestrel Point|Lakemont|Millbrook|Northgate|Oakridge|Pinecrest|Queensbury|Riverton|Stonehaven|Thornbury|"
    "Upton|Valemont|Westfield|Yarrow|Zephyr Hills|Lisbon|Nairobi|Osaka|Toronto|Melbourne|Oslo|Lima"
).split("|")
FIRST_NAMES = (
    "Ada Bruno Clara Daniel Elena Felix Grace Hugo Iris Jonas Kara Leon Maya Nadia Oscar Paula Quentin "
    "Rosa Samuel Tara Umar Vera Walter Xenia Yusuf Zoe Arthur Bella Cyrus Dora Emil Freya"
).split()
LAST_NAMES = (
    "Abbott Baker Castillo Dalton Eriksen Fischer Garcia Holloway Ivanova Jensen Kowalski Lindqvist Moreau "
    "Nakamura Okafor Petrov Quinn Romero Sato Thornton Umberg Varga Whitfield Xu Yilmaz Zeller"
).split()
ROLES = (
    "engineer historian scientist farmer teacher journalist researcher architect musician doctor officer "
    "analyst student volunteer designer manager photographer painter writer pilot"
).split()
PERIODS = (
    "a few weeks|several months|the past decade|two long winters|the following year|most of the century|"
    "three seasons|a single afternoon|nearly a generation"
).split("|")
SEASONS = "spring summer autumn winter year month week".split()
KINDS = {
    "Observatory": "science",
    "Institute": "science",
    "Abbey": "history",
    "Castle": "history",
    "Rovers": "sports",
    "Athletic Club": "sports",
    "Bakery": "cooking",
    "Market": "cooking",
    "Systems": "technology",
    "Railway": "travel",
    "Island": "travel",
    "Forest": "nature",
    "River": "nature",
    "Orchestra": "music",
    "Festival": "music",
    "Bank": "economy",
    "Hospital": "health",
}
SYLLABLES = "var nol hem bri sto ka del mor ten ash wyn lo rin ga the ul fen dra mi cor sel ba tor ven".split()

PROSE_TEMPLATES = (
    "The {adj} {noun} {verbed} the {noun2} in {place}.",
    "In {year}, {person} {verbed} a {adj} {noun} that changed how {nouns} were {verbed2}.",
    "Many {nouns} {verb} {adv} when the {noun} becomes {adj}.",
    "According to {person}, the {noun} is more {adj} than most {nouns}.",
    "{person} said the new {noun} would {verb} local {nouns} by {number} percent.",
    "Researchers in {place} {verbed} {number} {nouns} over {period}.",
    "It is often said that {nouns} {verb} the {adj} {noun}.",
    "However, the {noun} was {adv} {verbed} by a {adj} {noun2}.",
    "Experts expect that {adj} {nouns} in {place} will {verb} {adv}.",
    "The {noun} of {place} has long been {adj}, and its {nouns} remain {adj2}.",
    "For {period}, {nouns} were {verbed} {adv} across {place}.",
    "One {adj} {noun} can {verb} several {nouns} at once.",
    "This {noun} {verbs} the {noun2} with {adj} {nouns}.",
    "{person}, a {role} from {place}, {verbed} the {noun} for {number} years.",
    "Few {nouns} are as {adj} as the {noun} that {person} {verbed}.",
    "When the {noun} {verbed}, the {nouns} {adv} {verbed2} the {noun2}.",
    "A {adj} {noun} is not always {adj2}, but it is rarely {adj3}.",
    "The {nouns} in {place} {verbed} a {adj} {noun} last {season}.",
    "Some {roles} argue that every {noun} should {verb} its own {nouns}.",
    "By {year}, nearly {number} {nouns} had been {verbed} in {place}.",
    "The {role} {verbed} the {noun} and then {verbed2} the {adj} {noun2}.",
    "Why the {noun} {verbs} so {adv} is still a {adj} question.",
    "Local {nouns} {verbed} {adv} after the {noun} arrived in {place}.",
    "Most {roles} {verb} the {noun} before they {verb2} any {nouns}.",
    "{person} {adv} {verbed} that the {noun} was too {adj} to {verb}.",
    "Unlike the {noun}, the {noun2} {verbs} {adj} {nouns} every {season}.",
    "The {adj} {nouns} of {place} were first {verbed} in {year}.",
    "Nobody in {place} had {verbed} such a {adj} {noun} before.",
    "As the {noun} grew more {adj}, {person} {verbed} the {nouns} {adv}.",
    "There are at least {number} {adj} {nouns} near {place}.",
    "The report {verbed} how {nouns} {verb} the {noun} in {place}.",
    "After {period}, the {role} finally {verbed} the {adj} {noun}.",
    "{person} and {person2} {verbed} the {noun} together in {year}.",
    "If the {noun} {verbs} {adv}, the {nouns} will {verb} the {noun2}.",
)
FIRST_PERSON_TEMPLATES = (  # webtext: blog-like voice
    "I {verbed} the {noun} last {season} and it was surprisingly {adj}.",
    "Honestly, I never expected the {nouns} in {place} to be this {adj}.",
    "My advice is simple: {verb} the {noun} {adv} and ignore the {adj} {nouns}.",
)
STORY_TEMPLATES = (  # books: narrative voice around a fixed cast
    "{hero} walked {adv} toward the old {noun} at the edge of {place}.",
    '"We must {verb} the {noun} before the {season} ends," said {hero}.',
    "{friend} looked at {hero} and {verbed} the {adj} {noun} without a word.",
    "That night {hero} dreamed of {nouns} and of the {adj} roads to {place}.",
    '"You have always been too {adj}," {friend} replied {adv}.',
    "The {nouns} had {verbed} the village long before {hero} was born.",
)
BENCH_ENDINGS = (
    "When {friend} finally asked who had {verbed} the {adj} {noun}, everyone in the room turned to look at",
    "In the end, the only person in {place} who could {verb} the {noun} was",
    "{friend} smiled, closed the {noun2}, and handed the {adj} {noun} back to",
    "Years later, people in {place} still spoke about the {noun} and about",
)
FOREIGN = {  # lang -> (subjects, verbs, objects, times, places, adjectives, copula, chrome words)
    "de": (
        "Der Lehrer|Die Stadt|Das Team|Der Bürgermeister|Die Regierung|Meine Schwester|Unser Nachbar|Die Firma",
        "besucht|kauft|findet|beschreibt|plant|öffnet|erklärt|baut",
        "einen neuen Garten|das alte Rathaus|die Brücke|ein kleines Geschäft|den Bahnhof|die Schule|das Museum",
        "heute|am Wochenende|jeden Morgen|im Sommer|schon wieder|ohne Pause",
        "in Berlin|in München|in Hamburg|am Fluss|auf dem Land|in Köln",
        "freundlich|bekannt|modern|ruhig|wichtig|beliebt",
        "ist sehr",
        "Startseite|Über uns|Kontakt|Alle Rechte vorbehalten|Nachrichten aus der Region",
    ),
    "fr": (
        "Le professeur|La ville|Notre équipe|Le maire|Ma sœur|Le voisin|La société|Le gouvernement",
        "visite|achète|trouve|décrit|prépare|ouvre|explique|construit",
        "un nouveau jardin|la vieille mairie|le pont|une petite boutique|la gare|l'école|le musée",
        "aujourd'hui|chaque matin|pendant l'été|encore une fois|le week-end|sans pause",
        "à Paris|à Lyon|près de la rivière|à la campagne|à Marseille|à Lille",
        "célèbre|rapide|calme|moderne|agréable|tranquille",
        "est vraiment",
        "Accueil|À propos|Contact|Tous droits réservés|Actualités de la région",
    ),
    "es": (
        "El profesor|La ciudad|Nuestro equipo|El alcalde|Mi hermana|El vecino|La empresa|El gobierno",
        "visita|compra|encuentra|describe|prepara|abre|explica|construye",
        "un jardín nuevo|el antiguo ayuntamiento|el puente|una pequeña tienda|la estación|la escuela|el museo",
        "hoy|cada mañana|durante el verano|otra vez|el fin de semana|sin descanso",
        "en Madrid|en Sevilla|cerca del río|en el campo|en Valencia|en Bilbao",
        "importante|grande|alegre|amable|popular|interesante",
        "es muy",
        "Inicio|Acerca de|Contacto|Todos los derechos reservados|Noticias de la región",
    ),
}
JAPANESE = (
    "私の友達|東京の会社|この町|新しい学校|古い図書館|小さな店",
    "駅の近くで|山の上で|川のそばで|公園で|大阪で",
    "本|音楽|料理|写真|手紙|野菜",
    "買いました|作りました|見ました|読みました|送りました|集めました",
)
ACCENTED = (
    "the café on Rue Molière",
    "a naïve résumé",
    "crème brûlée",
    "the old façade in Zürich",
    "jalapeño salsa",
    "a piñata from São Paulo",
    "the smörgåsbord in Malmö",
    "a fiancée from Besançon",
)
SPAM_KEYWORDS = (
    "cheap viagra|casino bonus|best price|buy now|free spins|online pharmacy|payday loans|weight loss|"
    "replica watches|cheap flights|crypto profit|100% free|no prescription|discount|limited offer|"
    "win big|jackpot|seo services|backlinks|make money fast|work from home|click here|hot deals|"
    "lowest price|order today|risk free"
).split("|")
PRODUCT_ADJECTIVES = "Stainless|Deluxe|Compact|Heavy-Duty|Wireless|Ergonomic|Classic|Premium|Mini|Pro".split("|")
PRODUCT_NOUNS = "Widget|Bracket|Adapter|Cable|Fastener|Hinge|Valve|Charger|Bolt|Filter|Clamp|Socket".split("|")
TRADES = "Plumbers|Electricians|Dentists|Bakeries|Locksmiths|Florists|Accountants|Roofers".split("|")

# ------------------------------------------------------------------ crawl plan
CATEGORY_WEIGHTS = {
    "article": 0.43,
    "boilerplate": 0.07,
    "spam": 0.05,
    "list": 0.06,
    "exact_duplicate": 0.05,
    "near_duplicate": 0.06,
    "reference_near_duplicate": 0.04,
    "benchmark_overlap": 0.03,
    "non_english": 0.05,
    "non_html": 0.05,
    "redirect": 0.03,
    "not_found": 0.03,
    "non_utf8": 0.02,
    "revisit": 0.03,
}
VARIANTS = {  # the k-th page of a category gets variant k % len, so pages >= MIN_PAGES shows every variant
    "list": ("products", "numbers", "directory"),
    "reference_near_duplicate": ("webtext", "wikipedia"),
    "non_english": ("de", "fr", "es"),
    "redirect": (301, 302),
    "non_utf8": ("windows-1252", "shift_jis", "iso-8859-1"),
    "non_html": ("image/png", "text/css", "application/json", "application/javascript"),
}
REQUIRED = [c for c in CATEGORY_WEIGHTS for _ in VARIANTS.get(c, (c,))]  # one page per category variant
MIN_PAGES = len(REQUIRED) + 1  # + the malformed record
BOOKS = 3
BOOK_MIN_WORDS = 20_000
BENCHMARK_ITEMS = 32
SOURCE_POOL = 500  # duplicates copy one of the last SOURCE_POOL articles: bounded memory at any size
TRUNCATED_SHARD_PAGES = 3
BASE_DATE = datetime(2024, 3, 1, tzinfo=timezone.utc)
REASONS = {200: "OK", 301: "Moved Permanently", 302: "Found", 404: "Not Found"}
USER_AGENT = "SampleBot/1.0 (+https://crawler.example.org/bot)"

TOPIC_NAMES = tuple(TOPICS)
WEBTEXT_TEMPLATES = PROSE_TEMPLATES + FIRST_PERSON_TEMPLATES
BOOK_TEMPLATES = PROSE_TEMPLATES + STORY_TEMPLATES * 3
_FIELDS = {
    t: tuple(f for _, f, _, _ in string.Formatter().parse(t) if f)
    for t in PROSE_TEMPLATES + FIRST_PERSON_TEMPLATES + STORY_TEMPLATES + BENCH_ENDINGS
}
_A_BEFORE_VOWEL = re.compile(r"\b([Aa]) (?=[aeiou])")


def _plural(word: str) -> str:
    if word.endswith(("s", "sh", "ch", "x")):
        return word + "es"
    return word[:-1] + "ies" if word.endswith("y") and word[-2] not in "aeiou" else word + "s"


def _past(verb: str) -> str:
    if verb.endswith("e"):
        return verb + "d"
    return verb[:-1] + "ied" if verb.endswith("y") and verb[-2] not in "aeiou" else verb + "ed"


def _lexicon(topic: str) -> dict[str, list[str]]:
    """Word lists per template field kind; topic words weigh double among adjectives."""
    nouns, verbs, adjectives = (s.split() for s in TOPICS[topic])
    return {
        "noun": nouns,
        "nouns": [_plural(n) for n in nouns],
        "verb": verbs,
        "verbed": [_past(v) for v in verbs],
        "verbs": [_plural(v) for v in verbs],
        "adj": adjectives * 2 + ADJECTIVES,
        "adv": ADVERBS,
        "place": PLACES,
        "role": ROLES,
        "roles": [_plural(r) for r in ROLES],
        "period": PERIODS,
        "season": SEASONS,
    }


LEXICONS = {topic: _lexicon(topic) for topic in TOPICS}
NOUN_FORMS = {topic: set(words["noun"] + words["nouns"]) for topic, words in LEXICONS.items()}


def _fill(rng: random.Random, template: str, topic: str, cast: dict[str, str] | None = None) -> str:
    words = LEXICONS[topic]
    values = {}
    for name in _FIELDS[template]:
        kind = name.rstrip("0123456789")
        if cast and kind in cast:
            values[name] = cast[kind]
        elif kind == "person":
            values[name] = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        elif kind in ("year", "number"):
            values[name] = str(rng.randrange(1850, 2024) if kind == "year" else rng.randrange(2, 500))
        else:
            values[name] = rng.choice(words[kind])
    text = _A_BEFORE_VOWEL.sub(r"\1n ", template.format(**values))
    return text[0].upper() + text[1:] if text[0] != '"' else text[0] + text[1].upper() + text[2:]


def sentence(rng: random.Random, topic: str, templates=PROSE_TEMPLATES, cast=None) -> str:
    return _fill(rng, rng.choice(templates), topic, cast)


def prose_paragraphs(rng: random.Random, topic: str, count: int, templates=PROSE_TEMPLATES) -> list[str]:
    return [" ".join(sentence(rng, topic, templates) for _ in range(rng.randint(3, 6))) for _ in range(count)]


def title_for(rng: random.Random, topic: str) -> str:
    words = LEXICONS[topic]
    pattern = rng.randrange(3)
    if pattern == 0:
        text = f"{rng.choice(words['adj'])} {rng.choice(words['nouns'])} in {rng.choice(PLACES)}"
    elif pattern == 1:
        text = f"How {rng.choice(words['nouns'])} {rng.choice(words['verb'])} the {rng.choice(words['noun'])}"
    else:
        text = f"Why the {rng.choice(words['noun'])} matters for {rng.choice(words['nouns'])}"
    return text[0].upper() + text[1:]


def word_ngram_jaccard(a: str, b: str, n: int = 5) -> float:
    """Jaccard similarity of the sets of whitespace-token n-grams: how near duplicates are scored here."""

    def grams(text):
        tokens = text.split()
        return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}

    ga, gb = grams(a), grams(b)
    return len(ga & gb) / len(ga | gb) if ga or gb else 1.0


def guess_topic(text: str) -> str:
    """The topic whose nouns occur most in `text` (reference docs do not record theirs)."""
    words = set(re.findall(r"[a-z]+", text.lower()))
    return max(TOPIC_NAMES, key=lambda topic: len(words & NOUN_FORMS[topic]))


def near_copy(rng: random.Random, source: list[str], topic: str) -> tuple[list[str], float]:
    """`source` paragraphs with words swapped for other words of the same text (and maybe a `topic`
    sentence added) until the word 5-gram Jaccard falls to a seeded target in [0.77, 0.9]; returns
    the copy and its similarity."""
    target = rng.uniform(0.77, 0.9)
    copy = [p.split() for p in source]
    if rng.random() < 0.5:
        copy[rng.randrange(len(copy))].extend(sentence(rng, topic).split())
    original = " ".join(source)
    positions = [(p, w) for p, words in enumerate(copy) for w in range(len(words))]
    rng.shuffle(positions)
    replacements = list(dict.fromkeys(w.lower() for w in re.findall(r"[A-Za-z]{4,}", original)))
    similarity = word_ngram_jaccard(original, " ".join(" ".join(w) for w in copy))
    while similarity > target and positions:
        # each replaced word changes up to 5 of the ~N 5-grams: estimate how many more edits reach target
        batch = max(1, round(len(original.split()) * (similarity - target) / (5 * (1 + target)) * 0.8))
        for p, w in positions[:batch]:
            word = copy[p][w]
            stem = word.rstrip('.,;:!?"')
            new = rng.choice(replacements)
            copy[p][w] = (new.capitalize() if stem[:1].isupper() else new) + word[len(stem) :]
        del positions[:batch]
        similarity = word_ngram_jaccard(original, " ".join(" ".join(w) for w in copy))
    return [" ".join(words) for words in copy], similarity


# ---------------------------------------------------------------- references
def webtext_doc(rng: random.Random, index: int) -> dict:
    topic = rng.choice(TOPIC_NAMES)
    body = prose_paragraphs(rng, topic, rng.randint(4, 7), WEBTEXT_TEMPLATES)
    return {"id": f"webtext-{index:06d}", "text": "\n\n".join([title_for(rng, topic)] + body)}


def wikipedia_doc(rng: random.Random, index: int, title: str) -> dict:
    kind = title.split(" ", 1)[1]
    topic = KINDS[kind]
    lead = (
        f"{title} is a {rng.choice(LEXICONS[topic]['adj'])} {kind.lower()} in {rng.choice(PLACES)}. "
        f"It was founded in {rng.randrange(1500, 2010)} by {rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}. "
        + " ".join(sentence(rng, topic) for _ in range(rng.randint(2, 4)))
    )
    parts = [lead]
    for heading in rng.sample(["History", "Description", "Organisation", "Reception", "Legacy"], rng.randint(2, 3)):
        parts.append(heading)
        parts.extend(
            f"In {rng.randrange(1600, 2020)}, {title} {rng.choice(LEXICONS[topic]['verbed'])} "
            f"the {rng.choice(LEXICONS[topic]['noun'])}. " + p
            for p in prose_paragraphs(rng, topic, 2)
        )
    return {"id": f"wikipedia-{index:06d}", "title": title, "text": "\n\n".join(parts)}


def wikipedia_titles(rng: random.Random, count: int) -> list[str]:
    titles: list[str] = []
    seen: set[str] = set()
    while len(titles) < count:
        name = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()
        title = f"{name} {rng.choice(list(KINDS))}"
        if title not in seen:
            seen.add(title)
            titles.append(title)
    return titles


GUTENBERG_LICENCE = (
    "Updated editions will replace the previous one. Creating the works from print editions not protected by "
    "copyright law means that no one owns a copyright in these works. This sample licence is synthetic and "
    "imitates the layout of a public-domain ebook licence for testing purposes only. You may copy it, give it "
    "away or re-use it under the terms of this licence included with this ebook. If you are not located in the "
    "sample country, check the laws of the country where you are located before using this ebook."
)


def book(rng: random.Random, index: int) -> dict:
    """A novel-length narrative (>= BOOK_MIN_WORDS words) wrapped in a Gutenberg-like header, footer and
    licence, hard-wrapped at 72 columns with \\r\\n line ends, as the real files are."""
    topic = rng.choice(TOPIC_NAMES)
    title = (
        f"The {rng.choice(ADJECTIVES).capitalize()} {rng.choice(LEXICONS[topic]['noun']).capitalize()} "
        f"of {rng.choice(PLACES)}"
    )
    author = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
    cast = dict(zip(("hero", "friend"), rng.sample(FIRST_NAMES, 2)))
    chapters, words = [], 0
    while words < BOOK_MIN_WORDS + 500:
        chapter = [f"CHAPTER {len(chapters) + 1}."]
        for _ in range(rng.randint(12, 20)):
            text = " ".join(sentence(rng, topic, BOOK_TEMPLATES, cast) for _ in range(rng.randint(4, 8)))
            words += len(text.split())
            chapter.append(textwrap.fill(text, 72))
        chapters.append("\n\n".join(chapter))
    marker = title.upper()
    text = "\n".join(
        [
            f"The Project Gutenberg eBook of {title}, by {author}",
            "",
            "This eBook is for the use of anyone anywhere at no cost and with almost no restrictions whatsoever.",
            "",
            f"Title: {title}",
            f"Author: {author}",
            f"Release Date: March {index + 1}, 2024 [eBook #{90000 + index}]",
            "Language: English",
            "",
            f"*** START OF THE PROJECT GUTENBERG EBOOK {marker} ***",
            "",
            title,
            "",
            f"by {author}",
            "",
            "\n\n\n".join(chapters),
            "",
            f"*** END OF THE PROJECT GUTENBERG EBOOK {marker} ***",
            "",
            "START: FULL LICENSE",
            "",
            textwrap.fill(GUTENBERG_LICENCE, 72),
            "",
        ]
    )
    return {"id": f"books-{index:06d}", "title": title, "author": author, "text": text.replace("\n", "\r\n")}


def benchmark_item(rng: random.Random) -> dict:
    """A LAMBADA-style item: the continuation is a name introduced earlier in the >= 30-word context."""
    topic = rng.choice(TOPIC_NAMES)
    hero, friend = rng.sample(FIRST_NAMES, 2)
    parts = [
        f"{hero} had waited all {rng.choice(SEASONS)} for the {rng.choice(LEXICONS[topic]['noun'])} "
        f"to arrive in {rng.choice(PLACES)}."
    ]
    while len(" ".join(parts).split()) < 30:
        parts.append(sentence(rng, topic))
    parts.append(sentence(rng, topic, BENCH_ENDINGS, {"friend": friend}))
    return {"context": " ".join(parts), "continuation": " " + hero}


# --------------------------------------------------------------------- pages
@dataclass(frozen=True)
class Page:
    """One crawl capture: what goes into the WARC records and the ground truth about it."""

    url: str
    category: str
    date: datetime
    record_id: str
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    body: bytes = b""
    headers: tuple[str, ...] = ()
    truth: dict = field(default_factory=dict)
    paragraphs: tuple[str, ...] = ()
    topic: str = ""
    title: str = ""
    revisit_of: Page | None = None


def _host(rng: random.Random, prefix: str, tld: str = "com") -> str:
    return f"{prefix}-{rng.randrange(5):02d}.example.{tld}"


def _slug(text: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in text.lower()).split())[:60]


def _esc(text: str) -> str:
    return html.escape(text, quote=False)


def _links(labels, separator=" | ") -> str:
    return separator.join(f'<a href="/{_slug(label) or "home"}">{_esc(label)}</a>' for label in labels)


def html_page(lang: str, title: str, main: str, site: str, nav: list[str], footer: str, head: str = "") -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>{head}<title>{_esc(title)}</title></head>\n<body>\n'
        f'<header><div class="logo">{_esc(site)}</div><nav>{_links(nav)}</nav></header>\n{main}\n'
        f"<footer><p>&copy; 2024 {_esc(site)}. {_esc(footer)}</p>"
        f"<p>{_links(['Privacy', 'Terms', 'Cookies', 'Contact'])}</p></footer>\n</body>\n</html>\n"
    )


def article_html(rng: random.Random, site: str, title: str, paras, topic: str) -> str:
    body = "\n".join(f"<p>{_esc(p)}</p>" for p in paras)
    related = "".join(f"<li>{_links([title_for(rng, topic)])}</li>" for _ in range(3))
    main = (
        f'<main><article><h1>{_esc(title)}</h1>\n<p class="byline">By {rng.choice(FIRST_NAMES)} '
        f"{rng.choice(LAST_NAMES)} | {topic.capitalize()}</p>\n{body}\n</article>\n"
        f"<aside><h2>Related</h2><ul>{related}</ul></aside></main>"
    )
    nav = ["Home", "World", "Science", "Sports", "Travel", "Opinion", "About"]
    return html_page("en", title, main, site, nav, "All rights reserved.", '<meta charset="utf-8">')


def boilerplate_html(rng: random.Random, site: str) -> str:
    topic = rng.choice(TOPIC_NAMES)
    months = [f"{m} 2024" for m in ("January", "February", "March", "April", "May", "June")]
    blocks = [
        '<div class="cookie-banner">We use cookies to improve your experience. By continuing to browse you agree '
        'to our use of cookies. <a href="/accept">Accept</a> | <a href="/reject">Reject</a> | '
        '<a href="/cookies">Manage preferences</a></div>',
        f'<div class="menu">{_links(["Home", "About", "Contact"])}</div>',
        f'<ul class="sitemap">{"".join(f"<li>{_links([t])}</li>" for t in rng.sample(TOPIC_NAMES, 8))}</ul>',
        f'<div class="content"><p>{_esc(sentence(rng, topic))}</p></div>',
        f'<div class="sidebar"><h3>Archives</h3>{_links(months, "<br>")}<h3>Tags</h3>'
        f"{_links(rng.sample(LEXICONS[topic]['noun'], 8), ', ')}</div>",
        '<div class="newsletter">Subscribe to our newsletter! Enter your email address: <input type="email"> '
        "<button>Sign up</button> Follow us on Facebook | Twitter | Instagram | YouTube</div>",
        '<div class="share">Share this page: Email | Print | Facebook | Twitter | LinkedIn</div>',
    ]
    return html_page(
        "en",
        f"{site} - Home",
        "\n".join(blocks),
        site,
        ["Home", "About", "Contact", "Login", "Register", "Help", "FAQ", "Sitemap"],
        "All rights reserved. Powered by SiteBuilder.",
    )


def spam_html(rng: random.Random) -> str:
    stuffing = [
        "<p>" + " ".join(rng.choices(SPAM_KEYWORDS, k=rng.randint(25, 50))) + " buy now!!!</p>"
        for _ in range(rng.randint(3, 6))
    ]
    links = "".join(f'<a href="/go/{_slug(k)}">{k}</a> ' for k in rng.sample(SPAM_KEYWORDS, 12))
    title = " ".join(rng.sample(SPAM_KEYWORDS, 6)).title()
    head = f'<meta charset="utf-8"><meta name="keywords" content="{", ".join(rng.sample(SPAM_KEYWORDS, 15))}">'
    return html_page(
        "en",
        title,
        "\n".join(stuffing) + f"\n<div>{links}</div>",
        "Best Deals Online",
        ["Home", "Casino", "Pharmacy", "Loans"],
        "Best price guaranteed.",
        head,
    )


def list_html(rng: random.Random, variant: str) -> tuple[str, str]:
    """Machine-generated tables; returns (title, html)."""
    if variant == "products":
        title = "Product catalogue - page " + str(rng.randint(1, 400))
        rows = [
            (
                f"SKU-{rng.randrange(10**6):06d}",
                f"{rng.choice(PRODUCT_ADJECTIVES)} {rng.choice(PRODUCT_NOUNS)} {rng.randint(2, 40)}mm",
                f"${rng.randint(1, 300)}.{rng.randrange(100):02d}",
                rng.choice(("In stock", "Sold out", "2-3 days")),
            )
            for _ in range(rng.randint(30, 70))
        ]
        header = ("SKU", "Product", "Price", "Availability")
    elif variant == "numbers":
        title = f"Quarterly statistics table {rng.randint(1, 99)}"
        start = rng.randrange(1950, 1990)
        rows = [
            (str(start + i),) + tuple(f"{rng.uniform(0, 10000):.2f}" for _ in range(4))
            for i in range(rng.randint(25, 45))
        ]
        header = ("Year", "Q1", "Q2", "Q3", "Q4")
    else:
        trade, place = rng.choice(TRADES), rng.choice(PLACES)
        title = f"{trade} in {place} - business directory"
        rows = [
            (
                f"{rng.choice(LAST_NAMES)} & {rng.choice(LAST_NAMES)} {trade[:-1]}",
                f"{rng.randint(1, 999)} {rng.choice(LAST_NAMES)} Street, {place}",
                f"(555) 01{rng.randrange(100):02d}-{rng.randrange(10000):04d}",
            )
            for _ in range(rng.randint(30, 60))
        ]
        header = ("Name", "Address", "Phone")
    cells = "\n".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    table = f"<table><tr>{''.join(f'<th>{h}</th>' for h in header)}</tr>\n{cells}\n</table>"
    return title, html_page(
        "en",
        title,
        f"<main><h1>{_esc(title)}</h1>\n{table}</main>",
        "AutoIndex",
        ["Home", "Categories", "A-Z", "Contact"],
        "Data updated automatically.",
        '<meta charset="utf-8">',
    )


def foreign_html(rng: random.Random, lang: str) -> str:
    subjects, verbs, objects, times, places, adjectives = (words.split("|") for words in FOREIGN[lang][:6])
    copula, chrome = FOREIGN[lang][6], FOREIGN[lang][7].split("|")

    def line():
        if rng.random() < 0.25:
            return f"{rng.choice(subjects)} {copula} {rng.choice(adjectives)}."
        return " ".join(rng.choice(words) for words in (subjects, verbs, times, objects, places)) + "."

    paras = "\n".join(
        "<p>" + _esc(" ".join(line() for _ in range(rng.randint(3, 6)))) + "</p>" for _ in range(rng.randint(3, 6))
    )
    title = chrome[4]
    return html_page(
        lang,
        title,
        f"<main><article><h1>{_esc(title)}</h1>\n{paras}\n</article></main>",
        title,
        chrome[:3],
        chrome[3] + ".",
        '<meta charset="utf-8">',
    )


def encoded_html(rng: random.Random, encoding: str) -> tuple[str, bytes]:
    """A legacy-encoded page; returns (HTTP Content-Type, body). Latin pages declare the charset in the
    HTTP header only, the Shift_JIS page in a <meta charset> tag only."""
    if encoding == "shift_jis":
        subjects, places, objects, verbs = (s.split("|") for s in JAPANESE)
        paras = "\n".join(
            "<p>"
            + "".join(
                f"{rng.choice(subjects)}は{rng.choice(places)}{rng.choice(objects)}を{rng.choice(verbs)}。"
                for _ in range(rng.randint(3, 6))
            )
            + "</p>"
            for _ in range(rng.randint(3, 5))
        )
        page = html_page(
            "ja",
            "町のニュース",
            f"<main><article>{paras}</article></main>",
            "町のニュース",
            ["ホーム", "お問い合わせ"],
            "著作権所有",
            '<meta charset="Shift_JIS">',
        )
        return "text/html", page.encode("shift_jis")
    topic = rng.choice(TOPIC_NAMES)
    price = "€" if encoding == "windows-1252" else "£"
    quote = ("\u201c", "\u201d") if encoding == "windows-1252" else ('"', '"')
    paras = [
        " ".join(
            [
                sentence(rng, topic),
                f"{quote[0]}We loved {rng.choice(ACCENTED)}{quote[1]}, said "
                f"{rng.choice(FIRST_NAMES)}, paying {price}{rng.randint(3, 40)} for {rng.choice(ACCENTED)}.",
                sentence(rng, topic),
            ]
        )
        for _ in range(rng.randint(3, 5))
    ]
    page = article_html(rng, "Café Zürich Journal", "Notes from the café in Zürich", paras, topic)
    return f"text/html; charset={encoding}", page.replace('<meta charset="utf-8">', "").encode(encoding)


def non_html_body(rng: random.Random, content_type: str) -> bytes:
    if content_type == "image/png":
        return b"\x89PNG\r\n\x1a\n" + rng.randbytes(rng.randint(200, 2000))
    if content_type == "text/css":
        return "".join(
            f".{rng.choice(SYLLABLES)}-{i} {{ margin: {rng.randint(0, 20)}px; color: #{rng.randrange(16**6):06x}; }}\n"
            for i in range(rng.randint(10, 40))
        ).encode()
    if content_type == "application/json":
        items = [
            {"id": rng.randrange(10**6), "name": rng.choice(LAST_NAMES), "score": rng.randint(0, 100)}
            for _ in range(rng.randint(5, 30))
        ]
        return json.dumps({"items": items}).encode()
    return "".join(
        f"function {rng.choice(SYLLABLES)}{i}(x) {{ return x * {rng.randint(2, 9)}; }}\n"
        for i in range(rng.randint(10, 40))
    ).encode()


def status_html(status: int, location: str = "") -> bytes:
    if status == 404:
        return html_page(
            "en",
            "404 Not Found",
            "<main><h1>Page not found</h1><p>Sorry, the page you are looking "
            "for does not exist. Try the search or go back to the homepage.</p></main>",
            "Site",
            ["Home", "Search", "Contact"],
            "All rights reserved.",
        ).encode()
    return (
        f"<html><head><title>{status} {REASONS[status]}</title></head><body><h1>{REASONS[status]}</h1>"
        f'<p>The document has moved <a href="{location}">here</a>.</p></body></html>\n'
    ).encode()


def plan_categories(rng: random.Random, pages: int, shards: int) -> list[str]:
    """Seeded category order: one page per variant of every category, the rest drawn by weight; the
    first page is an article (duplicates need a source) and the malformed record sits inside a shard."""
    drawn = rng.choices(list(CATEGORY_WEIGHTS), list(CATEGORY_WEIGHTS.values()), k=pages - MIN_PAGES)
    rest = REQUIRED + drawn
    rest.remove("article")
    rng.shuffle(rest)
    plan = ["article"] + rest
    shard = rng.randrange(shards)
    start, end = shard * pages // shards, (shard + 1) * pages // shards
    plan.insert(rng.randrange(start + 1, end - 1), "malformed")
    return plan


def _record_id(rng: random.Random) -> str:
    return f"<urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}>"


def iter_pages(rng: random.Random, plan: list[str], references: dict, bench: list[dict], first_index: int = 0):
    """Pages for `plan` in crawl order; duplicates copy one of the last SOURCE_POOL plain articles."""
    sources: deque[Page] = deque(maxlen=SOURCE_POOL)
    seen: Counter = Counter()
    clock = BASE_DATE
    for index, category in enumerate(plan, first_index):
        clock += timedelta(seconds=rng.randint(1, 40))
        variants = VARIANTS.get(category)
        variant = variants[seen[category] % len(variants)] if variants else None
        seen[category] += 1
        page = dict(category=category, date=clock, record_id=_record_id(rng))
        topic = rng.choice(TOPIC_NAMES)
        if category in ("article", "benchmark_overlap"):
            host, title = _host(rng, "news"), title_for(rng, topic)
            paras = prose_paragraphs(rng, topic, rng.randint(5, 9))
            if category == "benchmark_overlap":
                item_index = (seen[category] - 1) % len(bench)
                item = bench[item_index]
                paras.insert(len(paras) // 2, item["context"] + item["continuation"] + ".")
                page["truth"] = {"benchmark_item": item_index}
            page.update(
                url=f"https://{host}/{topic}/{_slug(title)}-{index}.html",
                topic=topic,
                title=title,
                paragraphs=tuple(paras),
                body=article_html(rng, host, title, paras, topic).encode(),
            )
        elif category in ("exact_duplicate", "near_duplicate", "revisit"):
            source = rng.choice(sources)
            if category == "exact_duplicate":
                url = (
                    f"https://{_host(rng, 'mirror', 'org')}/copy/{index}.html"
                    if rng.random() < 0.5
                    else f"{source.url}?utm_source=feed&id={index}"
                )
                page.update(url=url, body=source.body, truth={"duplicate_of": source.url})
            elif category == "near_duplicate":
                host = _host(rng, "blog")
                paras, similarity = near_copy(rng, list(source.paragraphs), source.topic)
                page.update(
                    url=f"https://{host}/repost/{index}.html",
                    topic=source.topic,
                    body=article_html(rng, host, source.title, paras, source.topic).encode(),
                    truth={"near_duplicate_of": source.url, "jaccard_5gram": round(similarity, 4)},
                )
            else:
                page.update(url=source.url, revisit_of=source, truth={"revisit_of": source.record_id})
        elif category == "reference_near_duplicate":
            doc = rng.choice(references[variant])
            host = _host(rng, "reprint", "org")
            doc_paras, topic = doc["text"].split("\n\n"), guess_topic(doc["text"])
            paras, similarity = near_copy(rng, doc_paras, topic)
            page.update(
                url=f"https://{host}/{variant}/{index}.html",
                body=article_html(rng, host, doc.get("title", doc_paras[0][:60]), paras, topic).encode(),
                truth={"near_duplicate_of": doc["id"], "jaccard_5gram": round(similarity, 4)},
            )
        elif category == "boilerplate":
            host = _host(rng, "portal", "org")
            page.update(url=f"https://{host}/index-{index}.html", body=boilerplate_html(rng, host).encode())
        elif category == "spam":
            page.update(
                url=f"https://{_host(rng, 'best-deals', 'net')}/offer-{index}.html", body=spam_html(rng).encode()
            )
        elif category == "list":
            title, text = list_html(rng, variant)
            page.update(
                url=f"https://{_host(rng, 'shop' if variant == 'products' else 'directory', 'net')}/"
                f"{variant}/{_slug(title)}-{index}.html",
                body=text.encode(),
                truth={"variant": variant},
            )
        elif category == "non_english":
            prefix = {"de": "nachrichten", "fr": "journal", "es": "noticias"}[variant]
            page.update(
                url=f"https://{_host(rng, prefix)}/artikel-{index}.html",
                body=foreign_html(rng, variant).encode(),
                truth={"language": variant},
            )
        elif category == "non_utf8":
            content_type, body = encoded_html(rng, variant)
            host = _host(rng, "nihongo" if variant == "shift_jis" else "legacy")
            page.update(
                url=f"https://{host}/page-{index}.html",
                content_type=content_type,
                body=body,
                truth={"encoding": variant},
            )
        elif category == "non_html":
            ext = {"image/png": "png", "text/css": "css", "application/json": "json"}.get(variant, "js")
            page.update(
                url=f"https://{_host(rng, 'cdn', 'net')}/static/asset-{index}.{ext}",
                body=non_html_body(rng, variant),
                content_type=variant if variant == "image/png" else f"{variant}; charset=utf-8",
                truth={"content_type": variant},
            )
        elif category == "redirect":
            host = _host(rng, "news")
            location = f"https://{host}/{topic}/moved-{index}.html"
            page.update(
                url=f"http://{host}/old/{index}.html",
                status=variant,
                body=status_html(variant, location),
                content_type="text/html; charset=iso-8859-1",
                headers=(f"Location: {location}",),
                truth={"status": variant, "location": location},
            )
        elif category == "not_found":
            page.update(
                url=f"https://{_host(rng, 'news')}/{topic}/missing-{index}.html",
                status=404,
                body=status_html(404),
                truth={"status": 404},
            )
        else:  # malformed: the body is the raw WARC record, see malformed_record
            url = f"https://{_host(rng, 'news')}/{topic}/damaged-{index}.html"
            page.update(url=url, body=malformed_record(url, clock, page["record_id"]))
        result = Page(**page)
        if category == "article":
            sources.append(result)
        yield result


# ---------------------------------------------------------------------- WARC
def _gzip_member(data: bytes, level: int = 9) -> bytes:
    compressor = zlib.compressobj(level, zlib.DEFLATED, zlib.MAX_WBITS + 16)  # as warcio: header mtime 0
    return compressor.compress(data) + compressor.flush()


def malformed_record(url: str, date: datetime, record_id: str) -> bytes:
    """A response record with a broken header: warcio raises ArchiveLoadFailed on the version line
    `WARC/1.x`; a lenient parser that skips it still meets a non-numeric Content-Length."""
    return (
        f"WARC/1.x\r\nWARC-Type: response\r\nWARC-Date: {_warc_date(date)}\r\nWARC-Record-ID: {record_id}\r\n"
        f"WARC-Target-URI: {url}\r\nContent-Length: notanumber\r\n\r\nHTTP/1.1 200 OK\r\n"
        "Content-Type: text/html\r\n\r\n<html><body><p>damaged</p></body></html>\r\n\r\n"
    ).encode()


def payload_digest(body: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(body).digest()).decode()


def _warc_date(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%SZ}"


def _record(writer: WARCWriter, page: Page, record_type: str, payload: bytes, **headers) -> None:
    warc_headers = {"WARC-Type": record_type, "WARC-Date": _warc_date(page.date), **headers}
    writer.write_record(
        writer.create_warc_record(
            page.url, record_type, payload=io.BytesIO(payload), length=len(payload), warc_headers_dict=warc_headers
        )
    )


def write_page(writer: WARCWriter, out, rng: random.Random, page: Page, warcinfo_id: str) -> None:
    """request, then response (or revisit), then sometimes metadata; a malformed page is its raw member."""
    if page.category == "malformed":
        out.write(_gzip_member(page.body))
        return
    host, _, path = page.url.split("://", 1)[1].partition("/")
    request = (
        f"GET /{path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {USER_AGENT}\r\nAccept: text/html,application/"
        "xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: "
        "gzip\r\nConnection: close\r\n\r\n"
    ).encode()
    _record(
        writer,
        page,
        "request",
        request,
        **{"WARC-Record-ID": _record_id(rng), "WARC-Concurrent-To": page.record_id, "WARC-Warcinfo-ID": warcinfo_id},
    )
    body = page.revisit_of.body if page.revisit_of else page.body
    head = [
        f"HTTP/1.1 {page.status} {REASONS[page.status]}",
        f"Date: {format_datetime(page.date, usegmt=True)}",
        "Server: nginx",
        f"Content-Type: {page.content_type}",
        f"Content-Length: {len(body)}",
        *page.headers,
        "Connection: close",
    ]
    head_bytes = ("\r\n".join(head) + "\r\n\r\n").encode()
    if page.revisit_of:
        _record(
            writer,
            page,
            "revisit",
            head_bytes,
            **{
                "WARC-Record-ID": page.record_id,
                "WARC-Warcinfo-ID": warcinfo_id,
                "WARC-Profile": "http://netpreserve.org/warc/1.0/revisit/identical-payload-digest",
                "WARC-Refers-To-Target-URI": page.revisit_of.url,
                "WARC-Refers-To-Date": _warc_date(page.revisit_of.date),
                "WARC-Payload-Digest": payload_digest(body),
            },
        )
        return
    _record(
        writer,
        page,
        "response",
        head_bytes + body,
        **{"WARC-Record-ID": page.record_id, "WARC-Warcinfo-ID": warcinfo_id},
    )
    if rng.random() < 0.3:
        _record(
            writer,
            page,
            "metadata",
            f"fetchTimeMs: {rng.randint(20, 900)}\r\n".encode(),
            **{
                "WARC-Record-ID": _record_id(rng),
                "WARC-Refers-To": page.record_id,
                "WARC-Concurrent-To": page.record_id,
            },
        )


def gzip_member_ends(data: bytes) -> list[int]:
    """End offset of every complete gzip member in `data`: where a reader can resynchronise."""
    ends, position = [], 0
    while position < len(data):
        decompressor = zlib.decompressobj(zlib.MAX_WBITS + 16)
        decompressor.decompress(data[position:])
        if not decompressor.eof:
            break
        position = len(data) - len(decompressor.unused_data)
        ends.append(position)
    return ends


def write_shard(path: Path, pages, seed: int, truth_out, cut_last: bool = False) -> None:
    """One WARC file (warcinfo first, one record per gzip member) plus a truth line per page; with
    `cut_last` the last page's response member is cut in half and nothing follows it."""
    rng = random.Random(f"{seed}:warc:{path.name}")
    pages = list(pages) if cut_last else pages
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        warcinfo_id = _record_id(rng)
        fields = (
            f"software: curation.sample\r\nformat: WARC File Format 1.0\r\nisPartOf: sample-crawl-seed-{seed}"
            f"\r\nrobots: classic\r\n"
        ).encode()
        writer.write_record(
            writer.create_warc_record(
                "",
                "warcinfo",
                payload=io.BytesIO(fields),
                length=len(fields),
                warc_content_type="application/warc-fields",
                warc_headers_dict={
                    "WARC-Type": "warcinfo",
                    "WARC-Date": _warc_date(BASE_DATE),
                    "WARC-Record-ID": warcinfo_id,
                    "WARC-Filename": path.name,
                },
            )
        )
        for number, page in enumerate(pages):
            if cut_last and number == len(pages) - 1:
                buffer = io.BytesIO()
                write_page(WARCWriter(buffer, gzip=True), buffer, rng, page, warcinfo_id)
                request_end, response_end = gzip_member_ends(buffer.getvalue())[:2]
                out.write(buffer.getvalue()[: (request_end + response_end) // 2])
            else:
                write_page(writer, out, rng, page, warcinfo_id)
            truth = {"url": page.url, "shard": path.name, "category": page.category, "record_id": page.record_id}
            truth_out.write(json.dumps({**truth, **page.truth}, ensure_ascii=False) + "\n")


# ------------------------------------------------------------------- driver
def _jsonl_gz(path: Path, rows) -> None:
    data = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()
    path.write_bytes(_gzip_member(data))


def generate_sample(output_dir, pages: int = 600, seed: int = 0, shards: int = 6, reference_docs: int = 300) -> dict:
    """Write the sample under `output_dir` (layout in the module docstring) and return the summary that is
    also written to `output_dir/sample.json`. `reference_docs` is the size of webtext and of wikipedia each."""
    if pages < MIN_PAGES or shards < 1 or pages < 3 * shards or reference_docs < 1:
        raise ValueError(f"need pages >= {MIN_PAGES}, shards >= 1, pages >= 3 * shards, reference_docs >= 1")
    out = Path(output_dir)
    for sub in ("crawl", "reference", "benchmarks"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    for stale in (out / "crawl").glob("sample-*.warc.gz"):  # a reader globbing crawl/ must see this run only
        stale.unlink()

    reference_rng = random.Random(f"{seed}:reference")
    references = {
        "webtext": [webtext_doc(reference_rng, i) for i in range(reference_docs)],
        "wikipedia": [
            wikipedia_doc(reference_rng, i, t) for i, t in enumerate(wikipedia_titles(reference_rng, reference_docs))
        ],
        "books": [book(reference_rng, i) for i in range(BOOKS)],
    }
    for name, docs in references.items():
        _jsonl_gz(out / "reference" / f"{name}.jsonl.gz", docs)
    bench_rng = random.Random(f"{seed}:benchmark")
    bench = [benchmark_item(bench_rng) for _ in range(BENCHMARK_ITEMS)]
    (out / "benchmarks" / "sample_bench.jsonl").write_text(
        "".join(json.dumps(b) + "\n" for b in bench), encoding="utf-8"
    )

    crawl_rng = random.Random(f"{seed}:crawl")
    plan = plan_categories(crawl_rng, pages, shards)
    stream = iter_pages(crawl_rng, plan, references, bench)
    files = []
    with open(out / "truth.jsonl", "w", encoding="utf-8") as truth_out:
        for shard in range(shards):
            path = out / "crawl" / f"sample-{shard:05d}.warc.gz"
            size = (shard + 1) * pages // shards - shard * pages // shards
            write_shard(path, (next(stream) for _ in range(size)), seed, truth_out)
            files.append(path)
        cut_plan = ["article"] * (TRUNCATED_SHARD_PAGES + 1)
        cut_pages = list(iter_pages(random.Random(f"{seed}:truncated"), cut_plan, references, bench, pages))
        cut_pages[-1] = replace(cut_pages[-1], category="truncated")
        write_shard(out / "crawl" / "sample-truncated.warc.gz", cut_pages, seed, truth_out, cut_last=True)

    files += [
        out / "crawl" / "sample-truncated.warc.gz",
        *(out / "reference" / f"{n}.jsonl.gz" for n in references),
        out / "benchmarks" / "sample_bench.jsonl",
        write_blocklist(out),
        out / "truth.jsonl",
        out / "sample.json",
    ]
    summary = {
        "seed": seed,
        "pages": pages,
        "shards": shards,
        "reference_docs": reference_docs,
        "categories": dict(sorted(Counter(plan).items())),
        "truncated_shard": {"complete_pages": TRUNCATED_SHARD_PAGES, "cut_pages": 1},
        "reference": {name: len(docs) for name, docs in references.items()},
        "benchmark_items": len(bench),
        "files": [p.relative_to(out).as_posix() for p in files],
    }
    (out / "sample.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def write_blocklist(out: Path) -> Path:
    """blocklists/adult/domains, in the layout of the UT1 blocklists the rules stage reads: the hosts of the
    first two spam pages of the crawl (from truth.jsonl), so that the demo drops documents by blocklist."""
    hosts = []
    for line in (out / "truth.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["category"] == "spam" and len(hosts) < 2:
            hosts.append(row["url"].split("://", 1)[1].split("/", 1)[0])
    path = out / "blocklists" / "adult" / "domains"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# the sample's blocklist: spam hosts of the sample crawl\n"
        + "".join(f"{host}\n" for host in dict.fromkeys(hosts)),
        encoding="utf-8",
    )
    return path


def existing_sample(output_dir, parameters: dict) -> bool:
    """True when `output_dir` holds a complete sample generated with `parameters` by this generator: its
    sample.json, written last, names them and every file, and is newer than this module (a changed
    generator may write other files). The same arguments give the same bytes, so it need not be redone."""
    marker = Path(output_dir) / "sample.json"
    try:
        summary = json.loads(marker.read_text(encoding="utf-8"))
        current = marker.stat().st_mtime >= Path(__file__).stat().st_mtime
    except (OSError, ValueError):
        return False
    return (
        current
        and all(summary.get(key) == value for key, value in parameters.items())
        and all((marker.parent / name).is_file() for name in summary.get("files", []))
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True)
    parser.add_argument("--pages", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shards", type=int, default=6)
    parser.add_argument("--reference-docs", type=int, default=300)
    args = parser.parse_args(argv)
    parameters = {"seed": args.seed, "pages": args.pages, "shards": args.shards, "reference_docs": args.reference_docs}
    if existing_sample(args.output, parameters):
        print(
            f"sample: {args.output} already holds the sample for "
            f"{', '.join(f'{k}={v}' for k, v in parameters.items())} (sample.json); skipped"
        )
        return
    summary = generate_sample(args.output, args.pages, args.seed, args.shards, args.reference_docs)
    references = " ".join(f"{name}={count}" for name, count in summary["reference"].items())
    print(
        f"wrote {summary['pages']} pages in {summary['shards']} shards (+1 truncated), reference {references}, "
        f"{summary['benchmark_items']} benchmark items to {args.output}"
    )


if __name__ == "__main__":
    main()
