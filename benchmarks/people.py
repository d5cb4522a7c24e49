"""Synthetic customer profiles with a known truth, for the detection benchmark.

`generate(rows)` yields `rows` profiles of about 0.9 x rows people, deterministically (fixed
seed). About 10% of the profiles repeat an earlier person with the noise real data has:

- names: one character substituted, dropped or doubled; a nickname (Bill for William, from
  identity.matching.rules.NICKNAMES) or the formal name for a nickname; first and last name swapped;
- date of birth: two neighbouring digits swapped, one digit wrong, or day and month swapped;
- missing fields (postcode, date of birth, street, city); people moving (new street and
  postcode, sometimes a new city); street written with its abbreviation;
- identifiers: the same mobile phone written another way, the earlier profile's email kept as a
  *previous* email (current emails are unique, so two profiles never both hold it as current),
  or no shared identifier at all (only similar-people matching can find those), plus new
  emails, phones, customer ids and loyalty cards of their own.

Each profile carries about 2.8 identifiers, as real loads do: an email (some an older one as a
previous email), a mobile and sometimes a second phone of their own, a customer id, a loyalty card.

About 2% of the people live in a household with another person: same surname, same street,
postcode and city, same landline phone, a different first name and date of birth, each with
their own loyalty card. They are different people (truth: not a duplicate pair). About 500
profiles also carry the shop's own phone, which a till enters for walk-in customers: a junk value.

Names follow a Zipf-like skew over a few hundred first names and a few thousand surnames (the
commonest real ones, then synthetic ones built from syllables); thousands of 5-digit postcodes
spread over about 300 cities, weighted by the city's size; streets "<number> <name> <type>".
"""

import math
import random
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from itertools import accumulate

from identity.matching.rules import CANONICAL_FIRST_NAME, NICKNAMES
from identity.normalisers import InvalidValue, normalise

SEED = 20261123
DUPLICATE_SHARE = 0.10
HOUSEHOLD_SHARE = 0.01  # of new people, each starting a two-person household: ~2% of people
SHOP_PHONE = "2125550100"  # the till's placeholder, a valid number
SHOP_PHONE_PROFILES = 500

FIRST_NAMES = """
James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard
Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy Matthew Betty
Anthony Margaret Mark Sandra Donald Ashley Steven Kimberly Paul Emily Andrew Donna Joshua
Michelle Kenneth Carol Kevin Amanda Brian Dorothy George Melissa Timothy Deborah Ronald
Stephanie Edward Rebecca Jason Sharon Jeffrey Laura Ryan Cynthia Jacob Kathleen Gary Amy
Nicholas Angela Eric Shirley Jonathan Anna Stephen Brenda Larry Pamela Justin Emma Scott Nicole
Brandon Helen Benjamin Samantha Samuel Katherine Gregory Christine Alexander Debra Frank Rachel
Patrick Carolyn Raymond Janet Jack Catherine Dennis Maria Jerry Heather Tyler Diane Aaron Ruth
Jose Julie Adam Olivia Nathan Joyce Henry Virginia Douglas Victoria Zachary Kelly Peter Lauren
Kyle Christina Ethan Joan Walter Evelyn Noah Judith Jeremy Megan Christian Andrea Keith Cheryl
Roger Hannah Terry Jacqueline Gerald Martha Harold Gloria Sean Teresa Austin Ann Carl Sara
Arthur Madison Lawrence Frances Dylan Kathryn Jesse Janice Jordan Jean Bryan Abigail Billy
Alice Joe Julia Bruce Judy Gabriel Sophia Logan Grace Albert Denise Willie Amber Alan Doris
Juan Marilyn Wayne Danielle Elijah Beverly Randy Isabella Roy Theresa Vincent Diana Ralph
Natalie Eugene Brittany Russell Charlotte Bobby Marie Mason Kayla Philip Alexis Louis Lori
Harry Tiffany Howard Tammy Fred Crystal Carlos Erin Earl Norma Dale Paula Travis Leah Victor
Jasmine Bradley Caroline Shawn Rose Clarence Eleanor Ernest Amelia Eddie Joanne Leonard Lillian
Theodore Valerie Francis Wanda Antonio Alexandra Cody Bonnie Luis Gail Todd Sophie Troy Ellen
Curtis Holly Mario Monica Frederick Tina Marcus Dawn Lucas Rita Oscar Peggy Calvin Hazel Jorge
Marcia Reginald Vera Herbert Yvonne Wesley Edna Liam Audrey Miguel Sylvia Glenn Ida Derek
Connie Ricky Tracy Melvin Lucille Leroy Becky Clifford Colleen Barry Irene Chad Josephine
Rodney Renee Mitchell Maggie Dustin Vanessa Seth Stella Isaac Esther Manuel Agnes Gordon Paige
Chester Whitney Dwayne Naomi Alvin Wendy Marvin Molly Lester Bethany Zoe Jose Renée Siobhan
""".split()

COMMON_SURNAMES = """
Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez
Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris
Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill
Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips
Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers
Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson
Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders
Patel Myers Long Ross Foster Jimenez Powell Jenkins Perry Russell Sullivan Bell Coleman Butler
Henderson Barnes Gonzales Fisher Vasquez Simmons Romero Jordan Patterson Alexander Hamilton
Graham Reynolds Griffin Wallace Moreno West Cole Hayes Bryant Herrera Gibson Ellis Tran Medina
Aguilar Stevens Murray Ford Castro Marshall Owens Harrison Fernandez McDonald Woods Washington
Kennedy Wells Vargas Henry Chen Freeman Webb Tucker Guzman Burns Crawford Olson Simpson Porter
Hunter Gordon Mendez Silva Shaw Snyder Mason Dixon Munoz Hunt Hicks Holmes Palmer Wagner Black
Robertson Boyd Rose Stone Salazar Fox Warren Mills Meyer Rice Schmidt Garza Daniels Ferguson
Nichols Stephens Soto Weaver Ryan Gardner Payne Grant Dunn Kelley Spencer Hawkins Arnold Pierce
Vazquez Hansen Peters Santos Hart Bradley Knight Elliott Cunningham Duncan Armstrong Hudson
Carroll Lane Riley Andrews Alvarado Ray Delgado Berry Perkins Hoffman Johnston Matthews Pena
Richards Contreras Willis Carpenter Lawrence Sandoval O'Brien Müller Kowalski
""".split()

ONSETS = ["b", "br", "c", "ch", "cr", "d", "dr", "f", "g", "gr", "h", "j", "k", "l", "m", "n",
          "p", "pr", "r", "s", "sh", "st", "t", "tr", "v", "w", "wh", "y", "z"]
VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "ou", "oo", "ei"]
CODAS = ["", "", "n", "r", "l", "m", "s", "t", "ck", "nd", "rt", "ll", "x", "th"]
SURNAME_ENDINGS = ["son", "er", "ley", "ton", "man", "ford", "wood", "field", "well", "s", "ing",
                   "berg", "ski", "ez", "ini", "ard", "", "", ""]

REAL_CITIES = """
New York|Los Angeles|Chicago|Houston|Phoenix|Philadelphia|San Antonio|San Diego|Dallas|Austin|
Jacksonville|Fort Worth|Columbus|Charlotte|Indianapolis|San Francisco|Seattle|Denver|Boston|
Nashville|Portland|Las Vegas|Detroit|Memphis|Louisville|Baltimore|Milwaukee|Albuquerque|Tucson|
Fresno|Sacramento|Kansas City|Mesa|Atlanta|Omaha|Colorado Springs|Raleigh|Miami|Long Beach|
Virginia Beach|Oakland|Minneapolis|Tulsa|Tampa|Arlington|New Orleans|Wichita|Cleveland|
Bakersfield|Aurora|Anaheim|Honolulu|Santa Ana|Riverside|Corpus Christi|Lexington|Stockton|
Henderson|Saint Paul|St. Louis|Cincinnati|Pittsburgh|Greensboro|Anchorage|Plano|Lincoln|Orlando|
Irvine|Newark|Toledo|Durham|Chula Vista|Fort Wayne|Jersey City|St. Petersburg|Laredo|Madison|
Chandler|Buffalo|Lubbock|Scottsdale|Reno|Glendale|Gilbert|Winston-Salem|North Las Vegas|Norfolk|
Chesapeake|Garland|Irving|Hialeah|Fremont|Boise|Richmond|Baton Rouge|Spokane|Des Moines|Tacoma
""".replace("\n", "").split("|")
CITY_PREFIXES = ["Ash", "Oak", "Maple", "Cedar", "Pine", "Elm", "Willow", "Birch", "Spring",
                 "Green", "Fair", "River", "Lake", "Hill", "Stone", "Brook", "Clear", "Red",
                 "White", "North", "South", "East", "West", "Mill", "Glen", "Rock", "Sun", "Bay"]
CITY_SUFFIXES = ["ville", "ton", "field", "wood", "port", "burg", "dale", "view", " Falls",
                 " Springs", "ford", "haven", "mont", " Heights", "bridge", " City"]

STREET_NAMES = """
Main Oak Maple Cedar Pine Elm Washington Lake Hill Park Walnut Sunset Lincoln Jackson Church
Highland Willow Jefferson Madison Franklin Ridge Meadow Forest Spring Chestnut River Center Mill
Adams Lakeview Dogwood Birch Railroad Cherry Jones Poplar Sycamore Spruce Laurel Locust Hickory
Magnolia Valley Prospect Broad Union College Grove Church Market School Bridge Water Front Green
Harrison Monroe Hamilton Clinton Grant Taylor Wilson Johnson Smith Cleveland Garfield Sherman
Liberty Franklin Academy Bay Beech Canal Colonial Court Cottage Country Creek Crescent Dale
Dorset Essex Fairview Fulton Garden Glen Hawthorne Heritage Holly Hudson Ivy King Kingston
Linden Manor Marshall Mulberry North Orchard Oxford Palmer Pearl Pleasant Queen Railroad Redwood
Riverside Rose Shady South Spruce State Summit Sunrise Surrey Valley Vine West Windsor Wood
""".split()
STREET_TYPES = [("Street", "St"), ("Avenue", "Ave"), ("Road", "Rd"), ("Lane", "Ln"),
                ("Drive", "Dr")]

EMAIL_DOMAINS = ["gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "aol.com",
                 "proton.me", "comcast.net", "att.net", "mail.com"]
WORK_DOMAINS = ["acme.com", "initech.com", "globex.com", "umbrella.org", "hooli.com",
                "stark.io", "wayne.co", "wonka.com", "cyberdyne.net", "tyrell.com"]
# Area codes in service; exchanges that are not subscriber lines (N11, 555) are left out.
AREAS = [
    "201", "202", "205", "206", "212", "213", "214", "215", "303", "305", "312", "313", "404",
    "407", "412", "415", "503", "512", "602", "614", "617", "646", "702", "713", "718", "720",
    "773", "804", "816", "817", "832", "858", "901", "904", "914", "917", "919", "949", "972",
]
PHONE_FORMATS = [
    "({a}) {e}-{l}", "{a}-{e}-{l}", "+1 {a} {e} {l}", "{a}.{e}.{l}", "1{a}{e}{l}", "{a}{e}{l}",
    "+1 ({a}) {e}-{l}", "{a} {e} {l}",
]
SOURCES = ["web", "pos", "crm", "api", "app"]
DOB_FROM, DOB_TO = date(1940, 1, 1).toordinal(), date(2007, 12, 31).toordinal()
PHONE_MULTIPLIER = 2_654_435_761  # coprime with the size of the number space: a bijection

MISSING = {"date_of_birth": "no_dob", "postcode": "no_postcode", "street": "no_street",
           "city": "no_city"}
# Duplicate noise: probability of each kind (independent draws).
NOISE = {
    "typo_first": 0.07, "typo_last": 0.07, "nickname": 0.08, "swapped": 0.03,
    "dob_typo": 0.08, "no_dob": 0.08, "no_postcode": 0.10, "no_street": 0.15, "no_city": 0.08,
    "moved": 0.10, "street_abbrev": 0.20,
}


@dataclass(slots=True)
class Person:
    pid: int
    first: str
    last: str
    dob: date
    city: str
    postcode: str
    street: str  # "<number> <name>" without its type
    street_type: int
    email: str | None
    mobile: str | None  # ten digits
    landline: str | None
    household: int | None


@dataclass(slots=True)
class GeneratedProfile:
    person: int
    household: int | None
    duplicate: bool
    noise: list
    attributes: dict  # name -> value (strings), missing fields left out
    # (type key, raw value, normalised value, is_current, grants_access, source)
    identifiers: list = field(default_factory=list)


def zipf_weights(count, exponent):
    return list(accumulate(1 / (rank ** exponent) for rank in range(1, count + 1)))


def _ascii(text):
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if c.isascii() and c.isalpha()).lower()


class Tables:
    """Names, cities, postcodes and streets, drawn once from the seed."""

    def __init__(self, rng):
        seen = set()
        self.first_names = []
        for name in FIRST_NAMES:
            if _ascii(name) not in seen:
                seen.add(_ascii(name))
                self.first_names.append(name)
        self.first_cum = zipf_weights(len(self.first_names), 0.5)

        taken = {_ascii(name) for name in self.first_names}
        self.surnames = []
        for name in COMMON_SURNAMES:
            if _ascii(name) not in taken:
                taken.add(_ascii(name))
                self.surnames.append(name)
        while len(self.surnames) < 4000:
            name = "".join(rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS)
                           for _ in range(rng.choice((1, 1, 2)))) + rng.choice(SURNAME_ENDINGS)
            if 4 <= len(name) <= 12 and name not in taken:
                taken.add(name)
                self.surnames.append(name.capitalize())
        # The common names first, the synthetic ones in a random order after them.
        common = len({_ascii(n) for n in COMMON_SURNAMES})
        tail = self.surnames[common:]
        rng.shuffle(tail)
        self.surnames[common:] = tail
        self.surname_cum = zipf_weights(len(self.surnames), 0.6)

        cities = list(dict.fromkeys(REAL_CITIES))
        while len(cities) < 300:
            city = rng.choice(CITY_PREFIXES) + rng.choice(CITY_SUFFIXES)
            if city not in cities:
                cities.append(city)
        self.cities = cities
        self.city_cum = zipf_weights(len(cities), 0.75)
        # Postcodes: about 6,000, each city getting a share by its size (at least two).
        weights = [1 / (rank ** 0.75) for rank in range(1, len(cities) + 1)]
        total = sum(weights)
        codes = rng.sample(range(1001, 99950), 7000)
        self.postcodes = {}
        start = 0
        for city, weight in zip(cities, weights, strict=True):
            count = max(2, round(5400 * weight / total))
            self.postcodes[city] = [f"{code:05d}" for code in codes[start:start + count]]
            start += count

        self.exchanges = self._valid_exchanges()
        self.phone_space = len(AREAS) * len(self.exchanges) * 10_000
        assert math.gcd(PHONE_MULTIPLIER, self.phone_space) == 1
        self.phone_slots = 0

    def _valid_exchanges(self):
        """Exchanges valid in every area code (checked with the product's own normaliser)."""
        exchanges = []
        for exchange in range(200, 1000):
            if exchange % 100 == 11 or exchange == 555:
                continue
            try:
                for area in ("212", "415", "972"):
                    normalise("phone", f"{area}{exchange}4567")
            except InvalidValue:
                continue
            exchanges.append(str(exchange))
        return exchanges

    def new_phone(self):
        """A number nobody else has: slot n of a bijection over the whole number space."""
        slot = (self.phone_slots * PHONE_MULTIPLIER + 12_345) % self.phone_space
        self.phone_slots += 1
        area, slot = AREAS[slot % len(AREAS)], slot // len(AREAS)
        exchange, line = self.exchanges[slot % len(self.exchanges)], slot // len(self.exchanges)
        return f"{area}{exchange}{line:04d}"


class Generator:
    def __init__(self, rows, seed=SEED):
        self.rows = rows
        self.rng = random.Random(seed)
        self.tables = Tables(self.rng)
        self.people = []
        self.counters = {"customer_id": 0, "loyalty_card": 0, "email": 0, "household": 0}
        self.shop_share = min(SHOP_PHONE_PROFILES, rows // 200) / rows
        self._phone_cache = {}

    # -- people ---------------------------------------------------------------------------------

    def _first_name(self, avoid=None):
        while True:
            name = self.rng.choices(self.tables.first_names, cum_weights=self.tables.first_cum)[0]
            if avoid is None or _canon(name) != _canon(avoid):
                return name

    def _address(self, city=None):
        rng = self.rng
        city = city or rng.choices(self.tables.cities, cum_weights=self.tables.city_cum)[0]
        postcode = rng.choice(self.tables.postcodes[city])
        street = f"{rng.randint(1, 2999)} {rng.choice(STREET_NAMES)}"
        return city, postcode, street, rng.randrange(len(STREET_TYPES))

    def _dob(self):
        return date.fromordinal(self.rng.randint(DOB_FROM, DOB_TO))

    def _new_person(self, household_of=None):
        rng = self.rng
        pid = len(self.people)
        if household_of is None:
            first = self._first_name()
            last = rng.choices(self.tables.surnames, cum_weights=self.tables.surname_cum)[0]
            city, postcode, street, street_type = self._address()
            household = None
            landline = None
        else:
            first = self._first_name(avoid=household_of.first)
            last = household_of.last
            city, postcode = household_of.city, household_of.postcode
            street, street_type = household_of.street, household_of.street_type
            household, landline = household_of.household, household_of.landline
        dob = self._dob()
        if household_of is not None:
            while abs((dob - household_of.dob).days) < 400:
                dob = self._dob()
        email = None
        if rng.random() < 0.93:
            local = rng.choice(("{f}.{l}", "{f}{l}", "{i}{l}", "{f}_{l}")).format(
                f=_ascii(first), l=_ascii(last), i=_ascii(first)[0])
            email = f"{local}{pid}@{rng.choice(EMAIL_DOMAINS)}"
        mobile = self.tables.new_phone() if rng.random() < 0.75 else None
        person = Person(pid, first, last, dob, city, postcode, street, street_type, email,
                        mobile, landline, household)
        self.people.append(person)
        return person

    def _start_household(self, person):
        self.counters["household"] += 1
        person.household = self.counters["household"]
        person.landline = self.tables.new_phone()

    # -- identifiers ----------------------------------------------------------------------------

    def _counter(self, key):
        self.counters[key] += 1
        return self.counters[key]

    def _email(self, email, current=True):
        rng = self.rng
        raw = email
        r = rng.random()
        if r < 0.15:
            raw = email.upper()
        elif r < 0.35:
            local, domain = email.split("@")
            raw = f"{local.title()}@{domain.capitalize()}"
        raw = " " * (rng.random() < 0.1) + raw + " " * (rng.random() < 0.1)
        return ("email", raw, normalise("email", raw), current, current and rng.random() < 0.7,
                rng.choice(SOURCES))

    def _phone(self, number, current=True):
        raw = self.rng.choice(PHONE_FORMATS).format(a=number[:3], e=number[3:6], l=number[6:])
        value = self._phone_cache.get(raw)
        if value is None:
            value = normalise("phone", raw)
            if number == SHOP_PHONE:
                self._phone_cache[raw] = value
        return ("phone", raw, value, current, False, self.rng.choice(SOURCES))

    def _trim(self, key, raw):
        return (key, raw, normalise("trim", raw), True, key == "loyalty_card",
                self.rng.choice(SOURCES))

    def _customer_id(self):
        return self._trim("customer_id", f"C{self._counter('customer_id'):09d}")

    def _loyalty_card(self):
        return self._trim("loyalty_card", f"LC{7_000_000_000 + self._counter('loyalty_card')}")

    def _other_email(self, person, work):
        n = self._counter("email")
        f, lname = _ascii(person.first), _ascii(person.last)
        if work:
            return f"{f[0]}{lname}.{n}@{self.rng.choice(WORK_DOMAINS)}"
        return f"{f}{lname}{n}@{self.rng.choice(EMAIL_DOMAINS)}"

    # -- profiles -------------------------------------------------------------------------------

    @staticmethod
    def _attributes(first, last, dob, city, postcode, street, street_type, noise):
        names = STREET_TYPES[street_type]
        values = {
            "first_name": first, "last_name": last, "date_of_birth": dob.isoformat(),
            "city": city, "postcode": postcode,
            "street": f"{street} {names[1] if 'street_abbrev' in noise else names[0]}",
        }
        for key, kind in MISSING.items():
            if kind in noise:
                del values[key]
        return values

    def _original(self, person):
        rng = self.rng
        missing = {f"no_{k}" for k, p in (("dob", 0.03), ("postcode", 0.04), ("street", 0.08),
                                            ("city", 0.03)) if rng.random() < p}
        attributes = self._attributes(person.first, person.last, person.dob, person.city,
                                      person.postcode, person.street, person.street_type, missing)
        profile = GeneratedProfile(person.pid, person.household, False, sorted(missing),
                                   attributes)
        ids = profile.identifiers
        if person.email:
            ids.append(self._email(person.email))
        if rng.random() < 0.10:
            ids.append(self._email(self._other_email(person, work=False), current=False))
        if person.mobile and rng.random() < 0.95:
            ids.append(self._phone(person.mobile))
        if person.landline:
            ids.append(self._phone(person.landline))
        if rng.random() < 0.12:
            # A work or second phone of their own.
            ids.append(self._phone(self.tables.new_phone()))
        if rng.random() < 0.65:
            ids.append(self._customer_id())
        if person.household or rng.random() < 0.4:
            ids.append(self._loyalty_card())
        return profile

    def _duplicate(self, person):
        rng = self.rng
        noise = {kind for kind, p in NOISE.items() if rng.random() < p}
        first, last = person.first, person.last
        if "nickname" in noise:
            variant = _nickname(first, rng)
            if variant:
                first = variant
            else:
                noise.discard("nickname")
        if "typo_first" in noise:
            first = _typo(first, rng)
        if "typo_last" in noise:
            last = _typo(last, rng)
        if "swapped" in noise:
            first, last = last, first
        dob = person.dob
        if "dob_typo" in noise:
            dob, kind = _dob_typo(dob, rng)
            noise.discard("dob_typo")
            if kind:
                noise.add(f"dob_{kind}")
        city, postcode, street, street_type = (person.city, person.postcode, person.street,
                                               person.street_type)
        if "moved" in noise:
            same_city = rng.random() < 0.5
            city, postcode, street, street_type = self._address(city if same_city else None)
        attributes = self._attributes(first, last, dob, city, postcode, street,
                                      street_type, noise)
        ids = []
        shared = False
        if person.email and rng.random() < 0.15:
            # The earlier profile's address kept as a previous email of this one.
            ids.append(self._email(person.email, current=False))
            shared = True
        if rng.random() < 0.6:
            ids.append(self._email(self._other_email(person, work=rng.random() < 0.5)))
        if person.mobile and rng.random() < 0.5:
            ids.append(self._phone(person.mobile))
            shared = True
        elif rng.random() < 0.3:
            ids.append(self._phone(self.tables.new_phone()))
        if person.landline and rng.random() < 0.5:
            ids.append(self._phone(person.landline))
            shared = True
        if rng.random() < 0.2:
            ids.append(self._customer_id())
        if rng.random() < 0.15:
            ids.append(self._loyalty_card())
        noise.add("shares_identifier" if shared else "no_shared_identifier")
        return GeneratedProfile(person.pid, person.household, True, sorted(noise), attributes,
                                ids)

    def __iter__(self):
        rng = self.rng
        produced = 0
        pending = []
        while produced < self.rows:
            if pending:
                profile = pending.pop()
            elif self.people and rng.random() < DUPLICATE_SHARE:
                profile = self._duplicate(self.people[rng.randrange(len(self.people))])
            else:
                person = self._new_person()
                if rng.random() < HOUSEHOLD_SHARE and produced + 1 < self.rows:
                    self._start_household(person)
                    partner = self._new_person(household_of=person)
                    pending.append(self._original(partner))
                profile = self._original(person)
            if rng.random() < self.shop_share:
                profile.identifiers.append(self._phone(SHOP_PHONE))
                profile.noise = [*profile.noise, "shop_phone"]
            produced += 1
            yield profile


# -- noise ---------------------------------------------------------------------------------------


def _canon(name):
    folded = _ascii(name)
    return CANONICAL_FIRST_NAME.get(folded, folded)


def _nickname(first, rng):
    canon = _canon(first)
    if canon not in NICKNAMES:
        return None
    options = [n for n in [canon, *NICKNAMES[canon]] if n != _ascii(first)]
    return rng.choice(options).capitalize() if options else None


def _typo(name, rng):
    letters = "abcdefghijklmnopqrstuvwxyz"
    for _ in range(10):
        i = rng.randrange(1, len(name)) if len(name) > 1 else 0
        kind = rng.randrange(3)
        if kind == 0:
            typo = name[:i] + rng.choice(letters) + name[i + 1:]
        elif kind == 1 and len(name) > 3:
            typo = name[:i] + name[i + 1:]
        else:
            typo = name[:i] + name[i] + name[i:]
        if typo.lower() != name.lower():
            return typo
    return name


def _dob_typo(dob, rng):
    """dob with two neighbouring digits swapped, one digit wrong, or day and month swapped."""
    text = dob.strftime("%Y%m%d")
    for _ in range(20):
        kind = rng.choice(("digits_swapped", "digit_wrong", "day_month_swapped"))
        if kind == "day_month_swapped":
            candidate = text[:4] + text[6:8] + text[4:6]
        elif kind == "digits_swapped":
            i = rng.randrange(2, 7)  # not the century
            candidate = text[:i] + text[i + 1] + text[i] + text[i + 2:]
        else:
            i = rng.randrange(2, 8)
            candidate = text[:i] + str(rng.randrange(10)) + text[i + 1:]
        if candidate == text:
            continue
        try:
            changed = date(int(candidate[:4]), int(candidate[4:6]), int(candidate[6:8]))
        except ValueError:
            continue
        if DOB_FROM - 3650 <= changed.toordinal() <= DOB_TO + 3650:
            return changed, kind
    return dob, None

