"""Deterministic generator of SAP-shaped demo extracts (SE16N-style landing files).

One seed gives byte-identical files. The transactional history comes from a day-by-day
simulation (see `simulation.py`), so stock snapshots, goods movements, purchase orders and
sales orders agree with each other the way they do in a real SAP system.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from pipelines.demo.master import (
    DISCONTINUED_STATUS,
    FAR,
    MasterData,
    make_master_data,
    postal_code,
)
from pipelines.demo.se16n import NO_DATE, NO_KEY, Frame, file_pattern, write_table
from pipelines.demo.simulation import SimulationResult, simulate
from pipelines.ingest.specs import TABLE_SPECS

SUMMARY_FILE = "_generator_summary.json"
SALES_ORDER_BASE = 10_000_000  # VBELN 0010000000...
PURCHASE_ORDER_BASE = 4_500_000_000
#: Material document number ranges per year: goods receipts 50..., other movements 49...
DOCUMENT_BASES = (5_000_000_000, 4_900_000_000)
CURRENCY = "EUR"
PURCHASING_ORG = "1000"
STORAGE_LOCATION = "0001"
DELIVERY_BASE = 80_000_000  # VBELN 0080000000... (outbound deliveries)
#: Share of sales orders whose goods leave 1-3 days after the requested delivery date.
LATE_SHIPMENT_SHARE = 0.06
#: VBAP-ABGRU "01" (delivery date too late): the rest of a short contract line is cancelled.
REJECTED_SHORT = "01"
ADDRESS_BASE = 20_000  # ADRC-ADDRNUMBER 0000020000...
CLIENT = "100"  # SAP client (MANDT), the first part of ADRV-APPL_KEY
#: Key accounts of a Japanese retail group are invoiced in yen. SAP stores yen amounts with two
#: decimals like any currency, shifted by TCURX (JPY has none): 1 000 JPY is stored as 10,00.
FOREIGN_CURRENCY = "JPY"
FOREIGN_PER_EUR = 160.0
#: TCURX lists only currencies whose number of decimals is not two.
CURRENCY_DECIMALS = {
    "BHD": 3,
    "CLP": 0,
    "ISK": 0,
    "JOD": 3,
    "JPY": 0,
    "KRW": 0,
    "KWD": 3,
    "OMR": 3,
    "TND": 3,
}
#: Alternative units (MARM) per base unit: (unit, UMREZ, UMREN), UMREN units = UMREZ base units.
ALTERNATIVE_UNITS = {
    "ST": (("KAR", 12, 1), ("KAR", 6, 1), ("PAK", 2, 1)),
    "L": (("KAR", 4, 1),),
    "KG": (("PAK", 5, 2),),
}
_STREETS = {
    "DE": ("Hauptstraße", "Bahnhofstraße", "Industriestraße", "Am Hafen"),
    "AT": ("Hauptplatz", "Industriezeile", "Bahnhofstraße"),
    "FR": ("Rue de la République", "Avenue Jean Jaurès", "Rue du Port"),
    "IT": ("Via Roma", "Via Garibaldi", "Via dell'Industria"),
    "ES": ("Calle Mayor", "Avenida de la Industria", "Calle del Puerto"),
    "NL": ("Havenweg", "Stationsstraat", "Industrieweg"),
    "BE": ("Kerkstraat", "Rue de la Gare", "Industrielaan"),
}


@dataclass(frozen=True)
class DemoConfig:
    """Size, window and seed of the demo company."""

    materials: int = 60
    plants: int = 3
    customers: int = 200
    vendors: int = 15
    days: int = 730
    start: date = date(2024, 1, 1)
    seed: int = 42

    def __post_init__(self) -> None:
        limits = {
            "materials": (1, 10_000_000),
            "plants": (1, 899),
            "customers": (self.plants, 10_000_000),
            "vendors": (1, 1_000_000),
            "days": (1, 36_500),
            "seed": (0, 2**63 - 1),
        }
        for name, (low, high) in limits.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise ValueError(
                    f"DemoConfig.{name} must be an integer in [{low}, {high}], got {value!r}"
                )
        if not isinstance(self.start, date):
            raise ValueError(f"DemoConfig.start must be a date, got {self.start!r}")


def generate(config: DemoConfig, out_dir: Path) -> dict[str, int]:
    """Write one file per master table and per transactional table and day into `out_dir`.

    Demo files already in `out_dir` (same table names) are replaced, so the directory holds
    exactly one generation. Returns the rows written per SAP table, also recorded with the
    config in `_generator_summary.json`.
    """
    rng = np.random.default_rng(config.seed)
    master = make_master_data(
        rng, config.materials, config.plants, config.customers, config.vendors, config.days
    )
    sim = simulate(rng, master, config.start, config.days)
    tables, shipments = build_tables(rng, master, sim, config)
    # Tables added later draw from their own stream, so the earlier tables stay as they were.
    later_rng = np.random.default_rng([config.seed, 1])
    tables.update(build_later_tables(later_rng, master, tables, shipments))

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    written: set[str] = set()
    for name, spec in TABLE_SPECS.items():
        if name not in tables:
            if spec.optional:
                continue  # a table added to the specs that the demo does not make
            raise ValueError(
                f"table spec {name} is required, but the demo generator makes no rows for it: "
                "add it to pipelines/demo/generator.py, or declare it optional=True"
            )
        counts[name], files = write_table(name, tables.pop(name), out_dir, config.start)
        written.update(files)
    # Files of an earlier generation that this one did not overwrite would mix two datasets.
    patterns = [file_pattern(spec) for spec in TABLE_SPECS.values()]
    for path in sorted(out_dir.iterdir()):
        if path.name not in written and any(p.match(path.name) for p in patterns):
            path.unlink()
    summary = {
        "config": {**asdict(config), "start": config.start.isoformat()},
        "rows": counts,
        "total_rows": sum(counts.values()),
    }
    (out_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return counts


@dataclass(frozen=True)
class Shipments:
    """What left the warehouse for the sales orders, the input of the outbound deliveries."""

    qty: np.ndarray  # per VBAP row, base unit; below KWMENG where a contract line was short
    issue_day: np.ndarray  # per VBAK row, the goods issue (601) day


def build_tables(
    rng: np.random.Generator, master: MasterData, sim: SimulationResult, config: DemoConfig
) -> tuple[dict[str, Frame], Shipments]:
    """Column arrays of every SAP table, dates as day offsets from `config.start`."""
    tables = _master_tables(master)
    sales, shipments, deliveries, awaiting_issue = _sales_orders(rng, master, sim)
    tables["MARD"] = _stock_snapshots(master, sim.stock + awaiting_issue)
    tables.update(sales)
    purchases, receipts = _purchase_orders(rng, master, sim, config.days)
    tables.update(purchases)
    movements = _concat(receipts, deliveries, _stock_issues(master, sim))
    tables.update(_material_documents(master, movements, config.start, config.days))
    return tables, shipments


def build_later_tables(
    rng: np.random.Generator, master: MasterData, tables: dict[str, Frame], shipments: Shipments
) -> dict[str, Frame]:
    """Units of measure, currencies, addresses and deliveries, on top of `build_tables`.

    Some sales order items change to an alternative sales unit (same base quantity) and key
    accounts' orders to yen, so the conversions in the warehouse have something to convert.
    """
    marm, alternative = _units_of_measure(rng, master)
    vbak, vbap = _foreign_currency_orders(master, tables["VBAK"], tables["VBAP"])
    base_qty = np.asarray(vbap["KWMENG"], dtype=np.int64)  # drawn in the base unit
    vbap = _alternative_sales_units(rng, master, vbap, shipments.qty, alternative)
    return {
        "VBAK": vbak,
        "VBAP": vbap,
        **_deliveries(master, vbak, vbap, base_qty, shipments),
        **_addresses(rng, master),
        "MARM": marm,
        "TCURX": {
            "CURRKEY": np.asarray(list(CURRENCY_DECIMALS), dtype=object),
            "CURRDEC": np.asarray(list(CURRENCY_DECIMALS.values()), dtype=np.int64),
        },
    }


def _units_of_measure(
    rng: np.random.Generator, master: MasterData
) -> tuple[Frame, dict[str, np.ndarray]]:
    """MARM: the base unit (1 = 1) of every material and an alternative unit for most.

    Returns the table and, per material, the alternative unit ("" for none), UMREZ and UMREN.
    """
    mats = master.materials
    n = len(mats.matnr)
    base = np.asarray(mats.unit, dtype=object)
    has_alt = rng.random(n) < 0.7
    alt_unit = np.full(n, "", dtype=object)
    umrez, umren = np.ones(n, dtype=np.int64), np.ones(n, dtype=np.int64)
    for m in np.flatnonzero(has_alt).tolist():
        choices = ALTERNATIVE_UNITS[base[m]]
        alt_unit[m], umrez[m], umren[m] = choices[rng.integers(len(choices))]
    alt = np.flatnonzero(has_alt)
    marm = {
        "MATNR": np.concatenate([mats.matnr, mats.matnr[alt]]),
        "MEINH": np.concatenate([base, alt_unit[alt]]),
        "UMREZ": np.concatenate([np.ones(n, dtype=np.int64), umrez[alt]]),
        "UMREN": np.concatenate([np.ones(n, dtype=np.int64), umren[alt]]),
    }
    return marm, {"unit": alt_unit, "umrez": umrez, "umren": umren}


def _material_index(master: MasterData, matnr: np.ndarray) -> np.ndarray:
    return np.searchsorted(master.materials.matnr, matnr)


def _alternative_sales_units(
    rng: np.random.Generator,
    master: MasterData,
    vbap: Frame,
    shipped: np.ndarray,
    alternative: dict[str, np.ndarray],
) -> Frame:
    """Items whose quantity is a whole number of alternative units are often sold in them.

    The shipped quantity must be whole in that unit too, so the delivery item keeps the order
    item's unit; a short line that shipped a broken carton stays in the base unit.
    """
    m = _material_index(master, vbap["MATNR"])
    umrez, umren = alternative["umrez"][m], alternative["umren"][m]
    qty = np.asarray(vbap["KWMENG"], dtype=np.int64)
    whole = (
        (alternative["unit"][m] != "")
        & ((qty * umren) % umrez == 0)
        & ((shipped * umren) % umrez == 0)
    )
    switch = whole & (rng.random(len(qty)) < 0.7)
    return {
        **vbap,
        "KWMENG": np.where(switch, qty * umren // np.maximum(umrez, 1), qty),
        "VRKME": np.where(switch, alternative["unit"][m], vbap["VRKME"]).astype(object),
    }


def _foreign_currency_orders(master: MasterData, vbak: Frame, vbap: Frame) -> tuple[Frame, Frame]:
    """Orders of key accounts (every twelfth customer) in yen, stored shifted as SAP does."""
    key_accounts = master.customers.kunnr[5::12]
    foreign = np.isin(vbak["KUNNR"], key_accounts)
    foreign_orders = vbak["VBELN"][foreign]
    item_foreign = np.isin(vbap["VBELN"], foreign_orders)
    shift = 10.0 ** (2 - CURRENCY_DECIMALS[FOREIGN_CURRENCY])
    foreign_value = np.round(vbap["NETWR"] * FOREIGN_PER_EUR) / shift
    return (
        {**vbak, "WAERK": np.where(foreign, FOREIGN_CURRENCY, vbak["WAERK"]).astype(object)},
        {
            **vbap,
            "NETWR": np.where(item_foreign, foreign_value, vbap["NETWR"]),
            "WAERK": np.where(item_foreign, FOREIGN_CURRENCY, vbap["WAERK"]).astype(object),
        },
    )


def _deliveries(
    master: MasterData, vbak: Frame, vbap: Frame, base_qty: np.ndarray, shipments: Shipments
) -> dict[str, Frame]:
    """LIKP/LIPS: one outbound delivery per sales order that shipped anything.

    A delivery item carries the shipped quantity in its order item's unit; items that shipped
    nothing have none, and neither do orders that shipped nothing. Goods are planned to leave
    on the order day (WADAT) and left on the goods issue day (WADAT_IST).
    """
    mats = master.materials
    n_orders = len(vbak["VBELN"])
    order_of_item = np.asarray(vbap["VBELN"]) - SALES_ORDER_BASE
    m = _material_index(master, vbap["MATNR"])
    shipped = shipments.qty
    weight = np.bincount(order_of_item, shipped * mats.weight[m], n_orders)
    # Exact: KWMENG / base_qty is UMREN / UMREZ, and the shipped quantity is whole in that unit.
    lfimg = shipped * np.asarray(vbap["KWMENG"], dtype=np.int64) // base_qty
    heads = np.flatnonzero(np.bincount(order_of_item, shipped, n_orders) > 0)
    items = np.flatnonzero(shipped > 0)
    delivery = DELIVERY_BASE + (np.asarray(vbak["VBELN"]) - SALES_ORDER_BASE)
    vdatu = np.asarray(vbak["VDATU"])[heads]
    erdat = np.asarray(vbak["ERDAT"])[heads]
    return {
        "LIKP": {
            "VBELN": delivery[heads],
            "LFART": _full(len(heads), "LF"),
            "ERDAT": erdat,
            "VSTEL": vbak["VKORG"][heads],
            "KUNNR": vbak["KUNNR"][heads],
            "LFDAT": np.where(vdatu == NO_DATE, erdat, vdatu),
            "WADAT": erdat,
            "WADAT_IST": shipments.issue_day[heads],
            "BTGEW": np.round(weight[heads], 3),
            "GEWEI": _full(len(heads), "KG"),
        },
        "LIPS": {
            "VBELN": delivery[order_of_item[items]],
            "POSNR": vbap["POSNR"][items],
            "MATNR": vbap["MATNR"][items],
            "WERKS": vbap["WERKS"][items],
            "LGORT": _full(len(items), STORAGE_LOCATION),
            "LFIMG": lfimg[items],
            "VRKME": vbap["VRKME"][items],
            "MEINS": np.asarray(mats.unit, dtype=object)[m[items]],
            "VGBEL": vbap["VBELN"][items],
            "VGPOS": vbap["POSNR"][items],
            "ERDAT": vbap["ERDAT"][items],
        },
    }


def _addresses(rng: np.random.Generator, master: MasterData) -> dict[str, Frame]:
    """ADRC addresses of plants and customers, and ADRV linking them to T001W / KNA1."""
    plants, customers = master.plants, master.customers
    owners = [("T001W", werks) for werks in plants.werks] + [
        ("KNA1", f"{kunnr:010d}") for kunnr in customers.kunnr.tolist()
    ]
    countries = list(plants.country) + list(customers.country)
    n = len(owners)
    number = np.asarray([f"{ADDRESS_BASE + i:010d}" for i in range(n)], dtype=object)
    streets = [_STREETS[c][rng.integers(len(_STREETS[c]))] for c in countries]
    plant_codes = [postal_code(rng, c) for c in plants.country]
    return {
        "ADRC": {
            "ADDRNUMBER": number,
            "NAME1": np.asarray(list(plants.name) + list(customers.name), dtype=object),
            "STREET": np.asarray(streets, dtype=object),
            "HOUSE_NUM1": rng.integers(1, 200, n).astype(str).astype(object),
            "POST_CODE1": np.asarray(plant_codes + list(customers.postal_code), dtype=object),
            "CITY1": np.asarray(list(plants.city) + list(customers.city), dtype=object),
            "COUNTRY": np.asarray(countries, dtype=object),
            "TIME_ZONE": _full(n, "CET"),
            "LATITUDE": np.concatenate([plants.lat, customers.lat]),
            "LONGITUDE": np.concatenate([plants.lon, customers.lon]),
        },
        "ADRV": {
            "ADDRNUMBER": number,
            "APPL_TABLE": np.asarray([table for table, _ in owners], dtype=object),
            "APPL_FIELD": _full(n, "ADRNR"),
            "APPL_KEY": np.asarray([CLIENT + key for _, key in owners], dtype=object),
        },
    }


def _full(n: int, value: str) -> np.ndarray:
    return np.full(n, value, dtype=object)


def _pick(values: list[str], index: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=object)[index]


def _valuation_price(master: MasterData) -> tuple[np.ndarray, np.ndarray]:
    """MBEW moving and standard price per price unit for each series."""
    mats, series = master.materials, master.series
    base = mats.cost[series.material] * mats.peinh[series.material]
    drift = 1 + 0.03 * np.sin(np.arange(len(series.material)) * 1.7)
    verpr = np.round(base * drift, 2)
    standard = np.asarray(mats.price_control, dtype=object)[series.material] == "S"
    return verpr, np.where(standard, np.round(base, 2), 0.0)


def _master_tables(master: MasterData) -> dict[str, Frame]:
    plants, mats, vendors, customers, series = (
        master.plants,
        master.materials,
        master.vendors,
        master.customers,
        master.series,
    )
    n_mat, n = len(mats.matnr), len(series.material)
    werks = np.asarray(plants.werks, dtype=object)[series.plant]
    matnr = mats.matnr[series.material]
    verpr, stprs = _valuation_price(master)
    discontinued = mats.phaseout_day[series.material] < FAR

    has_vendor = series.vendor >= 0
    s_idx, slot = np.nonzero(has_vendor)
    infnr, first = np.unique(series.infnr[s_idx, slot], return_index=True)
    eine_order = np.lexsort((series.plant[s_idx], series.infnr[s_idx, slot]))
    es, eslot = s_idx[eine_order], slot[eine_order]
    return {
        "T001W": {
            "WERKS": np.asarray(plants.werks, dtype=object),
            "NAME1": np.asarray(plants.name, dtype=object),
            "ORT01": np.asarray(plants.city, dtype=object),
            "LAND1": np.asarray(plants.country, dtype=object),
            "LATITUDE": plants.lat,
            "LONGITUDE": plants.lon,
        },
        "MARA": {
            "MATNR": mats.matnr,
            "MTART": _full(n_mat, "HAWA"),
            "MATKL": np.asarray(mats.matkl, dtype=object),
            "MEINS": np.asarray(mats.unit, dtype=object),
            "BRGEW": mats.weight,
            "GEWEI": _full(n_mat, "KG"),
            "ERSDA": mats.created_day,
            "LVORM": _full(n_mat, ""),
        },
        "MAKT": {
            "MATNR": mats.matnr,
            "SPRAS": _full(n_mat, "E"),
            "MAKTX": np.asarray(mats.description, dtype=object),
        },
        "MARC": {
            "MATNR": matnr,
            "WERKS": werks,
            "DISMM": _full(n, "VB"),
            "PLIFZ": series.plifz,
            "EISBE": series.eisbe,
            "DISLS": _full(n, "FX"),
            "BSTMI": series.minbm[:, 0],
            "BSTRF": series.bstrf,
            "MMSTA": np.where(discontinued, DISCONTINUED_STATUS, "").astype(object),
        },
        "MBEW": {
            "MATNR": matnr,
            "BWKEY": werks,
            "VPRSV": _pick(mats.price_control, series.material),
            "VERPR": verpr,
            "STPRS": stprs,
            "PEINH": mats.peinh[series.material],
            "WAERS": _full(n, CURRENCY),
        },
        "LFA1": {
            "LIFNR": vendors.lifnr,
            "NAME1": np.asarray(vendors.name, dtype=object),
            "LAND1": np.asarray(vendors.country, dtype=object),
            "ORT01": np.asarray(vendors.city, dtype=object),
        },
        "KNA1": {
            "KUNNR": customers.kunnr,
            "NAME1": np.asarray(customers.name, dtype=object),
            "LAND1": np.asarray(customers.country, dtype=object),
            "ORT01": np.asarray(customers.city, dtype=object),
            "PSTLZ": np.asarray(customers.postal_code, dtype=object),
            "LATITUDE": customers.lat,
            "LONGITUDE": customers.lon,
        },
        "EINA": {
            "INFNR": infnr.astype(str).astype(object),
            "MATNR": matnr[s_idx[first]],
            "LIFNR": vendors.lifnr[series.vendor[s_idx[first], slot[first]]],
        },
        "EINE": {
            "INFNR": series.infnr[es, eslot].astype(str).astype(object),
            "EKORG": _full(len(es), PURCHASING_ORG),
            "WERKS": werks[es],
            "NETPR": series.netpr[es, eslot],
            "PEINH": mats.peinh[series.material[es]],
            "WAERS": _full(len(es), CURRENCY),
            "APLFZ": series.aplfz[es, eslot],
            "MINBM": series.minbm[es, eslot],
            "NORBM": series.norbm[es, eslot],
        },
    }


def _stock_snapshots(master: MasterData, stock: np.ndarray) -> Frame:
    """MARD end-of-day stock for every day the material exists at the plant."""
    series, mats = master.series, master.materials
    days = stock.shape[0]
    exists = np.arange(days)[:, None] >= mats.created_day[series.material]
    day, s = np.nonzero(exists)
    n = len(day)
    return {
        "MATNR": mats.matnr[series.material[s]],
        "WERKS": np.asarray(master.plants.werks, dtype=object)[series.plant[s]],
        "LGORT": _full(n, STORAGE_LOCATION),
        "DATUM": day,
        "LABST": stock[day, s],
        "INSME": np.zeros(n),
        "SPEME": np.zeros(n),
    }


# Movements are collected as rows with enough keys to form material documents later.
Movements = dict[str, np.ndarray]
_MOVEMENT_KEYS = (
    "day",
    "number_range",
    "group",
    "doc_key",
    "line",
    "bwart",
    "vgart",
    "bldat",
    "series",
    "qty",
    "amount",
    "vendor",
    "customer",
    "ebeln",
    "ebelp",
    "kdauf",
)


def _movements(n: int, **values: np.ndarray | int | str) -> Movements:
    defaults: dict[str, np.ndarray | int | str] = {
        "vendor": NO_KEY,
        "customer": NO_KEY,
        "ebeln": NO_KEY,
        "ebelp": 0,
        "kdauf": NO_KEY,
    }
    out: Movements = {}
    for key in _MOVEMENT_KEYS:
        value = values.get(key, defaults.get(key))
        if value is None:
            raise KeyError(f"movement field {key} missing")
        if isinstance(value, str):
            out[key] = _full(n, value)
        else:
            out[key] = np.broadcast_to(np.asarray(value), (n,)).copy()
    return out


def _concat(*groups: Movements | list[Movements]) -> Movements:
    flat: list[Movements] = []
    for g in groups:
        flat.extend(g if isinstance(g, list) else [g])
    return {key: np.concatenate([g[key] for g in flat]) for key in _MOVEMENT_KEYS}


def _sales_orders(
    rng: np.random.Generator, master: MasterData, sim: SimulationResult
) -> tuple[dict[str, Frame], Shipments, list[Movements], np.ndarray]:
    """VBAK/VBAP, what they shipped and their 601 goods issues (plus a few reversals).

    Other customers order what the plant can deliver (the rest is a lost sale); contract
    customers order what they asked for and get what was in stock. A few orders leave after
    their requested date: the stock stays booked in MARD (returned as the quantity awaiting
    goods issue per day and series) until the late 601 posts it out.
    """
    series, mats, customers = master.series, master.materials, master.customers
    contract = customers.contract[sim.lines.customer]
    ordered = np.where(contract, sim.lines.qty, sim.delivered)
    keep = ordered > 0
    day, s = sim.lines.day[keep], sim.lines.series[keep]
    cust, qty, shipped = sim.lines.customer[keep], ordered[keep], sim.delivered[keep]
    discount = sim.lines.discount[keep]
    plant = series.plant[s]
    n_plants, n_cust = len(master.plants.werks), len(customers.kunnr)
    order_keys, order = np.unique((day * n_plants + plant) * n_cust + cust, return_inverse=True)
    by_order = np.lexsort((s, order))
    day, s, cust, qty, shipped, discount, order = (
        x[by_order] for x in (day, s, cust, qty, shipped, discount, order)
    )
    first = np.r_[True, order[1:] != order[:-1]]
    rank = np.arange(len(order)) - np.flatnonzero(first)[np.cumsum(first) - 1]
    posnr = 10 * (rank + 1)
    vbeln = SALES_ORDER_BASE + order
    werks = np.asarray(master.plants.werks, dtype=object)
    material = series.material[s]

    n_orders = len(order_keys)
    head_day = order_keys // n_cust // n_plants
    head_plant = (order_keys // n_cust) % n_plants
    head_cust = order_keys % n_cust
    rush = rng.random(n_orders) < 0.04
    lead = np.where(rush, 0, customers.delivery_days[head_cust] + rng.integers(0, 3, n_orders))
    vdatu = np.where(rng.random(n_orders) < 0.02, NO_DATE, head_day + lead)
    netwr = np.round(qty * mats.list_price[material] * (1 - discount), 2)
    tables = {
        "VBAK": {
            "VBELN": SALES_ORDER_BASE + np.arange(n_orders),
            "AUART": np.where(rush, "SO", "OR").astype(object),
            "ERDAT": head_day,
            "KUNNR": customers.kunnr[head_cust],
            "VKORG": werks[head_plant],
            "VDATU": vdatu,
            "WAERK": _full(n_orders, CURRENCY),
        },
        "VBAP": {
            "VBELN": vbeln,
            "POSNR": posnr,
            "MATNR": mats.matnr[material],
            "WERKS": werks[series.plant[s]],
            "KWMENG": qty,
            "VRKME": _pick(mats.unit, material),
            "NETWR": netwr,
            "WAERK": _full(len(qty), CURRENCY),
            "ERDAT": day,
            # The customer cancels what stock could not cover: the item is closed, not open.
            "ABGRU": np.where(shipped < qty, REJECTED_SHORT, "").astype(object),
        },
    }

    # A few orders are picked on the order day but leave 1-3 days after their requested date.
    days, n_series = sim.stock.shape
    due = np.where(vdatu == NO_DATE, head_day, vdatu)
    late_day = due + rng.integers(1, 4, n_orders)
    late = (rng.random(n_orders) < LATE_SHIPMENT_SHARE) & (late_day < days)
    issue_day = np.where(late, late_day, head_day)

    picked = np.flatnonzero(shipped > 0)
    day, s, order, qty = day[picked], s[picked], order[picked], shipped[picked]
    gi_day, vbeln, posnr = issue_day[order], vbeln[picked], posnr[picked]
    picked_minus_issued = np.bincount(day * n_series + s, qty, days * n_series) - np.bincount(
        gi_day * n_series + s, qty, days * n_series
    )
    awaiting = np.cumsum(picked_minus_issued.reshape(days, n_series), axis=0).astype(np.int64)

    verpr, stprs = _valuation_price(master)
    unit_value = np.where(stprs > 0, stprs, verpr) / mats.peinh[series.material]
    value = np.round(qty * unit_value[s], 2)
    common = {"day": gi_day, "series": s, "customer": customers.kunnr[cust[picked]], "kdauf": vbeln}
    issues = _movements(
        len(qty),
        number_range=1,
        group=3,
        doc_key=order,
        line=posnr,
        bwart="601",
        vgart="WL",
        bldat=gi_day,
        qty=-qty,
        amount=-value,
        **common,
    )
    # A few deliveries are posted twice by mistake and the duplicate is reversed (602).
    dup = np.flatnonzero(rng.random(len(qty)) < 0.005)
    dup_common = {k: v[dup] for k, v in common.items()}
    duplicates = _movements(
        len(dup),
        number_range=1,
        group=4,
        doc_key=dup,
        line=1,
        bwart="601",
        vgart="WL",
        bldat=gi_day[dup],
        qty=-qty[dup],
        amount=-value[dup],
        **dup_common,
    )
    reversals = _movements(
        len(dup),
        number_range=1,
        group=5,
        doc_key=dup,
        line=1,
        bwart="602",
        vgart="WL",
        bldat=gi_day[dup],
        qty=qty[dup],
        amount=value[dup],
        **dup_common,
    )
    return (
        tables,
        Shipments(qty=shipped, issue_day=issue_day),
        [issues, duplicates, reversals],
        awaiting,
    )


def _purchase_orders(
    rng: np.random.Generator, master: MasterData, sim: SimulationResult, days: int
) -> tuple[dict[str, Frame], list[Movements]]:
    """EKKO/EKPO/EKET per vendor, plant and day, and the 101 receipts (with a few 102s)."""
    series, mats, vendors = master.series, master.materials, master.vendors
    po = sim.purchases
    vendor = series.vendor[po.series, po.slot]
    plant = series.plant[po.series]
    n_plants, n_vendors = len(master.plants.werks), len(vendors.lifnr)
    heads, head = np.unique((po.day * n_plants + plant) * n_vendors + vendor, return_inverse=True)
    order = np.lexsort((po.series, head))
    head = head[order]
    s, slot, day = po.series[order], po.slot[order], po.day[order]
    qty, planned = po.qty[order], po.planned[order]
    arrival, part = po.arrival[order], po.part_qty[order]
    first = np.r_[True, head[1:] != head[:-1]]
    ebelp = 10 * (np.arange(len(head)) - np.flatnonzero(first)[np.cumsum(first) - 1] + 1)
    ebeln = PURCHASE_ORDER_BASE + head
    received = ((arrival >= 0) & (arrival < days)) * part
    netpr = series.netpr[s, slot]
    peinh = mats.peinh[series.material[s]]
    werks = np.asarray(master.plants.werks, dtype=object)
    matnr = mats.matnr[series.material[s]]
    n_items, n_heads = len(head), len(heads)
    tables = {
        "EKKO": {
            "EBELN": PURCHASE_ORDER_BASE + np.arange(n_heads),
            "BSART": _full(n_heads, "NB"),
            "LIFNR": vendors.lifnr[heads % n_vendors],
            "EKORG": _full(n_heads, PURCHASING_ORG),
            "BEDAT": heads // n_vendors // n_plants,
            "WAERS": _full(n_heads, CURRENCY),
        },
        "EKPO": {
            "EBELN": ebeln,
            "EBELP": ebelp,
            "MATNR": matnr,
            "WERKS": werks[plant[order]],
            "MENGE": qty,
            "MEINS": _pick(mats.unit, series.material[s]),
            "NETPR": netpr,
            "PEINH": peinh,
            "AEDAT": day,
        },
        "EKET": {
            "EBELN": ebeln,
            "EBELP": ebelp,
            "ETENR": np.ones(n_items, dtype=np.int64),
            "EINDT": day + planned,
            "MENGE": qty,
            "WEMNG": received.sum(axis=1),
            "BEDAT": day,
        },
    }

    item, part_no = np.nonzero(received > 0)
    gr_day = arrival[item, part_no]
    gr_qty = part[item, part_no]
    gr_value = np.round(gr_qty * netpr[item] / peinh[item], 2)
    bldat = gr_day - rng.integers(0, 3, n_heads)[head[item]]  # delivery note date
    common = {
        "series": s[item],
        "vendor": vendors.lifnr[vendor[order][item]],
        "ebeln": ebeln[item],
        "ebelp": ebelp[item],
    }
    receipts = _movements(
        len(item),
        day=gr_day,
        number_range=0,
        group=0,
        doc_key=head[item],
        line=ebelp[item],
        bwart="101",
        vgart="WE",
        bldat=bldat,
        qty=gr_qty,
        amount=gr_value,
        **common,
    )
    # A few receipts are first keyed with a tenfold quantity, reversed (102) and re-posted.
    wrong = np.flatnonzero(rng.random(len(item)) < 0.015)
    wrong_common = {k: v[wrong] for k, v in common.items()}
    typo = _movements(
        len(wrong),
        day=gr_day[wrong],
        number_range=0,
        group=1,
        doc_key=wrong,
        line=1,
        bwart="101",
        vgart="WE",
        bldat=bldat[wrong],
        qty=10 * gr_qty[wrong],
        amount=10 * gr_value[wrong],
        **wrong_common,
    )
    reversal = _movements(
        len(wrong),
        day=gr_day[wrong],
        number_range=0,
        group=2,
        doc_key=wrong,
        line=1,
        bwart="102",
        vgart="WE",
        bldat=gr_day[wrong],
        qty=-10 * gr_qty[wrong],
        amount=-10 * gr_value[wrong],
        **wrong_common,
    )
    return tables, [receipts, typo, reversal]


def _stock_issues(master: MasterData, sim: SimulationResult) -> list[Movements]:
    """261 consumption and 551 scrapping as posted (capped by the stock of the day)."""
    ev = sim.events
    posted = np.flatnonzero(sim.event_qty > 0)
    verpr, stprs = _valuation_price(master)
    unit_value = np.where(stprs > 0, stprs, verpr) / master.materials.peinh[master.series.material]
    out = []
    for kind, bwart in ((0, "261"), (1, "551")):
        idx = posted[ev.kind[posted] == kind]
        qty = sim.event_qty[idx]
        out.append(
            _movements(
                len(idx),
                day=ev.day[idx],
                number_range=1,
                group=6 + kind,
                doc_key=idx,
                line=1,
                bwart=bwart,
                vgart="WA",
                bldat=ev.day[idx],
                series=ev.series[idx],
                qty=-qty,
                amount=-np.round(qty * unit_value[ev.series[idx]], 2),
            )
        )
    return out


def _material_documents(
    master: MasterData, mv: Movements, start: date, days: int
) -> dict[str, Frame]:
    """Number the movements into MKPF/MSEG documents (per-year number ranges) and EKBE."""
    year_of = np.array([(start + timedelta(days=d)).year for d in range(days)])
    doc_order = np.lexsort((mv["line"], mv["doc_key"], mv["group"], mv["day"], mv["number_range"]))
    mv = {k: v[doc_order] for k, v in mv.items()}
    doc_id = np.stack([mv["number_range"], mv["day"], mv["group"], mv["doc_key"]])
    new_doc = np.r_[True, np.any(doc_id[:, 1:] != doc_id[:, :-1], axis=0)]
    doc = np.cumsum(new_doc) - 1
    heads = np.flatnonzero(new_doc)
    line_no = np.arange(len(doc)) - heads[doc] + 1

    head_range, head_year = mv["number_range"][heads], year_of[mv["day"][heads]]
    counter_key = head_range * 10_000 + head_year
    new_counter = np.r_[True, counter_key[1:] != counter_key[:-1]]
    counter_start = np.flatnonzero(new_counter)[np.cumsum(new_counter) - 1]
    head_number = np.asarray(DOCUMENT_BASES)[head_range] + np.arange(len(heads)) - counter_start
    number, year = head_number[doc], head_year[doc]

    by_day = np.lexsort((line_no, number, mv["day"]))
    heads_by_day = np.lexsort((head_number, mv["day"][heads]))
    series, mats = master.series, master.materials
    werks = np.asarray(master.plants.werks, dtype=object)

    def rows(idx: np.ndarray) -> dict[str, np.ndarray]:
        s = mv["series"][idx]
        return {
            "MBLNR": number[idx],
            "MJAHR": year[idx],
            "ZEILE": line_no[idx],
            "BWART": mv["bwart"][idx],
            "MATNR": mats.matnr[series.material[s]],
            "WERKS": werks[series.plant[s]],
            "qty": mv["qty"][idx],
            "amount": mv["amount"][idx],
            "day": mv["day"][idx],
        }

    m = rows(by_day)
    n = len(by_day)
    qty = m["qty"]
    units = np.asarray(mats.unit, dtype=object)
    mseg = {
        "MBLNR": m["MBLNR"],
        "MJAHR": m["MJAHR"],
        "ZEILE": m["ZEILE"],
        "BWART": m["BWART"],
        "MATNR": m["MATNR"],
        "WERKS": m["WERKS"],
        "LGORT": _full(n, STORAGE_LOCATION),
        "MENGE": qty,
        "MEINS": units[series.material[mv["series"][by_day]]],
        "SHKZG": np.where(qty < 0, "H", "S").astype(object),
        "DMBTR": m["amount"],
        "WAERS": _full(n, CURRENCY),
        "LIFNR": mv["vendor"][by_day],
        "KUNNR": mv["customer"][by_day],
        "EBELN": mv["ebeln"][by_day],
        "KDAUF": mv["kdauf"][by_day],
        "BUDAT_MKPF": m["day"],
    }
    hd = heads[heads_by_day]
    mkpf = {
        "MBLNR": number[hd],
        "MJAHR": year[hd],
        "BUDAT": mv["day"][hd],
        "BLDAT": mv["bldat"][hd],
        "VGART": mv["vgart"][hd],
    }
    po_rows = by_day[mv["ebeln"][by_day] != NO_KEY]
    e = rows(po_rows)
    ekbe = {
        "EBELN": mv["ebeln"][po_rows],
        "EBELP": mv["ebelp"][po_rows],
        "VGABE": _full(len(po_rows), "1"),
        "GJAHR": e["MJAHR"],
        "BELNR": e["MBLNR"],
        "BUZEI": e["ZEILE"],
        "BWART": e["BWART"],
        "BUDAT": e["day"],
        "MENGE": e["qty"],
        "DMBTR": e["amount"],
        "WAERS": _full(len(po_rows), CURRENCY),
        "MATNR": e["MATNR"],
        "WERKS": e["WERKS"],
    }
    return {"MKPF": mkpf, "MSEG": mseg, "EKBE": ekbe}
