"""Master data of the demo company: plants, materials, vendors, customers, info records.

Besides the SAP fields, each object carries the hidden behaviour the simulation uses
(demand class and rates, seasonality, life cycle, vendor reliability), so the master data
and the transactional history tell one consistent story.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Syntetos-Boylan demand classes, in the order of `Materials.demand_class` codes.
DEMAND_CLASSES = ("smooth", "erratic", "intermittent", "lumpy")
_CLASS_SHARES = (0.35, 0.2, 0.25, 0.2)
#: MARC-MMSTA of discontinued items: blocked for procurement and warehouse.
DISCONTINUED_STATUS = "01"
#: Day offset far outside any window ("never" / "always").
FAR = 10**6

# (city, country, latitude, longitude)
_CITIES: tuple[tuple[str, str, float, float], ...] = (
    ("Hamburg", "DE", 53.5511, 9.9937),
    ("München", "DE", 48.1351, 11.5820),
    ("Köln", "DE", 50.9375, 6.9603),
    ("Frankfurt am Main", "DE", 50.1109, 8.6821),
    ("Berlin", "DE", 52.5200, 13.4050),
    ("Stuttgart", "DE", 48.7758, 9.1829),
    ("Düsseldorf", "DE", 51.2277, 6.7735),
    ("Hannover", "DE", 52.3759, 9.7320),
    ("Nürnberg", "DE", 49.4521, 11.0767),
    ("Leipzig", "DE", 51.3397, 12.3731),
    ("Bremen", "DE", 53.0793, 8.8017),
    ("Kiel", "DE", 54.3233, 10.1228),
    ("Lübeck", "DE", 53.8655, 10.6866),
    ("Augsburg", "DE", 48.3705, 10.8978),
    ("Regensburg", "DE", 49.0134, 12.1016),
    ("Lyon", "FR", 45.7640, 4.8357),
    ("Paris", "FR", 48.8566, 2.3522),
    ("Marseille", "FR", 43.2965, 5.3698),
    ("Lille", "FR", 50.6292, 3.0573),
    ("Toulouse", "FR", 43.6047, 1.4442),
    ("Strasbourg", "FR", 48.5734, 7.7521),
    ("Nantes", "FR", 47.2184, -1.5536),
    ("Bordeaux", "FR", 44.8378, -0.5792),
    ("Grenoble", "FR", 45.1885, 5.7245),
    ("Saint-Étienne", "FR", 45.4397, 4.3872),
    ("Dijon", "FR", 47.3220, 5.0415),
    ("Clermont-Ferrand", "FR", 45.7772, 3.0870),
    ("Montpellier", "FR", 43.6108, 3.8767),
    ("Rotterdam", "NL", 51.9244, 4.4777),
    ("Amsterdam", "NL", 52.3676, 4.9041),
    ("Utrecht", "NL", 52.0907, 5.1214),
    ("Eindhoven", "NL", 51.4416, 5.4697),
    ("Den Haag", "NL", 52.0705, 4.3007),
    ("Antwerpen", "BE", 51.2194, 4.4025),
    ("Bruxelles", "BE", 50.8503, 4.3517),
    ("Gent", "BE", 51.0543, 3.7174),
    ("Liège", "BE", 50.6326, 5.5797),
    ("Milano", "IT", 45.4642, 9.1900),
    ("Torino", "IT", 45.0703, 7.6869),
    ("Bologna", "IT", 44.4949, 11.3426),
    ("Verona", "IT", 45.4384, 10.9916),
    ("Genova", "IT", 44.4056, 8.9463),
    ("Brescia", "IT", 45.5416, 10.2118),
    ("Bergamo", "IT", 45.6983, 9.6773),
    ("Madrid", "ES", 40.4168, -3.7038),
    ("Barcelona", "ES", 41.3874, 2.1686),
    ("Valencia", "ES", 39.4699, -0.3763),
    ("Zaragoza", "ES", 41.6488, -0.8891),
    ("Valladolid", "ES", 41.6523, -4.7245),
    ("Toledo", "ES", 39.8628, -4.0273),
    ("Guadalajara", "ES", 40.6330, -3.1669),
    ("Girona", "ES", 41.9794, 2.8214),
    ("Tarragona", "ES", 41.1189, 1.2445),
    ("Wien", "AT", 48.2082, 16.3738),
    ("Linz", "AT", 48.3069, 14.2858),
    ("Graz", "AT", 47.0707, 15.4395),
    ("St. Pölten", "AT", 48.2047, 15.6256),
    ("Wiener Neustadt", "AT", 47.8151, 16.2436),
)
_PLANT_CITIES = (
    "Hamburg",
    "Lyon",
    "Milano",
    "Madrid",
    "Rotterdam",
    "Wien",
    "München",
    "Barcelona",
    "Antwerpen",
    "Frankfurt am Main",
    "Toulouse",
    "Bologna",
)
# Sourcing regions: (city, country, planned lead time range in days)
_VENDOR_ORIGINS: tuple[tuple[str, str, int, int], ...] = (
    ("Shenzhen", "CN", 35, 56),
    ("Ningbo", "CN", 35, 56),
    ("Shanghai", "CN", 35, 56),
    ("Chennai", "IN", 30, 49),
    ("Ho-Chi-Minh-Stadt", "VN", 38, 56),
    ("İstanbul", "TR", 10, 18),
    ("Poznań", "PL", 5, 12),
    ("Brno", "CZ", 5, 12),
)
_LEGAL_FORMS = {
    "DE": ("GmbH", "GmbH & Co. KG", "AG", "e.K."),
    "AT": ("GmbH", "KG", "AG"),
    "FR": ("SARL", "SAS", "SA"),
    "IT": ("S.r.l.", "S.p.A.", "S.n.c."),
    "ES": ("S.L.", "S.A."),
    "NL": ("B.V.", "N.V."),
    "BE": ("BV", "NV", "SRL"),
    "CN": ("Co., Ltd.", "Import & Export Co., Ltd."),
    "IN": ("Pvt. Ltd.", "Ltd."),
    "VN": ("Co., Ltd.", "JSC"),
    "TR": ("A.Ş.", "Ltd. Şti."),
    "PL": ("Sp. z o.o.", "S.A."),
    "CZ": ("s.r.o.", "a.s."),
}
_SURNAMES = {
    "DE": ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker"),
    "AT": ("Gruber", "Huber", "Bauer", "Wagner", "Pichler", "Steiner", "Moser", "Hofer"),
    "FR": ("Martin", "Bernard", "Dubois", "Lefèvre", "Moreau", "Laurent", "Girard", "Roux"),
    "IT": ("Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci"),
    "ES": ("García", "Fernández", "López", "Martínez", "Sánchez", "Pérez", "Gómez", "Peña"),
    "NL": ("de Jong", "Jansen", "de Vries", "van den Berg", "Bakker", "Visser", "Smit"),
    "BE": ("Peeters", "Janssens", "Maes", "Jacobs", "Mertens", "Willems", "Claes"),
    "CN": ("Hengli", "Jinhua", "Dongfang", "Huasheng", "Xinda", "Tianrun"),
    "IN": ("Sundaram", "Kaveri", "Shakti", "Bharat"),
    "VN": ("Saigon Viet", "Minh Phat", "Hoang Long"),
    "TR": ("Yıldız", "Demir", "Kaya", "Öztürk"),
    "PL": ("Kowalski", "Nowak", "Wiśniewski"),
    "CZ": ("Novák", "Dvořák", "Černý"),
}
_TRADES = ("Handel", "Baumarkt", "Haustechnik", "Werkzeuge", "Bedarf", "Service", "Versand")
_SUPPLIER_TRADES = ("Components", "Manufacturing", "Industries", "Hardware", "Tools")

# Material groups: (MATKL, seasonal peak day of year, amplitude range, unit, nouns, variants)
_GROUPS: tuple[tuple[str, int, float, float, str, tuple[str, ...], tuple[str, ...]], ...] = (
    (
        "GARDEN",
        160,
        0.5,
        0.9,
        "ST",
        ("Garden hose", "Hose reel", "Lawn sprinkler", "Planter", "Pruning shears"),
        ("15 m", "25 m", "50 m", "Pro", "Compact"),
    ),
    (
        "HEATING",
        15,
        0.5,
        0.85,
        "ST",
        ("Radiator valve", "Oil radiator", "Fan heater", "Thermostat head"),
        ("1000 W", "2000 W", "DN15", "DN20", "Smart"),
    ),
    (
        "TOOLS",
        100,
        0.05,
        0.2,
        "ST",
        ("Cordless drill", "Claw hammer", "Spirit level", "Saw blade", "Screwdriver set"),
        ("18 V", "12 V", "60 cm", "120 cm", "Pro", "Basic"),
    ),
    (
        "ELECTRIC",
        300,
        0.1,
        0.3,
        "ST",
        ("LED bulb", "Extension cord", "Socket outlet", "Motion sensor"),
        ("E27 9 W", "GU10 5 W", "3 m", "5 m", "IP44", "white"),
    ),
    (
        "PLUMBING",
        200,
        0.05,
        0.2,
        "ST",
        ("Mixer tap", "Siphon", "Shower head", "Pipe clamp", "Ball valve"),
        ("chrome", "1/2 inch", "3/4 inch", "DN32", "Eco"),
    ),
    (
        "PAINT",
        120,
        0.2,
        0.45,
        "L",
        ("Wall paint", "Primer", "Wood stain", "Varnish"),
        ("white", "grey", "oak", "matt", "satin"),
    ),
    (
        "FASTENER",
        90,
        0.0,
        0.1,
        "KG",
        ("Wood screws", "Wall plugs", "Hex bolts", "Nails"),
        ("4x40", "5x60", "6 mm", "8 mm", "M8", "M10", "zinc"),
    ),
    (
        "SEASONAL",
        340,
        0.6,
        0.9,
        "ST",
        ("Fairy lights", "Gift set", "Candle lantern", "Advent wreath"),
        ("80 LED", "160 LED", "red", "gold", "XL"),
    ),
)

#: Weekday pattern of B2B order lines, Monday first (weekends low, mean 1).
WEEKDAY_FACTORS = np.array([1.3, 1.2, 1.15, 1.15, 1.05, 0.12, 0.03]) / (7.03 / 7)


@dataclass(frozen=True)
class Plants:
    werks: list[str]
    name: list[str]
    city: list[str]
    country: list[str]
    lat: np.ndarray
    lon: np.ndarray
    scale: np.ndarray  # relative demand volume of the plant's region


@dataclass(frozen=True)
class Materials:
    matnr: np.ndarray  # int, ALPHA-padded on output
    group: np.ndarray  # index into _GROUPS
    description: list[str]
    demand_class: np.ndarray  # index into DEMAND_CLASSES
    line_rate: np.ndarray  # order lines per day at a plant of scale 1
    size_mean: np.ndarray  # mean quantity of one order line
    size_shape: np.ndarray  # gamma shape of the line size (small = erratic sizes)
    season_amp: np.ndarray
    season_peak: np.ndarray
    trend: np.ndarray  # yearly log growth
    created_day: np.ndarray  # MARA-ERSDA as day offset from the window start
    intro_day: np.ndarray  # first day of demand (-FAR for established items)
    ramp_days: np.ndarray
    phaseout_day: np.ndarray  # demand fades out from here (FAR if not discontinued)
    end_day: np.ndarray  # demand is zero from here
    cost: np.ndarray  # valuation price per base unit
    peinh: np.ndarray  # price unit (100 for cheap parts)
    list_price: np.ndarray  # sales price per base unit
    weight: np.ndarray
    service_z: np.ndarray  # safety factor used for EISBE
    price_control: list[str]
    promotions: list[tuple[int, int, int, float, float]]  # (material, start, end, uplift, discount)

    @property
    def unit(self) -> list[str]:
        return [_GROUPS[g][4] for g in self.group.tolist()]

    @property
    def matkl(self) -> list[str]:
        return [_GROUPS[g][0] for g in self.group.tolist()]


@dataclass(frozen=True)
class Vendors:
    lifnr: np.ndarray
    name: list[str]
    city: list[str]
    country: list[str]
    lt_low: np.ndarray
    lt_high: np.ndarray
    lt_bias: np.ndarray  # mean log ratio actual/planned lead time
    lt_sigma: np.ndarray
    disruption: np.ndarray  # (start, end, extra days) per vendor, start = FAR if none


@dataclass(frozen=True)
class Customers:
    kunnr: np.ndarray
    plant: np.ndarray  # plant that serves the customer
    weight: np.ndarray  # share of the plant's order lines
    name: list[str]
    city: list[str]
    country: list[str]
    postal_code: list[str]
    lat: np.ndarray
    lon: np.ndarray
    delivery_days: np.ndarray  # usual requested delivery lead time
    contract: np.ndarray  # bool: orders are entered in full even when stock runs short


@dataclass(frozen=True)
class Series:
    """Material x plant combinations (MARC) with their sourcing and MRP settings."""

    material: np.ndarray
    plant: np.ndarray
    line_rate: np.ndarray
    mean_demand: np.ndarray  # expected daily quantity (no seasonality)
    vendor: np.ndarray  # (n, 2) vendor index, -1 if the material has one vendor
    infnr: np.ndarray  # (n, 2)
    aplfz: np.ndarray  # (n, 2) planned delivery time
    netpr: np.ndarray  # (n, 2) per price unit
    minbm: np.ndarray  # (n, 2)
    norbm: np.ndarray  # (n, 2)
    plifz: np.ndarray
    eisbe: np.ndarray
    bstrf: np.ndarray
    lot: np.ndarray  # fixed lot size (multiple of BSTRF, >= BSTMI)


@dataclass(frozen=True)
class MasterData:
    plants: Plants
    materials: Materials
    vendors: Vendors
    customers: Customers
    series: Series


def _haversine_km(lat1: np.ndarray, lon1: np.ndarray, lat2: float, lon2: float) -> np.ndarray:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi, dlmb = p2 - p1, np.radians(lon2 - np.asarray(lon1))
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * 6371.0 * np.arcsin(np.sqrt(a))


def _company(rng: np.random.Generator, country: str, trades: tuple[str, ...]) -> str:
    surname = _SURNAMES[country][rng.integers(len(_SURNAMES[country]))]
    trade = trades[rng.integers(len(trades))]
    form = _LEGAL_FORMS[country][rng.integers(len(_LEGAL_FORMS[country]))]
    return f"{surname} {trade} {form}"


def postal_code(rng: np.random.Generator, country: str) -> str:
    if country in ("AT", "BE"):
        return f"{rng.integers(1000, 9999)}"
    if country == "NL":
        letters = "ABCDEFGHJKLMNPRSTVWXZ"
        return f"{rng.integers(1000, 9999)} {letters[rng.integers(21)]}{letters[rng.integers(21)]}"
    return f"{rng.integers(1000, 99999):05d}"


def make_plants(rng: np.random.Generator, n: int) -> Plants:
    """Plants in European logistics hubs; beyond the list the cities repeat as second sites."""
    by_name = {c[0]: c for c in _CITIES}
    cities = [by_name[_PLANT_CITIES[i % len(_PLANT_CITIES)]] for i in range(n)]
    rounds = [i // len(_PLANT_CITIES) for i in range(n)]
    lat = np.array([c[2] for c in cities]) + np.array(rounds) * rng.normal(0, 0.15, n)
    lon = np.array([c[3] for c in cities]) + np.array(rounds) * rng.normal(0, 0.2, n)
    names = [f"DC {c[0]}" + (f" {r + 1}" if r else "") for c, r in zip(cities, rounds, strict=True)]
    return Plants(
        werks=[f"{1000 + 10 * i}" for i in range(n)],
        name=names,
        city=[c[0] for c in cities],
        country=[c[1] for c in cities],
        lat=np.round(lat, 6),
        lon=np.round(lon, 6),
        scale=rng.uniform(0.6, 1.3, n),
    )


def make_materials(rng: np.random.Generator, n: int, days: int) -> Materials:
    """Materials with a demand class, seasonality, trend, promotions and life cycle."""
    group = rng.integers(len(_GROUPS), size=n)
    cls = rng.choice(4, size=n, p=_CLASS_SHARES)
    smooth, erratic = cls == 0, cls == 1
    sparse = cls >= 2
    rate = np.where(
        smooth,
        np.clip(rng.lognormal(np.log(1.6), 0.5, n), 0.5, 8.0),
        np.where(erratic, rng.uniform(0.4, 1.2, n), rng.uniform(0.015, 0.07, n)),
    )
    size_mean = np.select(
        [smooth, erratic, cls == 2],
        [rng.uniform(2, 12, n), rng.uniform(6, 40, n), rng.uniform(2, 8, n)],
        rng.uniform(6, 60, n),
    )
    size_shape = np.select(
        [smooth, erratic, cls == 2],
        [rng.uniform(4, 20, n), rng.uniform(0.15, 0.35, n), rng.uniform(10, 30, n)],
        rng.uniform(0.2, 0.5, n),
    )
    lo = np.array([g[2] for g in _GROUPS])[group]
    hi = np.array([g[3] for g in _GROUPS])[group]
    amp = np.where(sparse, 0.5, 1.0) * rng.uniform(lo, hi)
    peak = np.array([g[1] for g in _GROUPS])[group] + rng.integers(-20, 21, n)
    trend = np.clip(rng.normal(0.03, 0.15, n), -0.4, 0.4)

    # Life cycle: a few items launched and a few discontinued inside the window.
    life = rng.random(n)
    new = life < 0.08
    discontinued = (life >= 0.08) & (life < 0.14)
    intro = np.where(new, rng.integers(int(days * 0.15), max(int(days * 0.75), 2), n), -FAR)
    ramp = rng.integers(14, 61, n)
    phaseout = np.where(
        discontinued, rng.integers(int(days * 0.3), max(int(days * 0.8), 2), n), FAR
    )
    end = np.where(discontinued, phaseout + rng.integers(14, 57, n), FAR)
    # New items are created in SAP a few weeks before launch so the first receipt can arrive.
    created = np.where(
        new, np.maximum(intro - rng.integers(50, 80, n), 0), -rng.integers(30, 3000, n)
    )

    cost = np.round(np.clip(rng.lognormal(np.log(12.0), 1.1, n), 0.15, 900.0), 2)
    peinh = np.where(cost < 1.0, 100, 1)
    markup = rng.uniform(1.3, 2.2, n)
    z = rng.choice(np.array([0.0, 0.5, 1.0, 1.65, 2.33]), size=n, p=[0.1, 0.2, 0.3, 0.25, 0.15])

    promotions: list[tuple[int, int, int, float, float]] = []
    has_promo = rng.random(n) < 0.3
    for m in np.flatnonzero(has_promo).tolist():
        for _ in range(int(rng.poisson(days / 150))):
            start = int(rng.integers(0, days))
            length = int(rng.integers(5, 15))
            promotions.append(
                (
                    m,
                    start,
                    start + length,
                    float(rng.uniform(1.5, 3.0)),
                    float(rng.uniform(0.1, 0.3)),
                )
            )

    descriptions = []
    for g in group.tolist():
        nouns, variants = _GROUPS[g][5], _GROUPS[g][6]
        descriptions.append(
            f"{nouns[rng.integers(len(nouns))]} {variants[rng.integers(len(variants))]}"
        )
    return Materials(
        matnr=100000 + np.arange(n) * 7 + rng.integers(0, 7, n),
        group=group,
        description=descriptions,
        demand_class=cls,
        line_rate=rate,
        size_mean=size_mean,
        size_shape=size_shape,
        season_amp=amp,
        season_peak=peak,
        trend=trend,
        created_day=created,
        intro_day=intro,
        ramp_days=ramp,
        phaseout_day=phaseout,
        end_day=end,
        cost=cost,
        peinh=peinh,
        list_price=np.round(cost * markup, 2),
        weight=np.round(rng.lognormal(np.log(1.5), 1.0, n), 3),
        service_z=z,
        price_control=["S" if v else "V" for v in (rng.random(n) < 0.6).tolist()],
        promotions=promotions,
    )


def make_vendors(rng: np.random.Generator, n: int, days: int) -> Vendors:
    """Vendors in Europe (short lead times) and overseas (long, less reliable)."""
    far = rng.random(n) < 0.3
    names, cities, countries, lt_low, lt_high = [], [], [], [], []
    for is_far in far.tolist():
        if is_far:
            city, country, low, high = _VENDOR_ORIGINS[rng.integers(len(_VENDOR_ORIGINS))]
        else:
            city, country, _, _ = _CITIES[rng.integers(len(_CITIES))]
            low, high = 3, 12
        names.append(_company(rng, country, _SUPPLIER_TRADES))
        cities.append(city)
        countries.append(country)
        lt_low.append(low)
        lt_high.append(high)
    disrupted = rng.random(n) < 0.3
    start = np.where(disrupted, rng.integers(0, max(days - 14, 1), n), FAR)
    disruption = np.column_stack([start, start + rng.integers(14, 46, n), rng.integers(7, 25, n)])
    return Vendors(
        lifnr=300000 + np.arange(n) * 10,
        name=names,
        city=cities,
        country=countries,
        lt_low=np.array(lt_low),
        lt_high=np.array(lt_high),
        lt_bias=rng.normal(-0.02, 0.05, n),
        lt_sigma=rng.uniform(0.08, 0.3, n),
        disruption=disruption,
    )


def make_customers(rng: np.random.Generator, n: int, plants: Plants) -> Customers:
    """Customers in towns around their serving plant, with a few large (contract) accounts."""
    city_lat = np.array([c[2] for c in _CITIES])
    city_lon = np.array([c[3] for c in _CITIES])
    plant = np.arange(n) % len(plants.werks)
    names, cities, countries, postal = [], [], [], []
    lat, lon = np.empty(n), np.empty(n)
    nearest = [
        np.argsort(_haversine_km(city_lat, city_lon, la, lo), kind="stable")[:8]
        for la, lo in zip(plants.lat.tolist(), plants.lon.tolist(), strict=True)
    ]
    for i, p in enumerate(plant.tolist()):
        near = nearest[p]
        city, country, clat, clon = _CITIES[near[rng.integers(len(near))]]
        lat[i] = clat + rng.normal(0, 0.06)
        lon[i] = clon + rng.normal(0, 0.06) / np.cos(np.radians(clat))
        names.append(_company(rng, country, _TRADES))
        cities.append(city)
        countries.append(country)
        postal.append(postal_code(rng, country))
    weight = rng.pareto(1.2, n) + 1.0
    return Customers(
        kunnr=100000 + np.arange(n),
        plant=plant,
        weight=weight,
        name=names,
        city=cities,
        country=countries,
        postal_code=postal,
        lat=np.round(lat, 6),
        lon=np.round(lon, 6),
        delivery_days=rng.integers(1, 6, n),
        # The largest quarter of the accounts have supply contracts: a stockout does not make
        # them order elsewhere, their order is taken in full and delivered as far as possible.
        contract=weight >= np.quantile(weight, 0.75),
    )


def _round_up(x: np.ndarray, step: np.ndarray) -> np.ndarray:
    return np.ceil(np.maximum(x, 1) / step).astype(np.int64) * step


def make_series(
    rng: np.random.Generator, materials: Materials, plants: Plants, vendors: Vendors
) -> Series:
    """Extend materials to plants and source each from one or two info-record vendors."""
    n_mat, n_plant = len(materials.matnr), len(plants.werks)
    present = rng.random((n_mat, n_plant)) < 0.85
    present[np.arange(n_mat), rng.integers(n_plant, size=n_mat)] = True
    material, plant = np.nonzero(present)
    n = len(material)

    n_vendors = len(vendors.lifnr)
    first = rng.integers(n_vendors, size=n_mat)
    second = np.where(
        (rng.random(n_mat) < 0.4) & (n_vendors > 1),
        (first + rng.integers(1, max(n_vendors, 2), size=n_mat)) % n_vendors,
        -1,
    )
    mat_vendor = np.column_stack([first, second])
    vendor = mat_vendor[material]
    safe = np.maximum(vendor, 0)
    # Planned delivery time: vendor's range, a material offset, plant distance noise.
    base_lt = rng.integers(vendors.lt_low[safe], vendors.lt_high[safe] + 1)
    aplfz = np.maximum(base_lt + rng.integers(0, 3, size=(n, 1)), 1)
    price_factor = rng.uniform(0.95, 1.05, size=(n_mat, 2))[material]
    peinh = materials.peinh[material]
    netpr = np.round(materials.cost[material, None] * peinh[:, None] * price_factor, 2)
    netpr[:, 1] = np.round(netpr[:, 1] * rng.uniform(0.98, 1.12, n), 2)

    line_rate = materials.line_rate[material] * plants.scale[plant]
    mu = materials.size_mean[material]
    k = materials.size_shape[material]
    extra_mean = mu - 1
    size_sq = 1 + 2 * extra_mean + extra_mean + extra_mean**2 / k + extra_mean**2
    mean_demand = line_rate * mu
    plifz = aplfz[:, 0]
    sigma = np.sqrt(line_rate * size_sq)
    eisbe = np.ceil(materials.service_z[material] * sigma * np.sqrt(plifz)).astype(np.int64)

    cover = rng.choice(np.array([7, 14, 21, 28, 42]), size=n)
    raw_lot = mean_demand * cover
    bstrf = np.select(
        [raw_lot < 20, raw_lot < 100, raw_lot < 400, raw_lot < 2000], [1, 5, 10, 50], 100
    ).astype(np.int64)
    minbm = _round_up(raw_lot[:, None] * rng.uniform(0.3, 0.7, size=(n, 2)), bstrf[:, None])
    lot = np.maximum(_round_up(raw_lot, bstrf), minbm[:, 0])
    norbm = np.column_stack([lot, _round_up(lot * rng.uniform(0.8, 1.5, n), bstrf)])
    mat_infnr = 5300000000 + np.arange(n_mat)[:, None] * 2 + np.array([0, 1])
    infnr = np.where(mat_vendor >= 0, mat_infnr, -1)[material]
    return Series(
        material=material,
        plant=plant,
        line_rate=line_rate,
        mean_demand=mean_demand,
        vendor=vendor,
        infnr=infnr,
        aplfz=aplfz,
        netpr=netpr,
        minbm=minbm,
        norbm=norbm,
        plifz=plifz,
        eisbe=eisbe,
        bstrf=bstrf,
        lot=lot,
    )


def make_master_data(
    rng: np.random.Generator, materials: int, plants: int, customers: int, vendors: int, days: int
) -> MasterData:
    """All master data of the demo company for one seed."""
    plant_data = make_plants(rng, plants)
    material_data = make_materials(rng, materials, days)
    vendor_data = make_vendors(rng, vendors, days)
    customer_data = make_customers(rng, customers, plant_data)
    series = make_series(rng, material_data, plant_data, vendor_data)
    return MasterData(plant_data, material_data, vendor_data, customer_data, series)
