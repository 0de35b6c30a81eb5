"""A real OData V2 server on 127.0.0.1 for the client tests (http.server in a thread).

It serves the shared S/4HANA `$metadata` files verbatim and deterministic rows whose
properties follow them (read from edmx_properties.csv, independently of the client's EDMX
parser), in the wire format S/4 uses: `{"d": {"results": [...], "__next": ...}}`,
`/Date(ms)/`, decimals as strings, `__deferred` navigation links.

It implements what the client relies on: `$top`/`$skip`, server-driven paging with
`$skiptoken` + `__next`, `$inlinecount=allpages`, `$orderby`,
`$filter=LastChangeDateTime gt datetimeoffset'...'`, basic auth, an OAuth2 client-credentials
token endpoint; and it injects faults on request: 429 with Retry-After, 5xx, a response slower
than the client's timeout, a body sent slowly in pieces, a broken JSON page. It can also behave
as servers that trouble clients do: cut pages short without a `__next` link, ignore
`$inlinecount`, answer everything with an HTML login page (an identity provider in front) or
entity sets in another format (Atom XML, OData V1 or V4 JSON), leave `sap-client` out of
`__next` links, or change its rows between the pages of a read (`after_page`).
"""

from __future__ import annotations

import base64
import csv
import json
import re
import secrets
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, urlencode, urlsplit

METADATA_DIR = (
    Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "sap" / "odata-metadata"
).resolve()
BASE_PATH = "/sap/opu/odata/sap"
TOKEN_PATH = "/oauth/token"
SERVICE_FILES = {
    "API_PRODUCT_SRV": "API_PRODUCT_SRV.edmx",
    "API_MATERIAL_STOCK_SRV": "API_MATERIAL_STOCK_SRV.edmx",
    "API_SALES_ORDER_SRV": "API_SALES_ORDER_SRV.edmx",
}

# API_MATERIAL_DOCUMENT_SRV has no EDMX in the shared datasets; its two entity types as SAP
# publishes them (name:type:max_length, * = key). D = Edm.DateTime, T = Edm.Time,
# B = Edm.Boolean, Q = Edm.Decimal(13,3), A = Edm.Decimal(14,3), digits = Edm.String(n).
MATERIAL_DOCUMENT_TYPES = {
    "A_MaterialDocumentHeaderType": """
        *MaterialDocumentYear:4 *MaterialDocument:10 InventoryTransactionType:2 DocumentDate:D
        PostingDate:D CreationDate:D CreationTime:T CreatedByUser:12
        MaterialDocumentHeaderText:25 ReferenceDocument:16 VersionForPrintingSlip:1
        ManualPrintIsTriggered:1 CtrlPostgForExtWhseMgmtSyst:1 GoodsMovementCode:2""",
    "A_MaterialDocumentItemType": """
        *MaterialDocumentYear:4 *MaterialDocument:10 *MaterialDocumentItem:4 Material:40
        Plant:4 StorageLocation:4 Batch:10 BatchBySupplier:15 GoodsMovementType:3
        InventoryStockType:2 InventoryValuationType:10 InventorySpecialStockType:1 Supplier:10
        Customer:10 SalesOrder:10 SalesOrderItem:6 SalesOrderScheduleLine:4 PurchaseOrder:10
        PurchaseOrderItem:5 WBSElement:24 ManufacturingOrder:12 ManufacturingOrderItem:4
        GoodsMovementRefDocType:1 GoodsMovementReasonCode:4 Delivery:10 DeliveryItem:6
        AccountAssignmentCategory:1 CostCenter:10 ControllingArea:4 CostObject:12 GLAccount:10
        FunctionalArea:16 ProfitabilitySegment:10 ProfitCenter:10 MasterFixedAsset:12
        FixedAsset:4 MaterialBaseUnitISOCode:3 MaterialBaseUnitSAPCode:3 MaterialBaseUnit:3
        QuantityInBaseUnit:Q EntryUnitISOCode:3 EntryUnitSAPCode:3 EntryUnit:3
        QuantityInEntryUnit:Q CompanyCodeCurrency:5 GdsMvtExtAmtInCoCodeCrcy:A
        SlsPrcAmtInclVATInCoCodeCrcy:A FiscalYear:4 FiscalYearPeriod:7 FiscalYearVariant:2
        IssgOrRcvgMaterial:40 IssgOrRcvgBatch:10 IssuingOrReceivingPlant:4
        IssuingOrReceivingStorageLoc:4 IssuingOrReceivingStockType:2 IssgOrRcvgSpclStockInd:1
        IssuingOrReceivingValType:10 IsCompletelyDelivered:B MaterialDocumentItemText:50
        GoodsRecipientName:12 UnloadingPointName:25 ShelfLifeExpirationDate:D
        ManufactureDate:D SerialNumbersAreCreatedAutomly:B Reservation:10 ReservationItem:4
        ReservationItemRecordType:1 ReservationIsFinallyIssued:B SpecialStockIdfgSalesOrder:10
        SpecialStockIdfgSalesOrderItem:6 SpecialStockIdfgWBSElement:24
        IsAutomaticallyCreated:1 MaterialDocumentLine:6 MaterialDocumentParentLine:6
        HierarchyNodeLevel:2 GoodsMovementIsCancelled:B ReversedMaterialDocumentYear:4
        ReversedMaterialDocument:10 ReversedMaterialDocumentItem:4
        ReferenceDocumentFiscalYear:4 InvtryMgmtRefDocumentItem:4
        InvtryMgmtReferenceDocument:10 MaterialDocumentPostingType:1 InventoryUsabilityCode:1
        EWMWarehouse:4 EWMStorageBin:18 DebitCreditCode:1""",
}
_SHORT_TYPES = {
    "D": ("Edm.DateTime", None, "0", None),
    "T": ("Edm.Time", None, "0", None),
    "B": ("Edm.Boolean", None, None, None),
    "Q": ("Edm.Decimal", None, "13", "3"),
    "A": ("Edm.Decimal", None, "14", "3"),
}
_NAVIGATION_DOC = {
    "A_MaterialDocumentHeaderType": "to_MaterialDocumentItem",
    "A_MaterialDocumentItemType": "to_MaterialDocumentHeader",
}

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BASE_DAY = datetime(2024, 1, 1, tzinfo=UTC)
PLANTS = ("1010", "1020")
STORAGE_LOCATIONS = ("0001", "0002")


@dataclass(frozen=True)
class Prop:
    name: str
    edm_type: str
    max_length: int | None
    precision: int | None
    scale: int | None
    is_key: bool


@dataclass
class Fault:
    entity_set: str
    kind: str  # "403", "429", "500", "503", "timeout", "drip", "broken"
    offset: int
    times: int
    retry_after: str | None = None
    delay_s: float = 0.0


@dataclass
class RequestRecord:
    at: float
    method: str
    path: str
    query: dict[str, str]
    status: int


@dataclass
class _State:
    faults: list[Fault] = field(default_factory=list)
    requests: list[RequestRecord] = field(default_factory=list)
    tokens: dict[str, float] = field(default_factory=dict)
    issued: list[str] = field(default_factory=list)
    token_requests: int = 0


def _ms(when: datetime) -> int:
    return int((when - EPOCH).total_seconds() * 1000)


def _material_document_props() -> dict[str, list[Prop]]:
    out: dict[str, list[Prop]] = {}
    for type_name, spec in MATERIAL_DOCUMENT_TYPES.items():
        props = []
        for token in spec.split():
            name, kind = token.split(":")
            key = name.startswith("*")
            if kind.isdigit():
                edm, length, precision, scale = "Edm.String", kind, None, None
            else:
                edm, length, precision, scale = _SHORT_TYPES[kind]
            props.append(
                Prop(
                    name.lstrip("*"),
                    edm,
                    int(length) if length else None,
                    int(precision) if precision else None,
                    int(scale) if scale else None,
                    key,
                )
            )
        out[type_name] = props
    return out


def material_document_edmx() -> str:
    """The `$metadata` of API_MATERIAL_DOCUMENT_SRV, built from the property lists above."""
    props = _material_document_props()
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<edmx:Edmx Version="1.0" xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx"'
        ' xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"'
        ' xmlns:sap="http://www.sap.com/Protocols/SAPData">',
        '<edmx:DataServices m:DataServiceVersion="2.0">',
        '<Schema Namespace="API_MATERIAL_DOCUMENT_SRV"'
        ' xmlns="http://schemas.microsoft.com/ado/2008/09/edm">',
    ]
    for type_name, type_props in props.items():
        lines.append(f'<EntityType Name="{type_name}"><Key>')
        lines += [f'<PropertyRef Name="{p.name}"/>' for p in type_props if p.is_key]
        lines.append("</Key>")
        for p in type_props:
            attrs = f'Name="{p.name}" Type="{p.edm_type}"'
            if p.is_key:
                attrs += ' Nullable="false"'
            if p.max_length:
                attrs += f' MaxLength="{p.max_length}"'
            if p.precision is not None:
                attrs += f' Precision="{p.precision}"'
            if p.scale is not None:
                attrs += f' Scale="{p.scale}"'
            lines.append(f'<Property {attrs} sap:label="{p.name}"/>')
        lines.append(
            f'<NavigationProperty Name="{_NAVIGATION_DOC[type_name]}" Relationship="x.y"'
            ' FromRole="a" ToRole="b"/></EntityType>'
        )
    lines.append(
        '<EntityContainer Name="API_MATERIAL_DOCUMENT_SRV_Entities"'
        ' m:IsDefaultEntityContainer="true">'
    )
    for type_name in props:
        set_name = type_name.removesuffix("Type")
        lines.append(
            f'<EntitySet Name="{set_name}" EntityType="API_MATERIAL_DOCUMENT_SRV.{type_name}"/>'
        )
    lines += ["</EntityContainer>", "</Schema>", "</edmx:DataServices>", "</edmx:Edmx>"]
    return "\n".join(lines)


def _csv_props() -> dict[str, list[Prop]]:
    out: dict[str, list[Prop]] = {}
    wanted = set(SERVICE_FILES.values())
    with open(METADATA_DIR / "edmx_properties.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["file"] not in wanted:
                continue
            out.setdefault(row["entity_type"], []).append(
                Prop(
                    row["property"],
                    row["edm_type"],
                    int(row["max_length"]) if row["max_length"] else None,
                    int(row["precision"]) if row["precision"] else None,
                    int(row["scale"]) if row["scale"] else None,
                    row["is_key"] == "X",
                )
            )
    return out


def _navigation(service_file: str) -> dict[str, list[str]]:
    root = ET.parse(METADATA_DIR / service_file).getroot()
    out: dict[str, list[str]] = {}
    for el in root.iter():
        if el.tag.endswith("}EntityType"):
            out[el.get("Name", "")] = [
                n.get("Name", "") for n in el if n.tag.endswith("}NavigationProperty")
            ]
    return out


def _generic(prop: Prop, i: int) -> object:
    """A deterministic wire value for property `prop` of row `i`."""
    edm = prop.edm_type
    if edm == "Edm.String":
        length = prop.max_length or 10
        return f"{prop.name[:3].upper()}{i}"[:length] if length >= 4 else f"{i % 10**length}"
    if edm == "Edm.Decimal":
        scale = prop.scale or 0
        whole = 10 ** max((prop.precision or 10) - scale - 1, 1)
        value = (i * 13) % whole + (0.25 * (i % 4) if scale >= 2 else 0)
        return f"{value:.{scale}f}"
    if edm == "Edm.DateTime":
        return f"/Date({_ms(BASE_DAY + timedelta(days=i % 365))})/"
    if edm == "Edm.DateTimeOffset":
        return f"/Date({_ms(BASE_DAY + timedelta(hours=i, milliseconds=7 * i))}+0000)/"
    if edm == "Edm.Boolean":
        return i % 2 == 0
    if edm == "Edm.Time":
        return f"PT{i % 24:02d}H{i % 60:02d}M00S"
    if edm in ("Edm.Int16", "Edm.Int32", "Edm.Byte"):
        return i
    return f"{i}"


def _product_id(i: int) -> str:
    """Half numeric (ALPHA pads them), half lower-case text (ALPHA upper-cases them)."""
    return f"{100 + i}" if i % 2 == 0 else f"tg-{i:03d}"


def _overrides(entity_set: str, n: int) -> list[dict]:
    """Business-meaningful values on top of the generic ones, entity set by entity set."""
    rows: list[dict] = []
    if entity_set == "A_Product":
        for i in range(n):
            changed = BASE_DAY + timedelta(hours=3 * i, milliseconds=11 * i)
            rows.append(
                {
                    "Product": _product_id(i),
                    "ProductType": "HAWA",
                    "BaseUnit": "ST",
                    "WeightUnit": "KG",
                    "IsMarkedForDeletion": i % 10 == 3,
                    "LastChangeDateTime": None if i == 5 else f"/Date({_ms(changed)}+0000)/",
                }
            )
    elif entity_set in ("A_ProductPlant", "A_ProductSupplyPlanning"):
        for i in range(n):
            row = {"Product": _product_id(i // len(PLANTS)), "Plant": PLANTS[i % len(PLANTS)]}
            row["MRPType"] = "VB" if i % 3 else "PD"
            if entity_set == "A_ProductPlant":
                row["ProfileCode"] = "" if i % 4 else "01"
                row["MRPType"] = "" if i % 5 == 0 else row["MRPType"]
            else:
                row["PlannedDeliveryDurationInDays"] = f"{2 + i % 9}"
                row["LotSizingProcedure"] = "EX"
            rows.append(row)
    elif entity_set == "A_MatlStkInAcctMod":
        blank_keys = dict.fromkeys(
            ("Batch", "Supplier", "Customer", "WBSElementInternalID", "SDDocument",
             "SDDocumentItem", "InventorySpecialStockType"), "")  # fmt: skip
        combos = [(sloc, st, "") for sloc in STORAGE_LOCATIONS for st in ("01", "02", "07", "03")]
        combos += [("0001", "01", "K"), ("", "06", "")]  # consignment; in transit (no sloc)
        for i in range(n):
            sloc, stock_type, special = combos[i % len(combos)]
            material = _product_id(i // len(combos))
            row = {**blank_keys, "Material": material, "Plant": "1010"}
            row.update(StorageLocation=sloc, InventoryStockType=stock_type, MaterialBaseUnit="ST")
            row["InventorySpecialStockType"] = special
            row["Supplier"] = "17300001" if special == "K" else ""
            row["MatlWrhsStkQtyInMatlBaseUnit"] = f"{(i * 7) % 50 + 0.5:.14f}"
            rows.append(row)
    elif entity_set == "A_SalesOrder":
        for i in range(n):
            changed = BASE_DAY + timedelta(hours=5 * i, milliseconds=3 * i)
            rows.append(
                {
                    "SalesOrder": f"{i + 1}",
                    "SalesOrderType": "OR",
                    "SalesOrganization": "1010",
                    "SoldToParty": f"{17100001 + i % 5}" if i % 6 else "cust-a",
                    "TransactionCurrency": "EUR",
                    "LastChangeDateTime": f"/Date({_ms(changed)}+0000)/",
                }
            )
    elif entity_set == "A_SalesOrderItem":
        order = 0
        while len(rows) < n:
            for k in range(1 + order % 3):
                rows.append(
                    {
                        "SalesOrder": f"{order + 1}",
                        "SalesOrderItem": f"{10 * (k + 1)}",
                        "Material": _product_id((order + k) % 20),
                        "ProductionPlant": PLANTS[k % 2],
                        "RequestedQuantityUnit": "ST",
                        "TransactionCurrency": "EUR",
                    }
                )
            order += 1
        rows = rows[:n]
    elif entity_set == "A_MaterialDocumentHeader":
        for i in range(n):
            rows.append(
                {
                    "MaterialDocumentYear": "2024",
                    "MaterialDocument": f"{4900000000 + i}",
                    "InventoryTransactionType": "WE" if i % 2 else "WA",
                }
            )
    elif entity_set == "A_MaterialDocumentItem":
        movements = (("101", "S"), ("261", "H"), ("601", "H"))
        for i in range(n):
            movement, shkzg = movements[i % 3]
            rows.append(
                {
                    "MaterialDocumentYear": "2024",
                    "MaterialDocument": f"{4900000000 + i // 2}",
                    "MaterialDocumentItem": f"{1 + i % 2}",
                    "Material": _product_id(i % 20),
                    "Plant": "1010",
                    "StorageLocation": "0001",
                    "GoodsMovementType": movement,
                    "DebitCreditCode": shkzg,
                    "MaterialBaseUnit": "ST",
                    "CompanyCodeCurrency": "EUR",
                    "PurchaseOrder": f"{4500000000 + i}" if movement == "101" else "",
                    "SalesOrder": f"{i + 1}" if movement == "601" else "",
                }
            )
    return rows


DEFAULT_ROW_COUNTS = {
    "A_Product": 53,
    "A_ProductPlant": 40,
    "A_ProductSupplyPlanning": 40,
    "A_MatlStkInAcctMod": 60,
    "A_SalesOrder": 37,
    "A_SalesOrderItem": 70,
    "A_MaterialDocumentHeader": 25,
    "A_MaterialDocumentItem": 50,
}
ENTITY_SERVICE = {
    "A_Product": "API_PRODUCT_SRV",
    "A_ProductPlant": "API_PRODUCT_SRV",
    "A_ProductSupplyPlanning": "API_PRODUCT_SRV",
    "A_MatlStkInAcctMod": "API_MATERIAL_STOCK_SRV",
    "A_SalesOrder": "API_SALES_ORDER_SRV",
    "A_SalesOrderItem": "API_SALES_ORDER_SRV",
    "A_MaterialDocumentHeader": "API_MATERIAL_DOCUMENT_SRV",
    "A_MaterialDocumentItem": "API_MATERIAL_DOCUMENT_SRV",
}


def generate_rows(entity_set: str, n: int, props: list[Prop]) -> list[dict]:
    """`n` deterministic rows with every property of the entity type, in wire format."""
    overrides = _overrides(entity_set, n)
    rows = []
    for i in range(n):
        row = {p.name: _generic(p, i) for p in props}
        row.update(overrides[i] if i < len(overrides) else {})
        rows.append(row)
    return rows


_TIME = r"(?:datetimeoffset|datetime)'([^']+)'"
_FILTER_RE = re.compile(rf"^(\w+) gt {_TIME}(?: and \1 le {_TIME})?$")
_WIRE_DATE_RE = re.compile(r"^/Date\((-?\d+)(?:[+-]\d+)?\)/$")


def read_since(filter_: str | None) -> str | None:
    """A delta read's `$filter` without its upper bound, the moment the read started."""
    return None if filter_ is None else filter_.split(" and LastChangeDateTime le ")[0]


def _literal_ms(literal: str) -> int:
    """Milliseconds of a `$filter` time literal's text (`2024-01-05T12:00:00Z`)."""
    return _ms(datetime.fromisoformat(literal.replace("Z", "+00:00")).astimezone(UTC))


def wire_ms(value: object) -> int | None:
    """Milliseconds of a `/Date(ms)/` wire value, None for null."""
    if value is None:
        return None
    match = _WIRE_DATE_RE.match(str(value))
    if not match:
        raise ValueError(f"not a /Date()/ value: {value!r}")
    return int(match.group(1))


class ODataTestServer:
    """Context manager running the server on 127.0.0.1 on a free port."""

    def __init__(
        self,
        *,
        auth: str = "none",
        username: str = "PLANNER",
        password: str = "",
        client_id: str = "",
        client_secret: str = "",
        token_ttl_s: float = 3600.0,
        max_page_size: int | None = None,
        next_links: bool = True,
        inline_count: bool = True,
        row_counts: dict[str, int] | None = None,
    ) -> None:
        """`max_page_size` cuts pages short, with a `__next` link to the rest unless
        `next_links` is False; `inline_count` False ignores `$inlinecount`. Attributes to set
        in a test: `next_origin` writes `__next` links with another origin than the server's
        (a gateway writes the host it was asked by), `login_page` answers every request with
        an HTML login form while True, `answer_as` ("atom", "v1", "v4") answers entity-set
        requests in that format, `sap_client_in_next` False leaves `sap-client` out of
        `__next` links, and `after_page(entity_set, query)` is called once a page is taken
        from the rows (to change them before the next page is asked for)."""
        self.auth = auth
        self.username, self.password = username, password
        self.client_id, self.client_secret = client_id, client_secret
        self.token_ttl_s = token_ttl_s
        self.max_page_size = max_page_size
        self.next_links = next_links
        self.inline_count = inline_count
        self.next_origin: str | None = None
        self.login_page = False
        self.answer_as: str | None = None
        self.sap_client_in_next = True
        self.after_page: Callable[[str, dict[str, str]], None] | None = None
        self.state = _State()
        self.lock = threading.Lock()
        csv_props = _csv_props()
        csv_props.update(_material_document_props())
        self.props: dict[str, list[Prop]] = {}
        self.navigation: dict[str, list[str]] = {}
        self.rows: dict[str, list[dict]] = {}
        nav_by_type: dict[str, list[str]] = {}
        for service_file in SERVICE_FILES.values():
            nav_by_type.update(_navigation(service_file))
        for type_name, nav in _NAVIGATION_DOC.items():
            nav_by_type[type_name] = [nav]
        for entity_set, n in {**DEFAULT_ROW_COUNTS, **(row_counts or {})}.items():
            type_name = f"{entity_set}Type"
            self.props[entity_set] = csv_props[type_name]
            self.navigation[entity_set] = nav_by_type.get(type_name, [])
            self.rows[entity_set] = generate_rows(entity_set, n, csv_props[type_name])
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.app = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        return self.origin + BASE_PATH

    @property
    def token_url(self) -> str:
        return self.origin + TOKEN_PATH

    def __enter__(self) -> ODataTestServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    # -- test controls -------------------------------------------------------------------------

    def add_fault(
        self,
        entity_set: str,
        kind: str,
        *,
        offset: int = 0,
        times: int = 1,
        retry_after: str | None = None,
        delay_s: float = 0.0,
    ) -> None:
        """Answer the next `times` requests for rows from `offset` on with a fault: `drip`
        sends the body in DRIP_PIECES, `delay_s` apart; `timeout` waits `delay_s` first."""
        with self.lock:
            self.state.faults.append(Fault(entity_set, kind, offset, times, retry_after, delay_s))

    def revoke_tokens(self) -> None:
        with self.lock:
            self.state.tokens.clear()

    def touch(self, entity_set: str, index: int, when: datetime, **values: object) -> None:
        """Change a row's `values` and its LastChangeDateTime to `when`, as a save in S/4 would.
        S/4 stamps a change when its save starts: a `when` earlier than changes already read
        is a change committed late."""
        with self.lock:
            row = self.rows[entity_set][index]
            row.update(values, LastChangeDateTime=f"/Date({_ms(when)}+0000)/")

    def data_requests(self, entity_set: str) -> list[RequestRecord]:
        with self.lock:
            return [r for r in self.state.requests if r.path.endswith("/" + entity_set)]

    def row_reads(self, entity_set: str) -> list[RequestRecord]:
        """The requests reading `entity_set`'s rows, not only counting them (`$top=0`)."""
        return [r for r in self.data_requests(entity_set) if r.query.get("$top") != "0"]

    # -- request handling ----------------------------------------------------------------------

    def _take_fault(self, entity_set: str, offset: int) -> Fault | None:
        with self.lock:
            for fault in self.state.faults:
                if fault.entity_set == entity_set and fault.offset == offset and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None

    def authorized(self, header: str | None) -> bool:
        if self.auth == "none":
            return True
        if self.auth == "basic":
            expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            return header == f"Basic {expected}"
        if not header or not header.startswith("Bearer "):
            return False
        with self.lock:
            expiry = self.state.tokens.get(header.removeprefix("Bearer "))
        return expiry is not None and time.monotonic() < expiry

    def issue_token(self, header: str | None, body: str) -> tuple[int, dict]:
        with self.lock:
            self.state.token_requests += 1
        creds = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if header != f"Basic {creds}":
            return 401, {"error": "invalid_client"}
        if parse_qs(body).get("grant_type") != ["client_credentials"]:
            return 400, {"error": "unsupported_grant_type"}
        token = "tok-" + secrets.token_urlsafe(16)
        with self.lock:
            self.state.tokens[token] = time.monotonic() + self.token_ttl_s
            self.state.issued.append(token)
        return 200, {"access_token": token, "token_type": "bearer", "expires_in": self.token_ttl_s}

    def page(self, entity_set: str, query: dict[str, str]) -> tuple[int, dict, bytes]:
        """Status, extra headers and body for an entity-set request."""
        rows = list(self.rows[entity_set])
        if "$filter" in query:
            match = _FILTER_RE.match(query["$filter"])
            if not match:
                return 400, {}, _error(f"unsupported $filter {query['$filter']!r}")
            prop, after, until = match.groups()
            since, last = _literal_ms(after), _literal_ms(until) if until else 2**62
            rows = [r for r in rows if since < (wire_ms(r.get(prop)) or -(2**62)) <= last]
        if "$orderby" in query:
            names = [n.strip().split(" ")[0] for n in query["$orderby"].split(",")]
            rows.sort(key=lambda r: tuple(str(r.get(n) or "") for n in names))
        offset = int(query.get("$skiptoken", query.get("$skip", "0")))
        fault = self._take_fault(entity_set, offset)
        if fault and fault.kind in ("403", "429", "500", "503"):
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            return int(fault.kind), headers, _error(f"injected HTTP {fault.kind}")
        if fault and fault.kind == "timeout":
            time.sleep(fault.delay_s)
        top = int(query["$top"]) if "$top" in query else len(rows)
        size = min(top, self.max_page_size or top)
        selected = rows[offset : offset + size]
        d: dict = {"results": [self._wire(entity_set, r, query) for r in selected]}
        if self.inline_count and query.get("$inlinecount") == "allpages":
            d["__count"] = str(len(rows))
        remaining = top - len(selected)
        if self.next_links and size < top and remaining > 0 and offset + size < len(rows):
            left_out = {"$skip", "$skiptoken", "$top"} | (
                set() if self.sap_client_in_next else {"sap-client"}
            )
            nxt = {k: v for k, v in query.items() if k not in left_out}
            nxt.update({"$skiptoken": str(offset + size), "$top": str(remaining)})
            path = f"{self.next_origin or self.origin}{BASE_PATH}/{ENTITY_SERVICE[entity_set]}"
            d["__next"] = f"{path}/{entity_set}?" + urlencode(nxt, quote_via=quote, safe="$',:")
        body = json.dumps({"d": d}).encode()
        if self.after_page is not None:
            self.after_page(entity_set, query)
        if fault and fault.kind == "broken":
            body = body[: len(body) // 2]
        if fault and fault.kind == "drip":
            return 200, {DRIP_HEADER: str(fault.delay_s)}, body
        return 200, {}, body

    def _wire(self, entity_set: str, row: dict, query: dict[str, str]) -> dict:
        keys = [p for p in self.props[entity_set] if p.is_key]
        service = ENTITY_SERVICE[entity_set]
        key_text = ",".join(f"{p.name}='{row[p.name]}'" for p in keys)
        uri = f"{self.base_url}/{service}/{entity_set}({key_text})"
        out: dict = {"__metadata": {"id": uri, "uri": uri, "type": f"{service}.{entity_set}Type"}}
        selected = query.get("$select")
        names = selected.split(",") if selected else [p.name for p in self.props[entity_set]]
        out.update({name: row.get(name) for name in names})
        if not selected:
            for nav in self.navigation[entity_set]:
                out[nav] = {"__deferred": {"uri": f"{uri}/{nav}"}}
        return out


#: Not sent: tells the handler to drip the body, in DRIP_PIECES this many seconds apart.
DRIP_HEADER = "X-Test-Drip-Seconds"
DRIP_PIECES = 20
LOGIN_PAGE = (
    b"<!DOCTYPE html><html><head><title>Log On</title></head><body>"
    b"<form method='post' action='/saml2/idp/sso'><input name='j_username'/></form></body></html>"
)


#: Answers in other formats than OData V2 JSON, as `answer_as` selects: (body, content type).
OTHER_FORMATS = {
    "atom": (
        b'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" '
        b'xmlns:d="http://schemas.microsoft.com/ado/2007/08/dataservices" '
        b'xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"><entry>'
        b'<content type="application/xml"><m:properties><d:Product>P1</d:Product>'
        b"</m:properties></content></entry></feed>",
        "application/atom+xml;type=feed",
    ),
    "v1": (b'{"d": [{"Product": "P1"}]}', "application/json"),
    "v4": (b'{"@odata.context": "$metadata#A_Product", "value": []}', "application/json"),
}


def _error(message: str) -> bytes:
    return json.dumps(
        {"error": {"code": "TEST", "message": {"lang": "en", "value": message}}}
    ).encode()


class _Handler(BaseHTTPRequestHandler):
    server_version = "ODataTestServer/1.0"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - base signature
        """Silence the default stderr access log."""

    @property
    def app(self) -> ODataTestServer:
        return self.server.app  # type: ignore[attr-defined]

    def _arrived(self) -> RequestRecord:
        """Log the request as it arrives (a slow answer must not hide it from the tests)."""
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        record = RequestRecord(time.monotonic(), self.command, parts.path, query, status=0)
        with self.app.lock:
            self.app.state.requests.append(record)
        self.record = record
        return record

    def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None):
        self.record.status = status
        headers = dict(headers or {})
        drip = float(headers.pop(DRIP_HEADER, 0.0))
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            if status == 401:
                self.send_header(
                    "WWW-Authenticate", 'Basic realm="SAP NetWeaver Application Server"'
                )
            self.end_headers()
            if drip:  # each piece in time for the client's read timeout, the whole body not
                size = -(-len(body) // DRIP_PIECES)
                for at in range(0, len(body), size):
                    self.wfile.write(body[at : at + size])
                    self.wfile.flush()
                    time.sleep(drip)
            else:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (the timeout and drip faults)

    def _login_page(self) -> bool:
        """Answer with an HTML login form, as an identity provider in front of S/4 does."""
        if self.app.login_page:
            self._send(200, LOGIN_PAGE, "text/html; charset=utf-8")
        return self.app.login_page

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        self._arrived()
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length).decode()
        if self._login_page():
            return
        if urlsplit(self.path).path != TOKEN_PATH:
            self._send(404, _error("not found"), "application/json")
            return
        status, payload = self.app.issue_token(self.headers.get("Authorization"), body)
        self._send(status, json.dumps(payload).encode(), "application/json")

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        parts = urlsplit(self.path)
        query = self._arrived().query
        if self._login_page():
            return
        if not self.app.authorized(self.headers.get("Authorization")):
            self._send(401, _error("unauthorized"), "application/json")
            return
        segments = parts.path.removeprefix(BASE_PATH + "/").split("/")
        if len(segments) != 2 or not parts.path.startswith(BASE_PATH + "/"):
            self._send(404, _error(f"no resource {parts.path}"), "application/json")
            return
        service, resource = segments
        if resource == "$metadata":
            if service in SERVICE_FILES:
                body = (METADATA_DIR / SERVICE_FILES[service]).read_bytes()
            elif service == "API_MATERIAL_DOCUMENT_SRV":
                body = material_document_edmx().encode()
            else:
                self._send(404, _error(f"no service {service}"), "application/json")
                return
            self._send(200, body, "application/xml")
            return
        if ENTITY_SERVICE.get(resource) != service:
            self._send(404, _error(f"no entity set {resource} in {service}"), "application/json")
            return
        if self.app.answer_as:
            self._send(200, *OTHER_FORMATS[self.app.answer_as])
            return
        status, headers, body = self.app.page(resource, query)
        self._send(status, body, "application/json", headers)
