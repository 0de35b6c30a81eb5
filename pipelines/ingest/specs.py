"""The one declaration of every SAP table the platform ingests.

Parser, raw DDL, quality checks, the demo generator and the dbt source docs all read
these specs, so a column is named, typed and described exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

ColumnKind = Literal["text", "alpha", "decimal", "integer", "date"]

#: SAP's ALPHA conversion lengths for the keys we normalise everywhere.
ALPHA_LENGTHS = {
    "MATNR": 18,
    "KUNNR": 10,
    "LIFNR": 10,
    "VBELN": 10,
    "KDAUF": 10,
    "EBELN": 10,
    "MBLNR": 10,
    "BELNR": 10,
}

#: Decimal places SE16N and ALV write for SAP quantities (QUAN: always 3) and amounts and
#: prices (CURR: 2, though as many as the currency has, 0 for JPY). They tell the reader whether
#: `1.500` is 1.5 (a quantity) or 1,500 (an amount, if nothing else in the file tells);
#: LATITUDE/LONGITUDE are no SAP fields.
SAP_DECIMALS = {
    **dict.fromkeys(["MENGE", "WEMNG", "KWMENG", "LFIMG", "LABST", "INSME", "SPEME"], 3),
    **dict.fromkeys(["EISBE", "BSTMI", "BSTRF", "MINBM", "NORBM", "BRGEW", "BTGEW"], 3),
    **dict.fromkeys(["NETPR", "VERPR", "STPRS", "DMBTR", "NETWR"], 2),
}
#: SAP type and length (digits, `SAP_DECIMALS` of them decimals) of the same fields: a larger
#: value is none SAP holds (VBAP-KWMENG is QUAN 15,3, MSEG-MENGE QUAN 13,3). Those that
#: S/4HANA's APIs expose are checked against SAP's EDMX in tests/unit/test_mapping.py.
SAP_LENGTHS = {
    **dict.fromkeys(["MENGE", "WEMNG", "LFIMG", "LABST", "INSME", "SPEME"], ("QUAN", 13)),
    **dict.fromkeys(["EISBE", "BSTMI", "BSTRF", "MINBM", "NORBM", "BRGEW"], ("QUAN", 13)),
    **dict.fromkeys(["KWMENG", "BTGEW"], ("QUAN", 15)),
    **dict.fromkeys(["NETPR", "VERPR", "STPRS"], ("CURR", 11)),
    "DMBTR": ("CURR", 13),
    "NETWR": ("CURR", 15),
}


@dataclass(frozen=True)
class Column:
    """One SAP field: technical name, kind, SE16N labels (English, German) and meaning.

    `label_de` comes from `GERMAN_LABELS` for every spec column; None only in ad-hoc specs.
    `decimals` is the SAP field's decimal places as exports show them (`SAP_DECIMALS`), and
    `sap_type` its SAP type and length (`SAP_LENGTHS`); None where unknown.
    """

    name: str
    kind: ColumnKind
    label: str
    description: str
    required: bool = False
    alpha_length: int | None = None
    label_de: str | None = None
    decimals: int | None = None
    sap_type: tuple[str, int] | None = None

    @property
    def sql_name(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class TableSpec:
    """An SAP table: its columns, primary key and (for transactional data) partition column."""

    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    partition_column: str | None = None
    allowed_values: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Optional master data (addresses, unit conversions, currency decimals): a system that
    #: does not deliver it keeps the table as it is instead of failing the load.
    optional: bool = False
    #: Partitioned by a change date (EKPO by AEDAT): a changed row arrives again in the file of
    #: the day it changed, so a key is unique per day, and the latest day's version wins.
    redelivered_when_changed: bool = False
    #: Columns every file must have though a record may leave them blank (ALV hides zeros): the
    #: quantities the table is loaded for. A file without one would load them all as NULL,
    #: replacing a good day's.
    header_required: tuple[str, ...] = ()

    @property
    def raw_table(self) -> str:
        return self.name.lower()

    @property
    def is_partitioned(self) -> bool:
        return self.partition_column is not None

    @property
    def unique_key(self) -> tuple[str, ...]:
        """The columns no two rows of raw may share."""
        if self.redelivered_when_changed and self.partition_column:
            return (*self.key, self.partition_column)
        return self.key

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"{self.name} has no column {name!r}")

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _c(name: str, kind: ColumnKind, label: str, description: str, required: bool = False) -> Column:
    alpha_length = ALPHA_LENGTHS.get(name) if kind == "alpha" else None
    decimals = SAP_DECIMALS.get(name) if kind == "decimal" else None
    sap_type = SAP_LENGTHS.get(name) if kind == "decimal" else None
    return Column(
        name, kind, label, description, required, alpha_length, decimals=decimals, sap_type=sap_type
    )


def _key(name: str, kind: ColumnKind, label: str, description: str) -> Column:
    return _c(name, kind, label, description, required=True)


MATNR = _key("MATNR", "alpha", "Material", "Material number (ALPHA, 18 characters)")
WERKS = _key("WERKS", "text", "Plant", "Plant")
LIFNR = _c("LIFNR", "alpha", "Vendor", "Vendor account number (ALPHA, 10 characters)")
KUNNR = _c("KUNNR", "alpha", "Customer", "Customer number (ALPHA, 10 characters)")
WAERS = _c("WAERS", "text", "Currency", "Currency key")
MEINS = _c("MEINS", "text", "Base Unit of Measure", "Base unit of measure (ST = piece)")

MOVEMENT_TYPES = ("101", "102", "261", "262", "601", "602", "551", "552", "561")

#: German SE16N/ALV column headings per table and column: the field label of the column's data
#: element in the DDIC, as a system logged on in German shows it (most systems that export flat
#: files do). Per table, since the data element differs (MENGE: EKPO "Bestellmenge", MSEG
#: "Menge"). Columns that are no SAP field (LATITUDE, LONGITUDE, MARD-DATUM) get a plain German
#: name. A label repeats only where SAP repeats it: EKBE "Position" (EBELP and BUZEI).
GERMAN_LABELS: dict[str, dict[str, str]] = {
    "T001W": {
        "WERKS": "Werk",
        "NAME1": "Name 1",
        "ORT01": "Ort",
        "LAND1": "Land",
        "LATITUDE": "Breitengrad",
        "LONGITUDE": "Längengrad",
    },
    "MARA": {
        "MATNR": "Material",
        "MTART": "Materialart",
        "MATKL": "Warengruppe",
        "MEINS": "Basismengeneinheit",
        "BRGEW": "Bruttogewicht",
        "GEWEI": "Gewichtseinheit",
        "ERSDA": "Angelegt am",
        "LVORM": "Löschvormerkung",
    },
    "MAKT": {"MATNR": "Material", "SPRAS": "Sprache", "MAKTX": "Materialkurztext"},
    "MARC": {
        "MATNR": "Material",
        "WERKS": "Werk",
        "DISMM": "Dispomerkmal",
        "PLIFZ": "Planlieferzeit",
        "EISBE": "Sicherheitsbestand",
        "DISLS": "Dispolosgröße",
        "BSTMI": "Mindestlosgröße",
        "BSTRF": "Rundungswert",
        "MMSTA": "Werksspez. Mat.-Status",
    },
    "MARD": {
        "MATNR": "Material",
        "WERKS": "Werk",
        "LGORT": "Lagerort",
        "DATUM": "Stichtag",
        "LABST": "Frei verwendbar",
        "INSME": "In Qualitätsprüfung",
        "SPEME": "Gesperrt",
    },
    "MBEW": {
        "MATNR": "Material",
        "BWKEY": "Bewertungskreis",
        "VPRSV": "Preissteuerung",
        "VERPR": "Gleitender Preis",
        "STPRS": "Standardpreis",
        "PEINH": "Preiseinheit",
        "WAERS": "Währung",
    },
    "LFA1": {"LIFNR": "Lieferant", "NAME1": "Name 1", "LAND1": "Land", "ORT01": "Ort"},
    "KNA1": {
        "KUNNR": "Kunde",
        "NAME1": "Name 1",
        "LAND1": "Land",
        "ORT01": "Ort",
        "PSTLZ": "Postleitzahl",
        "LATITUDE": "Breitengrad",
        "LONGITUDE": "Längengrad",
    },
    "EINA": {"INFNR": "Infosatz", "MATNR": "Material", "LIFNR": "Lieferant"},
    "EINE": {
        "INFNR": "Infosatz",
        "EKORG": "Einkaufsorganisation",
        "WERKS": "Werk",
        "NETPR": "Nettopreis",
        "PEINH": "Preiseinheit",
        "WAERS": "Währung",
        "APLFZ": "Planlieferzeit",
        "MINBM": "Mindestbestellmenge",
        "NORBM": "Normalbestellmenge",
    },
    "EKKO": {
        "EBELN": "Einkaufsbeleg",
        "BSART": "Belegart",
        "LIFNR": "Lieferant",
        "EKORG": "Einkaufsorganisation",
        "BEDAT": "Belegdatum",
        "WAERS": "Währung",
    },
    "EKPO": {
        "EBELN": "Einkaufsbeleg",
        "EBELP": "Position",
        "MATNR": "Material",
        "WERKS": "Werk",
        "MENGE": "Bestellmenge",
        "MEINS": "Bestellmengeneinheit",
        "NETPR": "Nettopreis",
        "PEINH": "Preiseinheit",
        "AEDAT": "Geändert am",
    },
    "EKET": {
        "EBELN": "Einkaufsbeleg",
        "EBELP": "Position",
        "ETENR": "Einteilung",
        "EINDT": "Lieferdatum",
        "MENGE": "Eingeteilte Menge",
        "WEMNG": "Gelieferte Menge",
        "BEDAT": "Bestelldatum",
    },
    "EKBE": {
        "EBELN": "Einkaufsbeleg",
        "EBELP": "Position",
        "VGABE": "Vorgangsart",
        "GJAHR": "Materialbelegjahr",
        "BELNR": "Materialbeleg",
        "BUZEI": "Position",
        "BWART": "Bewegungsart",
        "BUDAT": "Buchungsdatum",
        "MENGE": "Menge",
        "DMBTR": "Betrag in HW",
        "WAERS": "Währung",
        "MATNR": "Material",
        "WERKS": "Werk",
    },
    "VBAK": {
        "VBELN": "Verkaufsbeleg",
        "AUART": "Verkaufsbelegart",
        "ERDAT": "Angelegt am",
        "KUNNR": "Auftraggeber",
        "VKORG": "Verkaufsorganisation",
        "VDATU": "Wunschlieferdatum",
        "WAERK": "Belegwährung",
    },
    "VBAP": {
        "VBELN": "Verkaufsbeleg",
        "POSNR": "Position",
        "MATNR": "Material",
        "WERKS": "Werk",
        "KWMENG": "Auftragsmenge",
        "VRKME": "Verkaufsmengeneinheit",
        "NETWR": "Nettowert",
        "WAERK": "Belegwährung",
        "ERDAT": "Angelegt am",
        "ABGRU": "Absagegrund",
    },
    "MKPF": {
        "MBLNR": "Materialbeleg",
        "MJAHR": "Materialbelegjahr",
        "BUDAT": "Buchungsdatum",
        "BLDAT": "Belegdatum",
        "VGART": "Vorgangsart",
    },
    "MSEG": {
        "MBLNR": "Materialbeleg",
        "MJAHR": "Materialbelegjahr",
        "ZEILE": "Position",
        "BWART": "Bewegungsart",
        "MATNR": "Material",
        "WERKS": "Werk",
        "LGORT": "Lagerort",
        "MENGE": "Menge",
        "MEINS": "Basismengeneinheit",
        "SHKZG": "Soll/Haben-Kennz.",
        "DMBTR": "Betrag in HW",
        "WAERS": "Währung",
        "LIFNR": "Lieferant",
        "KUNNR": "Kunde",
        "EBELN": "Einkaufsbeleg",
        "KDAUF": "Kundenauftrag",
        "BUDAT_MKPF": "Buchungsdatum",
    },
    "LIKP": {
        "VBELN": "Lieferung",
        "LFART": "Lieferart",
        "ERDAT": "Angelegt am",
        "VSTEL": "Versandstelle",
        "KUNNR": "Warenempfänger",
        "LFDAT": "Lieferdatum",
        "WADAT": "Plan-Warenbewegung",
        "WADAT_IST": "Ist-Warenbewegung",
        "BTGEW": "Gesamtgewicht",
        "GEWEI": "Gewichtseinheit",
    },
    "LIPS": {
        "VBELN": "Lieferung",
        "POSNR": "Position",
        "MATNR": "Material",
        "WERKS": "Werk",
        "LGORT": "Lagerort",
        "LFIMG": "Liefermenge",
        "VRKME": "Verkaufsmengeneinheit",
        "MEINS": "Basismengeneinheit",
        "VGBEL": "Vorlagebeleg",
        "VGPOS": "Vorlageposition",
        "ERDAT": "Angelegt am",
    },
    "ADRC": {
        "ADDRNUMBER": "Adressnummer",
        "NAME1": "Name 1",
        "STREET": "Straße",
        "HOUSE_NUM1": "Hausnummer",
        "POST_CODE1": "Postleitzahl",
        "CITY1": "Ort",
        "COUNTRY": "Land",
        "TIME_ZONE": "Zeitzone",
        "LATITUDE": "Breitengrad",
        "LONGITUDE": "Längengrad",
    },
    "ADRV": {
        "ADDRNUMBER": "Adressnummer",
        "APPL_TABLE": "Tabellenname",
        "APPL_FIELD": "Feldname",
        "APPL_KEY": "Schlüssel",
    },
    "MARM": {"MATNR": "Material", "MEINH": "Alternative ME", "UMREZ": "Zähler", "UMREN": "Nenner"},
    "TCURX": {"CURRKEY": "Währung", "CURRDEC": "Dezimalstellen"},
}


def _with_german_labels(spec: TableSpec) -> TableSpec:
    labels = GERMAN_LABELS[spec.name]
    return replace(spec, columns=tuple(replace(c, label_de=labels[c.name]) for c in spec.columns))


TABLE_SPECS: dict[str, TableSpec] = {
    spec.name: _with_german_labels(spec)
    for spec in [
        TableSpec(
            "T001W",
            "Plants",
            (
                WERKS,
                _c("NAME1", "text", "Name", "Plant name"),
                _c("ORT01", "text", "City", "City"),
                _c("LAND1", "text", "Country", "Country key"),
                _c("LATITUDE", "decimal", "Latitude", "Geo latitude of the plant (from ADRC)"),
                _c("LONGITUDE", "decimal", "Longitude", "Geo longitude of the plant (from ADRC)"),
            ),
            key=("WERKS",),
        ),
        TableSpec(
            "MARA",
            "General material data",
            (
                MATNR,
                _c("MTART", "text", "Material Type", "Material type (HAWA trading goods)", True),
                _c("MATKL", "text", "Material Group", "Material group (product group)"),
                MEINS,
                _c("BRGEW", "decimal", "Gross Weight", "Gross weight per base unit"),
                _c("GEWEI", "text", "Weight Unit", "Unit of weight"),
                _c("ERSDA", "date", "Created On", "Date the material was created"),
                _c("LVORM", "text", "Deletion Flag", "Flagged for deletion at client level"),
            ),
            key=("MATNR",),
        ),
        TableSpec(
            "MAKT",
            "Material descriptions",
            (
                MATNR,
                _key("SPRAS", "text", "Language", "Language key"),
                _c("MAKTX", "text", "Material Description", "Material description"),
            ),
            key=("MATNR", "SPRAS"),
        ),
        TableSpec(
            "MARC",
            "Plant data for material (MRP settings)",
            (
                MATNR,
                WERKS,
                _c("DISMM", "text", "MRP Type", "MRP type (VB reorder point, PD MRP, ND none)"),
                _c("PLIFZ", "integer", "Planned Deliv. Time", "Planned delivery time in days"),
                _c("EISBE", "decimal", "Safety Stock", "Safety stock in base unit"),
                _c("DISLS", "text", "Lot Size", "Lot-sizing procedure"),
                _c("BSTMI", "decimal", "Minimum Lot Size", "Minimum lot size"),
                _c("BSTRF", "decimal", "Rounding Value", "Rounding value for purchase order qty"),
                _c("MMSTA", "text", "Plant-Sp.Matl Status", "Plant-specific material status"),
            ),
            key=("MATNR", "WERKS"),
        ),
        TableSpec(
            "MARD",
            "Storage location stock, one snapshot per day",
            (
                MATNR,
                WERKS,
                _key("LGORT", "text", "Storage Location", "Storage location"),
                _key("DATUM", "date", "Snapshot Date", "Date of the end-of-day stock snapshot"),
                _c("LABST", "decimal", "Unrestricted", "Valuated unrestricted-use stock"),
                _c("INSME", "decimal", "In Quality Insp.", "Stock in quality inspection"),
                _c("SPEME", "decimal", "Blocked", "Blocked stock"),
            ),
            key=("MATNR", "WERKS", "LGORT", "DATUM"),
            header_required=("LABST",),
            partition_column="DATUM",
        ),
        TableSpec(
            "MBEW",
            "Material valuation",
            (
                MATNR,
                _key("BWKEY", "text", "Valuation Area", "Valuation area (= plant)"),
                _c(
                    "VPRSV", "text", "Price Control", "Price control (S standard, V moving average)"
                ),
                _c("VERPR", "decimal", "Moving Price", "Moving average price per price unit"),
                _c("STPRS", "decimal", "Standard price", "Standard price per price unit"),
                _c("PEINH", "integer", "Price Unit", "Price unit"),
                WAERS,
            ),
            key=("MATNR", "BWKEY"),
        ),
        TableSpec(
            "LFA1",
            "Vendor master",
            (
                _key("LIFNR", "alpha", "Vendor", "Vendor account number (ALPHA, 10 characters)"),
                _c("NAME1", "text", "Name", "Vendor name"),
                _c("LAND1", "text", "Country", "Country key"),
                _c("ORT01", "text", "City", "City"),
            ),
            key=("LIFNR",),
        ),
        TableSpec(
            "KNA1",
            "Customer master",
            (
                _key("KUNNR", "alpha", "Customer", "Customer number (ALPHA, 10 characters)"),
                _c("NAME1", "text", "Name", "Customer name"),
                _c("LAND1", "text", "Country", "Country key"),
                _c("ORT01", "text", "City", "City"),
                _c("PSTLZ", "text", "Postal Code", "Postal code"),
                _c("LATITUDE", "decimal", "Latitude", "Geo latitude of the ship-to address"),
                _c("LONGITUDE", "decimal", "Longitude", "Geo longitude of the ship-to address"),
            ),
            key=("KUNNR",),
        ),
        TableSpec(
            "EINA",
            "Purchasing info record, general data",
            (
                _key("INFNR", "text", "Info Record", "Number of the purchasing info record"),
                _c("MATNR", "alpha", "Material", "Material number", True),
                _c("LIFNR", "alpha", "Vendor", "Vendor account number", True),
            ),
            key=("INFNR",),
        ),
        TableSpec(
            "EINE",
            "Purchasing info record, purchasing organisation data",
            (
                _key("INFNR", "text", "Info Record", "Number of the purchasing info record"),
                _key("EKORG", "text", "Purch. Organization", "Purchasing organisation"),
                _key("WERKS", "text", "Plant", "Plant"),
                _c("NETPR", "decimal", "Net Price", "Net price per price unit"),
                _c("PEINH", "integer", "Price Unit", "Price unit"),
                WAERS,
                _c("APLFZ", "integer", "Pl. Deliv. Time", "Planned delivery time in days"),
                _c("MINBM", "decimal", "Minimum Order Qty", "Minimum purchase order quantity"),
                _c("NORBM", "decimal", "Standard Qty", "Standard purchase order quantity"),
            ),
            key=("INFNR", "EKORG", "WERKS"),
        ),
        TableSpec(
            "EKKO",
            "Purchasing document header",
            (
                _key("EBELN", "alpha", "Purchasing Document", "Purchase order number"),
                _c("BSART", "text", "Document Type", "Purchasing document type (NB standard)"),
                _c("LIFNR", "alpha", "Vendor", "Vendor account number", True),
                _c("EKORG", "text", "Purch. Organization", "Purchasing organisation"),
                _c("BEDAT", "date", "Document Date", "Purchase order date", True),
                WAERS,
            ),
            key=("EBELN",),
            partition_column="BEDAT",
        ),
        TableSpec(
            "EKPO",
            "Purchasing document item",
            (
                _key("EBELN", "alpha", "Purchasing Document", "Purchase order number"),
                _key("EBELP", "integer", "Item", "Item number of purchasing document"),
                _c("MATNR", "alpha", "Material", "Material number", True),
                _c("WERKS", "text", "Plant", "Receiving plant", True),
                _c("MENGE", "decimal", "PO Quantity", "Purchase order quantity"),
                _c("MEINS", "text", "Order Unit", "Order unit"),
                _c("NETPR", "decimal", "Net Price", "Net price per price unit"),
                _c("PEINH", "integer", "Price Unit", "Price unit"),
                _c("AEDAT", "date", "Changed On", "Item creation/change date", True),
            ),
            key=("EBELN", "EBELP"),
            header_required=("MENGE",),
            partition_column="AEDAT",
            redelivered_when_changed=True,
        ),
        TableSpec(
            "EKET",
            "Purchase order schedule lines",
            (
                _key("EBELN", "alpha", "Purchasing Document", "Purchase order number"),
                _key("EBELP", "integer", "Item", "Item number of purchasing document"),
                _key("ETENR", "integer", "Schedule Line", "Schedule line number"),
                _c("EINDT", "date", "Delivery Date", "Promised delivery date"),
                _c("MENGE", "decimal", "Scheduled Quantity", "Scheduled quantity"),
                _c("WEMNG", "decimal", "Qty Delivered", "Quantity received so far"),
                _c("BEDAT", "date", "Order Date", "Order date of the schedule line", True),
            ),
            key=("EBELN", "EBELP", "ETENR"),
            header_required=("MENGE",),
            partition_column="BEDAT",
        ),
        TableSpec(
            "EKBE",
            "Purchase order history (goods receipts)",
            (
                _key("EBELN", "alpha", "Purchasing Document", "Purchase order number"),
                _key("EBELP", "integer", "Item", "Item number of purchasing document"),
                _key("VGABE", "text", "Trans./Event Type", "Transaction type (1 goods receipt)"),
                _key("GJAHR", "integer", "Material Doc. Year", "Material document year"),
                _key("BELNR", "alpha", "Material Document", "Material document number"),
                _key("BUZEI", "integer", "Item", "Material document item"),
                _c("BWART", "text", "Movement Type", "Movement type (101 GR, 102 reversal)"),
                _c("BUDAT", "date", "Posting Date", "Posting date of the goods receipt", True),
                _c("MENGE", "decimal", "Quantity", "Received quantity (negative for reversals)"),
                _c("DMBTR", "decimal", "Amount in LC", "Amount in local currency"),
                WAERS,
                _c("MATNR", "alpha", "Material", "Material number"),
                _c("WERKS", "text", "Plant", "Plant"),
            ),
            key=("EBELN", "EBELP", "VGABE", "GJAHR", "BELNR", "BUZEI"),
            header_required=("MENGE",),
            partition_column="BUDAT",
        ),
        TableSpec(
            "VBAK",
            "Sales document header",
            (
                _key("VBELN", "alpha", "Sales Document", "Sales order number"),
                _c("AUART", "text", "Sales Document Type", "Sales document type (OR standard)"),
                _c("ERDAT", "date", "Created On", "Order creation date", True),
                _c("KUNNR", "alpha", "Sold-To Party", "Sold-to customer", True),
                _c("VKORG", "text", "Sales Organization", "Sales organisation"),
                _c("VDATU", "date", "Req. Deliv. Date", "Requested delivery date"),
                _c("WAERK", "text", "Document Currency", "Document currency"),
            ),
            key=("VBELN",),
            partition_column="ERDAT",
        ),
        TableSpec(
            "VBAP",
            "Sales document item",
            (
                _key("VBELN", "alpha", "Sales Document", "Sales order number"),
                _key("POSNR", "integer", "Item", "Sales document item"),
                _c("MATNR", "alpha", "Material", "Material number", True),
                _c("WERKS", "text", "Plant", "Delivering plant", True),
                _c("KWMENG", "decimal", "Order Quantity", "Cumulative order quantity"),
                _c("VRKME", "text", "Sales Unit", "Sales unit"),
                _c("NETWR", "decimal", "Net Value", "Net value of the item"),
                _c("WAERK", "text", "Document Currency", "Document currency"),
                _c("ERDAT", "date", "Created On", "Item creation date", True),
                _c("ABGRU", "text", "Reason for Rejection", "Reason for rejection of the item"),
            ),
            key=("VBELN", "POSNR"),
            header_required=("KWMENG",),
            partition_column="ERDAT",
        ),
        TableSpec(
            "MKPF",
            "Material document header",
            (
                _key("MBLNR", "alpha", "Material Document", "Material document number"),
                _key("MJAHR", "integer", "Material Doc. Year", "Material document year"),
                _c("BUDAT", "date", "Posting Date", "Posting date", True),
                _c("BLDAT", "date", "Document Date", "Document date"),
                _c("VGART", "text", "Transaction Type", "Transaction/event type"),
            ),
            key=("MBLNR", "MJAHR"),
            partition_column="BUDAT",
        ),
        TableSpec(
            "MSEG",
            "Material document item (goods movements), signed as in an MB51 export",
            (
                _key("MBLNR", "alpha", "Material Document", "Material document number"),
                _key("MJAHR", "integer", "Material Doc. Year", "Material document year"),
                _key("ZEILE", "integer", "Item", "Material document item"),
                _c("BWART", "text", "Movement Type", "Movement type", True),
                _c("MATNR", "alpha", "Material", "Material number", True),
                _c("WERKS", "text", "Plant", "Plant", True),
                _c("LGORT", "text", "Storage Location", "Storage location"),
                _c("MENGE", "decimal", "Quantity", "Quantity, negative for issues (SHKZG = H)"),
                MEINS,
                _c("SHKZG", "text", "Debit/Credit", "S receipt (debit), H issue (credit)"),
                _c("DMBTR", "decimal", "Amount in LC", "Amount in local currency, signed"),
                WAERS,
                LIFNR,
                KUNNR,
                _c("EBELN", "alpha", "Purchase Order", "Purchase order of a goods receipt"),
                _c("KDAUF", "alpha", "Sales Order", "Sales order of a delivery"),
                _c("BUDAT_MKPF", "date", "Posting Date", "Posting date of the document", True),
            ),
            key=("MBLNR", "MJAHR", "ZEILE"),
            header_required=("MENGE",),
            partition_column="BUDAT_MKPF",
            allowed_values={"BWART": MOVEMENT_TYPES, "SHKZG": ("S", "H")},
        ),
        TableSpec(
            "LIKP",
            "Delivery header (outbound deliveries)",
            (
                _key("VBELN", "alpha", "Delivery", "Delivery number"),
                _c("LFART", "text", "Delivery Type", "Delivery type (LF outbound delivery)"),
                _c("ERDAT", "date", "Created On", "Delivery creation date", True),
                _c("VSTEL", "text", "Shipping Point", "Shipping point (here: the plant)"),
                _c("KUNNR", "alpha", "Ship-To Party", "Ship-to customer", True),
                _c("LFDAT", "date", "Delivery Date", "Planned delivery date at the customer"),
                _c("WADAT", "date", "Pland Gds Mvmnt Date", "Planned goods issue date"),
                _c("WADAT_IST", "date", "Act. Gds Mvmnt Date", "Actual goods issue date"),
                _c("BTGEW", "decimal", "Total Weight", "Total gross weight of the delivery"),
                _c("GEWEI", "text", "Weight Unit", "Unit of weight"),
            ),
            key=("VBELN",),
            partition_column="ERDAT",
        ),
        TableSpec(
            "LIPS",
            "Delivery item",
            (
                _key("VBELN", "alpha", "Delivery", "Delivery number"),
                _key("POSNR", "integer", "Item", "Delivery item"),
                _c("MATNR", "alpha", "Material", "Material number", True),
                _c("WERKS", "text", "Plant", "Delivering plant", True),
                _c("LGORT", "text", "Storage Location", "Storage location"),
                _c("LFIMG", "decimal", "Delivery Quantity", "Delivered quantity in sales unit"),
                _c("VRKME", "text", "Sales Unit", "Sales unit"),
                MEINS,
                Column(
                    "VGBEL",
                    "alpha",
                    "Reference Document",
                    "Sales order the item delivers (ALPHA, 10 characters)",
                    alpha_length=ALPHA_LENGTHS["VBELN"],
                ),
                _c("VGPOS", "integer", "Reference Item", "Sales order item the item delivers"),
                _c("ERDAT", "date", "Created On", "Item creation date", True),
            ),
            key=("VBELN", "POSNR"),
            header_required=("LFIMG",),
            partition_column="ERDAT",
        ),
        TableSpec(
            "ADRC",
            "Addresses (business address services) with geo coordinates",
            (
                _key("ADDRNUMBER", "text", "Address Number", "Address number"),
                _c("NAME1", "text", "Name", "Name of the addressee"),
                _c("STREET", "text", "Street", "Street"),
                _c("HOUSE_NUM1", "text", "House Number", "House number"),
                _c("POST_CODE1", "text", "Postal Code", "City postal code"),
                _c("CITY1", "text", "City", "City"),
                _c("COUNTRY", "text", "Country", "Country key"),
                _c("TIME_ZONE", "text", "Time Zone", "Time zone of the address"),
                _c("LATITUDE", "decimal", "Latitude", "Geo latitude of the address"),
                _c("LONGITUDE", "decimal", "Longitude", "Geo longitude of the address"),
            ),
            key=("ADDRNUMBER",),
            optional=True,
        ),
        TableSpec(
            "ADRV",
            "Address where-used list (which customer or plant owns an address)",
            (
                _key("ADDRNUMBER", "text", "Address Number", "Address number (ADRC)"),
                _key("APPL_TABLE", "text", "Table Name", "Table of the owner (KNA1, T001W)"),
                _key("APPL_FIELD", "text", "Field Name", "Owner field holding the address (ADRNR)"),
                _key(
                    "APPL_KEY",
                    "text",
                    "Key",
                    "Key of the owner row, client first (MANDT + KUNNR or WERKS)",
                ),
            ),
            key=("APPL_TABLE", "APPL_FIELD", "APPL_KEY"),
            optional=True,
        ),
        TableSpec(
            "MARM",
            "Units of measure for material (conversion to the base unit)",
            (
                MATNR,
                _key("MEINH", "text", "Alt. Unit of Measure", "Alternative unit of measure"),
                _c(
                    "UMREZ",
                    "integer",
                    "Numerator",
                    "Numerator: UMREN alternative units equal UMREZ base units",
                    True,
                ),
                _c("UMREN", "integer", "Denominator", "Denominator of the conversion", True),
            ),
            key=("MATNR", "MEINH"),
            optional=True,
        ),
        TableSpec(
            "TCURX",
            "Decimal places of currencies (only currencies without two decimals)",
            (
                _key("CURRKEY", "text", "Currency", "Currency key"),
                _c("CURRDEC", "integer", "Decimals", "Number of decimal places", True),
            ),
            key=("CURRKEY",),
            optional=True,
        ),
    ]
}

MASTER_TABLES = [name for name, spec in TABLE_SPECS.items() if not spec.is_partitioned]
TRANSACTIONAL_TABLES = [name for name, spec in TABLE_SPECS.items() if spec.is_partitioned]


def get_spec(table: str) -> TableSpec:
    """Look a table up by SAP name, case-insensitively, with a clear error."""
    try:
        return TABLE_SPECS[table.upper()]
    except KeyError:
        known = ", ".join(sorted(TABLE_SPECS))
        raise KeyError(f"Unknown SAP table {table!r}; known tables: {known}") from None
