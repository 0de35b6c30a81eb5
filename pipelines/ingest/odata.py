"""OData V2 client for S/4HANA APIs, and the mapping of its entities onto raw SAP tables.

Why a hand-written client: the extraction has to be boringly reliable (every row exactly once
across `$top`/`$skip` windows and server-driven `__next` links, retries that honour
`Retry-After`, OAuth2 tokens refreshed on 401) and it must never leak a secret into a log line,
an exception or a repr. Value conversion is driven by the service's `$metadata` (EDMX), so a
`Edm.Decimal` string becomes a number and a `/Date(ms)/` a timestamp because the metadata says
so, not because a value happens to look like one.

Pure Python + pandas + requests; no Dagster import (the resource wrapper lives in resources/).
"""

from __future__ import annotations

import base64
import json
import logging
import random
import re
import socket
import ssl
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import parse_qs, quote, urlencode, urljoin, urlsplit

import numpy as np
import pandas as pd
import requests

from pipelines.ingest.reader import alpha_too_long, normalize_alpha
from pipelines.ingest.specs import ALPHA_LENGTHS, TableSpec, get_spec

log = logging.getLogger(__name__)

T = TypeVar("T")
AuthKind = Literal["basic", "oauth2", "none"]

#: Entity sets this platform extracts, and the OData service that serves each.
ENTITY_SERVICES: dict[str, str] = {
    "A_Product": "API_PRODUCT_SRV",
    "A_ProductPlant": "API_PRODUCT_SRV",
    "A_ProductSupplyPlanning": "API_PRODUCT_SRV",
    "A_MatlStkInAcctMod": "API_MATERIAL_STOCK_SRV",
    "A_SalesOrder": "API_SALES_ORDER_SRV",
    "A_SalesOrderItem": "API_SALES_ORDER_SRV",
    "A_MaterialDocumentHeader": "API_MATERIAL_DOCUMENT_SRV",
    "A_MaterialDocumentItem": "API_MATERIAL_DOCUMENT_SRV",
}

#: The change timestamp that S/4HANA APIs expose for delta extraction.
DELTA_PROPERTY = "LastChangeDateTime"
#: How far after this machine's clock a change stamp counts as a clock ahead
#: (`count_stamped_ahead`); closer, the delta overlap covers it.
CLOCK_AHEAD = pd.Timedelta(minutes=5)

_RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
_DATE_RE = r"^/Date\((-?\d+)(?:[+-]\d{1,4})?\)/$"
_INTEGER_RE = re.compile(r"[+-]?\d+")
_NAT = np.iinfo(np.int64).min
_REDACTED = "***"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_MIN_NS_DAY = pd.Timestamp("1677-09-22")
_MAX_NS_DAY = pd.Timestamp("2262-04-11")


class ODataError(RuntimeError):
    """An OData request or response that could not be turned into rows."""


class ODataAuthError(ODataError):
    """The server or the token endpoint rejected the credentials."""


class ODataUnavailable(ODataError):
    """The server kept answering 429/5xx, timing out or sending broken pages through every
    retry: a fault of the moment, which a later read may well not meet (unlike a refusal)."""


class ODataRetryLater(ODataUnavailable):
    """The next wait or request would pass the caller's deadline (`SapODataClient.deadline`).

    Nothing is wrong with the read: the server asked for patience (429/503 with
    `Retry-After`) or is slow, and the caller should try again later, e.g. at the next
    sensor tick. `retry_after` is the server's `Retry-After` in seconds, when it sent one.
    """

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class _BrokenPayload(Exception):
    """A 200 response whose body is garbled (JSON cut short, EDMX that does not parse): worth
    retrying."""


class _Refused(Exception):
    """A 200 response that is whole but not OData V2 JSON (Atom XML, another JSON shape): every
    retry gets it again, so it is refused at once, like an HTML login page."""


class _TooSlow(Exception):
    """The answer did not arrive in full within the request's time: a timeout, worth retrying."""


# --------------------------------------------------------------------------------------------
# Metadata (EDMX)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EdmProperty:
    """One property of an entity type, as declared in the EDMX."""

    name: str
    edm_type: str
    is_key: bool = False
    nullable: bool = True
    max_length: int | None = None
    precision: int | None = None
    scale: int | None = None
    label: str | None = None


@dataclass(frozen=True)
class EntityType:
    """An entity type: its properties in declaration order and its navigation properties."""

    name: str
    properties: tuple[EdmProperty, ...]
    navigation: frozenset[str] = frozenset()

    @property
    def keys(self) -> list[str]:
        return [p.name for p in self.properties if p.is_key]

    def get(self, name: str) -> EdmProperty | None:
        for prop in self.properties:
            if prop.name == name:
                return prop
        return None


@dataclass(frozen=True)
class ServiceMetadata:
    """A service's entity sets, each resolved to its entity type."""

    namespace: str
    entity_sets: Mapping[str, EntityType]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _attr(element: ET.Element, name: str) -> str | None:
    """Attribute by local name, whatever its namespace (sap:label, m:..., plain)."""
    for key, value in element.attrib.items():
        if _local(key) == name:
            return value
    return None


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value not in (None, "", "max") else None


def parse_edmx(xml: str | bytes, source: str = "<edmx>") -> ServiceMetadata:
    """Parse an OData V2 `$metadata` document into typed entity sets.

    Namespaces differ between EDMX versions, so elements are matched by local name.
    """
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        line, column = exc.position
        raise ODataError(f"{source}: invalid EDMX at line {line}, column {column}: {exc}") from None
    types: dict[str, EntityType] = {}
    namespace = ""
    for schema in (el for el in root.iter() if _local(el.tag) == "Schema"):
        ns = schema.get("Namespace", "")
        for et in (el for el in schema if _local(el.tag) == "EntityType"):
            keys = {
                ref.get("Name")
                for key in et
                if _local(key.tag) == "Key"
                for ref in key
                if _local(ref.tag) == "PropertyRef"
            }
            props = tuple(
                EdmProperty(
                    name=p.get("Name", ""),
                    edm_type=p.get("Type", ""),
                    is_key=p.get("Name") in keys,
                    nullable=p.get("Nullable", "true").lower() != "false",
                    max_length=_int_or_none(p.get("MaxLength")),
                    precision=_int_or_none(p.get("Precision")),
                    scale=_int_or_none(p.get("Scale")),
                    label=_attr(p, "label"),
                )
                for p in et
                if _local(p.tag) == "Property"
            )
            nav = frozenset(n.get("Name", "") for n in et if _local(n.tag) == "NavigationProperty")
            types[f"{ns}.{et.get('Name')}"] = EntityType(et.get("Name", ""), props, nav)
        if any(_local(el.tag) == "EntityContainer" for el in schema) or not namespace:
            namespace = ns
    sets: dict[str, EntityType] = {}
    for es in (el for el in root.iter() if _local(el.tag) == "EntitySet"):
        type_name = es.get("EntityType", "")
        if type_name not in types:
            raise ODataError(
                f"{source}: entity set {es.get('Name')!r} refers to unknown type {type_name!r}"
            )
        sets[es.get("Name", "")] = types[type_name]
    if not sets:
        raise ODataError(f"{source}: no EntitySet found; is this an OData V2 $metadata document?")
    return ServiceMetadata(namespace, sets)


def load_edmx(path: str | Path) -> ServiceMetadata:
    """Parse an EDMX file (e.g. a `$metadata` download kept beside the code)."""
    path = Path(path)
    return parse_edmx(path.read_bytes(), source=str(path))


# --------------------------------------------------------------------------------------------
# Value conversion, driven by the metadata
# --------------------------------------------------------------------------------------------


def _bad_value(where: str, prop: EdmProperty, series: pd.Series, bad: pd.Series) -> ODataError:
    position = int(np.flatnonzero(bad.to_numpy())[0])
    value = series.iloc[position]
    return ODataError(
        f"{where}: property {prop.name} ({prop.edm_type}) in row {position + 1} "
        f"has an unparseable value {value!r}"
    )


def _to_datetime(series: pd.Series, prop: EdmProperty, where: str) -> pd.Series:
    """`/Date(ms)/` or `/Date(ms+0000)/` (ms since the epoch, UTC) to datetime64[ms, UTC].

    Milliseconds avoid the year-2262 limit of nanoseconds (SAP writes 9999-12-31 for "open").
    The offset suffix is informational in OData V2: the milliseconds are already UTC.
    ISO 8601 strings, which some gateways emit instead, are accepted too.
    """
    text = series.astype("string")
    millis = pd.to_numeric(text.str.extract(_DATE_RE, expand=False), errors="coerce")
    stamps = millis.fillna(0).to_numpy(dtype="int64")
    stamps[millis.isna().to_numpy()] = _NAT
    iso = series.notna() & millis.isna()
    if iso.any():
        parsed = pd.to_datetime(text[iso], utc=True, format="ISO8601", errors="coerce")
        if parsed.isna().any():
            raise _bad_value(where, prop, series, iso & parsed.reindex(series.index).isna())
        naive = parsed.dt.tz_localize(None).dt.floor("ms")
        stamps[iso.to_numpy()] = naive.to_numpy(dtype="datetime64[ms]").view("int64")
    out = pd.Series(stamps.view("datetime64[ms]"), index=series.index)
    return out.dt.tz_localize("UTC")


def _integer(value: object) -> int | None:
    """An `Edm.Int*` wire value (a JSON number; Int64 is a string) as an exact int, None if it
    is no integer: through float, 9007199254740993 would read 9007199254740992."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    text = str(value).strip()
    return int(text) if _INTEGER_RE.fullmatch(text) else None


def _to_integers(series: pd.Series, prop: EdmProperty, where: str) -> pd.Series:
    """A nullable Int64 column, each value converted exactly."""
    present = series.notna()
    values = [_integer(v) if ok else None for v, ok in zip(series, present, strict=True)]
    bad = present & pd.Series([v is None for v in values], index=series.index)
    if bad.any():
        raise _bad_value(where, prop, series, bad)
    return pd.Series(pd.array(values, dtype="Int64"), index=series.index)


def _convert(series: pd.Series, prop: EdmProperty, where: str) -> pd.Series:
    """Convert one column of JSON values to the pandas type its EDM type calls for."""
    edm = prop.edm_type
    present = series.notna()
    if edm in ("Edm.Decimal", "Edm.Double", "Edm.Single"):
        out = pd.to_numeric(series, errors="coerce").astype("float64")
    elif edm in ("Edm.Int16", "Edm.Int32", "Edm.Int64", "Edm.Byte", "Edm.SByte"):
        return _to_integers(series, prop, where)
    elif edm == "Edm.Boolean":
        ok = series.map(lambda v: v is None or isinstance(v, bool) or v is pd.NA) | ~present
        if not ok.all():
            raise _bad_value(where, prop, series, ~ok)
        return series.astype("boolean")
    elif edm == "Edm.DateTime":
        return _to_datetime(series, prop, where).dt.tz_localize(None)
    elif edm == "Edm.DateTimeOffset":
        return _to_datetime(series, prop, where)
    elif edm == "Edm.Time":
        out = pd.to_timedelta(series, errors="coerce")
    else:
        return series
    bad = present & out.isna()
    if bad.any():
        raise _bad_value(where, prop, series, bad)
    return out


def _convert_named(series: pd.Series, prop: EdmProperty, where: str) -> pd.Series:
    """`_convert`, any failure an ODataError naming the property (pandas' own names none)."""
    try:
        return _convert(series, prop, where)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ODataError(f"{where}: property {prop.name} ({prop.edm_type}): {exc}") from None


def parse_rows(
    entity: EntityType,
    rows: Sequence[Mapping[str, object]],
    *,
    select: Sequence[str] | None = None,
    source: str = "OData response",
) -> pd.DataFrame:
    """Turn `d.results` rows into a typed DataFrame, one column per (selected) property.

    `__metadata` and navigation properties (`{"__deferred": ...}` or expanded) are dropped:
    they are links, not data. Properties absent from the metadata are kept unconverted.
    """
    names = list(select) if select else [p.name for p in entity.properties]
    frame = pd.DataFrame(list(rows)) if rows else pd.DataFrame()
    links = [c for c in frame.columns if c == "__metadata" or c in entity.navigation]
    frame = frame.drop(columns=links)
    extras = [
        c
        for c in frame.columns
        if c not in names
        and not frame[c].map(lambda v: isinstance(v, dict) and "__deferred" in v).any()
    ]
    frame = frame.reindex(columns=names + extras)
    typed = {
        name: _convert_named(frame[name], prop, source)
        for name in names
        if (prop := entity.get(name)) is not None and prop.edm_type != "Edm.String"
    }
    return frame.assign(**typed)


# --------------------------------------------------------------------------------------------
# HTTP: retries, Retry-After, authentication, paging
# --------------------------------------------------------------------------------------------


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP date."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def basic_authorization(user: str, secret: str) -> str:
    """An `Authorization: Basic` value with the credentials UTF-8 encoded (RFC 7617).

    requests encodes them as Latin-1, which fails on any other character (and its
    UnicodeEncodeError names the character and its position in the password).
    """
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode("ascii")


def _sap_message(body: bytes) -> str:
    """The human part of an SAP error body (`{"error": {"message": {"value": ...}}}`)."""
    try:
        error = json.loads(body)["error"]
        message = error["message"]
        return str(message.get("value", message) if isinstance(message, dict) else message)
    except (ValueError, KeyError, TypeError):
        return body[:300].decode("utf-8", errors="replace")


def _outline(value: object, depth: int = 2) -> str:
    """`{"d": [...]}`: the outline of a JSON value, to say what a server sent without its data."""
    if isinstance(value, list):
        return "[...]"
    if not isinstance(value, dict):
        return "..."
    if not depth:
        return "{...}"
    inner = [
        f"{json.dumps(str(key))}: {_outline(value[key], depth - 1)}" for key in list(value)[:3]
    ]
    return "{" + ", ".join(inner + (["..."] if len(value) > 3 else [])) + "}"


def _oauth_error(body: bytes) -> str | None:
    """An OAuth2 error response's code and description (RFC 6749 5.2), if the body is one:
    `invalid_client: Bad client credentials`."""
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("error"), str):
        return None
    description = payload.get("error_description")
    return payload["error"] + (f": {description}" if isinstance(description, str) else "")


def _parse_page(body: bytes) -> dict:
    """`d` of an OData V2 JSON page. JSON cut short is broken (retried); a whole answer in
    another format (Atom XML, V1 `{"d": [...]}`, V4 `{"value": ...}`) is refused: the same
    URL answers it again on every retry."""
    if body.lstrip()[:1] == b"<":
        raise _Refused(
            "the server answered XML (Atom), not JSON: request JSON from it ($format=json and "
            "Accept: application/json were sent; does a proxy drop them?) or check the service URL"
        )
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise _BrokenPayload(f"invalid JSON ({exc})") from None
    d = payload.get("d") if isinstance(payload, dict) else None
    if not isinstance(d, dict) or not isinstance(d.get("results"), list):
        raise _Refused(
            f"the server answered JSON shaped {_outline(payload)}, not OData V2's "
            '{"d": {"results": [...]}}: check that the service URL is an OData V2 service'
        )
    return d


def _inline_count(d: Mapping[str, object]) -> int | None:
    """The `__count` of a page asked with `$inlinecount=allpages`; None if the server sent none."""
    try:
        return int(str(d["__count"]))
    except (KeyError, ValueError):
        return None


def _is_html(content_type: str | None, body: bytes) -> bool:
    """An HTML page, such as the login form an identity provider or proxy answers with."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media in _HTML_TYPES or body[:64].lstrip().lower().startswith(
        (b"<!doctype html", b"<html")
    )


def _origin(url: str) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) as browsers compare origins: the host in any case, the default port
    written or not. None when the port is not a number."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return None
    return parts.scheme, parts.hostname or "", port or _DEFAULT_PORTS.get(parts.scheme)


def _root_cause(exc: BaseException) -> BaseException:
    """The exception at the bottom of `exc`'s chain: what the socket said."""
    while (inner := exc.__cause__ or exc.__context__) is not None:
        exc = inner
    return exc


def _read_body(response: requests.Response, ends: float) -> bytes:
    """The whole body, or _TooSlow once `ends` (`time.monotonic()`) has passed.

    requests' read timeout bounds each socket read, not the answer: a server sending a byte
    now and then would hold the read, and the sensor tick, as long as it liked. So a timer
    shuts the socket for reading at `ends` (urllib3's `HTTPResponse.shutdown`), which ends a
    read blocked in it.
    """
    cut = threading.Event()

    def cut_short() -> None:
        cut.set()  # before the shutdown wakes the reader
        with suppress(RuntimeError, ValueError, OSError):  # the body came in meanwhile
            response.raw.shutdown()

    timer = threading.Timer(max(ends - time.monotonic(), 0.0), cut_short)
    timer.daemon = True
    timer.start()
    try:
        body = response.content
    except requests.RequestException:
        if cut.is_set():
            raise _TooSlow from None
        raise
    finally:
        timer.cancel()
    if cut.is_set():  # a body without a length ends where the shutdown cut it
        raise _TooSlow
    return body


def checked_base_url(url: str, what: str, client_what: str) -> str:
    """`url` if it is an http(s) URL without credentials, query string or fragment; else a
    ValueError naming `what` (and never quoting the URL, which may hold a secret). Service
    paths are appended to it, so `?sap-client=100` there broke every URL; the SAP client is a
    setting of its own, `client_what`."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} must be an http(s) URL, got {parts.scheme!r} scheme")
    if parts.username or parts.password:
        raise ValueError(f"{what} must not embed credentials; use the user and password settings")
    if "?" in url or "#" in url:  # not quoted: a query string may hold a key
        raise ValueError(
            f"{what} must have no query string or fragment (after '?' or '#'): service paths "
            f"are appended to it; give the SAP client (sap-client) as {client_what}"
        )
    return url


#: basic: user and password; oauth2: client credentials; none: a proxy that authenticates.
AUTH_METHODS = ("basic", "oauth2", "none")


def checked_auth(value: str, what: str) -> str:
    """`value` if an authentication this client speaks; else a ValueError naming `what`."""
    if value not in AUTH_METHODS:
        choices = ", ".join(repr(method) for method in AUTH_METHODS)
        raise ValueError(f"{what} must be one of {choices}, got {value!r}")
    return value


#: The environment variables each authentication reads its credentials from.
AUTH_SETTINGS = {
    "basic": ("SCP_ODATA_USER", "SCP_ODATA_PASSWORD"),
    "oauth2": ("SCP_ODATA_CLIENT_ID", "SCP_ODATA_CLIENT_SECRET", "SCP_ODATA_TOKEN_URL"),
}


def check_credentials_set(auth: str, env: Mapping[str, str]) -> None:
    """A ValueError naming the credential variables `auth` needs that are unset or empty:
    otherwise every read would fail, tick after tick, with no variable named."""
    missing = [name for name in AUTH_SETTINGS.get(auth, ()) if not env.get(name)]
    if missing:
        raise ValueError(f"SCP_ODATA_AUTH={auth} needs {' and '.join(missing)}, unset or empty")


def checked_sap_client(value: str | None, what: str) -> str | None:
    """`value` if None or three digits, as SAP clients are (e.g. 100); else a ValueError naming
    `what`, raised when the settings load rather than at the first request."""
    if value is not None and not re.fullmatch(r"\d{3}", value):
        raise ValueError(f"{what} must be three digits (the SAP client, e.g. 100), got {value!r}")
    return value


#: Secrets shorter than this are redacted as whole words only (`SapODataClient.redact`).
_WHOLE_WORD_BELOW = 8


class SapODataClient:
    """Reads entity sets of S/4HANA OData V2 services into typed DataFrames.

    `base_url` is the service root's parent, e.g. `https://host/sap/opu/odata/sap`, without a
    query string: `sap_client` (three digits) is sent as `sap-client` on every OData request.
    Credentials are held privately and replaced by `***` in every log line, exception
    and repr this client produces. `timeout_s` bounds each request in all, its body included;
    `delta_overlap_s` is how far before its cursor `fetch_delta` reads again.
    """

    def __init__(
        self,
        base_url: str,
        *,
        auth: AuthKind = "basic",
        username: str | None = None,
        password: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        token_url: str | None = None,
        page_size: int = 1000,
        timeout_s: float = 60.0,
        max_retries: int = 5,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        max_wait_s: float = 300.0,
        delta_overlap_s: float = 300.0,
        sap_client: str | None = None,
        metadata: Mapping[str, ServiceMetadata] | None = None,
    ) -> None:
        checked_base_url(base_url, "base_url", "sap_client")
        checked_sap_client(sap_client, "sap_client")
        checked_auth(auth, "auth")
        if auth == "basic" and not (username and password):
            raise ValueError("auth='basic' needs username and password")
        if auth == "oauth2" and not (client_id and client_secret and token_url):
            raise ValueError("auth='oauth2' needs client_id, client_secret and token_url")
        for name, value in (("page_size", page_size), ("timeout_s", timeout_s)):
            if value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        if delta_overlap_s < 0:
            raise ValueError(f"delta_overlap_s must be >= 0, got {delta_overlap_s}")
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.username = username
        self.token_url = token_url
        self.page_size = page_size
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.max_wait_s = max_wait_s
        self.delta_overlap_s = delta_overlap_s
        self.sap_client = sap_client
        self._password = password
        self._client_id = client_id
        self._client_secret = client_secret
        self._secrets: set[str] = {s for s in (password, client_secret) if s}
        for user, secret in ((username, password), (client_id, client_secret)):
            if user and secret:
                self._secrets.add(basic_authorization(user, secret).removeprefix("Basic "))
        self._token: str | None = None
        self._token_expires_at = 0.0
        self._token_lock = threading.Lock()
        self._metadata: dict[str, ServiceMetadata] = dict(metadata or {})
        self._session = requests.Session()
        self._random = random.Random()
        self._local = threading.local()  # the deadline of the calling thread

    # -- secrets ---------------------------------------------------------------------------

    def redact(self, text: str) -> str:
        """Replace every secret this client knows (passwords, tokens) with `***`. One shorter
        than `_WHOLE_WORD_BELOW` only where it stands as a whole, not inside a longer word: a
        secret `s` masked in `/sap/` and `A_SalesOrder` made messages unreadable and showed
        what the secret was."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            if len(secret) >= _WHOLE_WORD_BELOW:
                text = text.replace(secret, _REDACTED)
            else:
                text = re.sub(rf"(?<![^\W_]){re.escape(secret)}(?![^\W_])", _REDACTED, text)
        return text

    def __repr__(self) -> str:
        password = _REDACTED if self._password else None
        secret = _REDACTED if self._client_secret else None
        return (
            f"SapODataClient(base_url={self.base_url!r}, auth={self.auth!r}, "
            f"username={self.username!r}, password={password!r}, client_id={self._client_id!r}, "
            f"client_secret={secret!r}, token_url={self.token_url!r}, "
            f"page_size={self.page_size}, timeout_s={self.timeout_s}, "
            f"max_retries={self.max_retries}, delta_overlap_s={self.delta_overlap_s}, "
            f"sap_client={self.sap_client!r})"
        )

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> SapODataClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- deadline --------------------------------------------------------------------------

    @contextmanager
    def deadline(self, seconds: float | None) -> Iterator[None]:
        """Within this block, no request or retry wait of this thread runs past `seconds` from
        now: the call raises ODataRetryLater instead (None: no deadline). A Dagster sensor tick
        is killed after 60 s, with an error that says nothing about OData or Retry-After."""
        previous: tuple[float, float] | None = getattr(self._local, "deadline", None)
        if seconds is not None:
            if seconds <= 0:
                raise ValueError(f"deadline seconds must be positive, got {seconds}")
            ends = time.monotonic() + seconds
            if previous is None or ends < previous[0]:
                self._local.deadline = (ends, seconds)
        try:
            yield
        finally:
            self._local.deadline = previous

    def _time_left(self) -> tuple[float, float] | None:
        """(seconds left, seconds granted) of the current deadline, or None without one."""
        deadline: tuple[float, float] | None = getattr(self._local, "deadline", None)
        return None if deadline is None else (deadline[0] - time.monotonic(), deadline[1])

    def _request_ends(self, what: str) -> float:
        """When a request must be answered in full (`time.monotonic()`): `timeout_s` from now,
        or at the deadline when that comes first."""
        now = time.monotonic()
        left = self._time_left()
        if left is None:
            return now + self.timeout_s
        if left[0] <= 0:
            raise ODataRetryLater(
                self.redact(f"{what}: not sent, the {left[1]:g} s deadline has passed")
            )
        return now + min(self.timeout_s, left[0])

    def _deadline_passed(self) -> bool:
        """Whether this thread's deadline, if it has one, has passed."""
        left = self._time_left()
        return left is not None and left[0] <= 0

    def _before_wait(self, what: str, reason: str, wait: float, retry_after: float | None) -> None:
        """Raise ODataRetryLater when the deadline has passed (most likely what cut the request
        short), or waiting `wait` s before the next retry would pass it."""
        left = self._time_left()
        if left is None or wait < left[0]:
            return
        asked = f" with Retry-After {retry_after:g} s" if retry_after is not None else ""
        stop = (
            f"the {left[1]:g} s deadline has passed"
            if left[0] <= 0
            else f"waiting {wait:.1f} s would pass the {left[1]:g} s deadline "
            f"({left[0]:.1f} s left)"
        )
        raise ODataRetryLater(
            self.redact(f"{what}: {reason}{asked}; {stop}, so the read stops here"),
            retry_after=retry_after,
        )

    # -- transport -------------------------------------------------------------------------

    def _backoff(self, failures: int) -> float:
        """Exponential backoff with jitter, so parallel extractors don't retry in lockstep."""
        ceiling = min(self.backoff_max_s, self.backoff_base_s * 2 ** (failures - 1))
        return self._random.uniform(ceiling / 2, ceiling)

    def _access_token(self, *, renew: bool = False) -> str:
        """A cached OAuth2 client-credentials token, fetched again near expiry or on demand."""
        with self._token_lock:
            if self._token and not renew and time.monotonic() < self._token_expires_at:
                return self._token
            self._token = None
            token, expires_in = self._call(
                "POST",
                str(self.token_url),
                what=f"OAuth2 token request to {self.token_url}",
                parse=self._parse_token,
                token_request=True,
            )
            self._token = token
            self._token_expires_at = time.monotonic() + expires_in - min(30.0, expires_in / 10)
            log.debug("Obtained an OAuth2 access token valid for %.0f s", expires_in)
            return token

    def _parse_token(self, body: bytes) -> tuple[str, float]:
        if refusal := _oauth_error(body):  # some servers refuse with 200: not worth a retry
            raise ODataAuthError(self.redact(f"OAuth2 token request refused: {refusal}"))
        try:
            payload = json.loads(body)
            token = str(payload["access_token"])
        except (ValueError, KeyError, TypeError):
            raise _BrokenPayload("token response without access_token") from None
        self._secrets.add(token)
        return token, float(payload.get("expires_in") or 3600)

    def _send(
        self, method: str, url: str, *, token_request: bool, timeout_s: float
    ) -> requests.Response:
        """The response with its body not read yet (`stream`), for `_read_body` to bound."""

        def send(
            authorization: str | None, data: dict[str, str] | None = None
        ) -> requests.Response:
            headers = {"Accept": "application/json"}
            if authorization is not None:
                headers["Authorization"] = authorization
            return self._session.request(
                method, url, data=data, headers=headers, timeout=(timeout_s, timeout_s), stream=True
            )

        if token_request:
            client = basic_authorization(str(self._client_id), str(self._client_secret))
            return send(client, {"grant_type": "client_credentials"})
        if self.auth == "basic":
            return send(basic_authorization(str(self.username), str(self._password)))
        if self.auth == "none":
            return send(None)
        response = send(f"Bearer {self._access_token()}")
        if response.status_code == 401:
            response.close()
            log.info("OAuth2 token rejected (HTTP 401) by %s; fetching a new one", url)
            response = send(f"Bearer {self._access_token(renew=True)}")
        return response

    def _connection_failure(self, what: str, url: str, exc: requests.ConnectionError) -> str:
        """Why the connection failed, as a reason to retry; a host name that does not exist or
        a certificate the client does not trust is refused instead, at once: no retry mends a
        wrong URL or a missing CA."""
        cause = _root_cause(exc)
        host = urlsplit(url).hostname
        if isinstance(cause, ssl.SSLCertVerificationError):
            raise ODataError(
                self.redact(
                    f"{what} failed: the TLS certificate of host {host!r} is not trusted "
                    f"({cause.verify_message}); check the URL, or name the bundle of the CA "
                    "that signed it in REQUESTS_CA_BUNDLE"
                )
            ) from None
        if isinstance(cause, socket.gaierror):
            if cause.errno != socket.EAI_AGAIN:
                raise ODataError(
                    self.redact(
                        f"{what} failed: name resolution failed for host {host!r} "
                        f"({cause.strerror}); check the URL"
                    )
                ) from None
            return f"name resolution failed for host {host!r} for now ({cause.strerror})"
        return f"{type(exc).__name__} ({getattr(cause, 'strerror', None) or type(cause).__name__})"

    def _call(
        self,
        method: str,
        url: str,
        *,
        what: str,
        parse: Callable[[bytes], T],
        token_request: bool = False,
    ) -> T:
        """Send a request, retrying 429/5xx, timeouts, broken connections and broken bodies.

        A refusal is not retried: HTTP 4xx, a host name that does not exist, an untrusted TLS
        certificate, an HTML page where OData was expected (a login page), an answer in another
        format than OData V2 JSON. Failures become an ODataError without their exception as
        cause: a message or a chained traceback of the HTTP stack must not carry a credential.
        """
        failures = 0
        while True:
            retry_after: float | None = None
            ends = self._request_ends(what)
            timeout_s = ends - time.monotonic()
            try:
                response = self._send(method, url, token_request=token_request, timeout_s=timeout_s)
                with response:
                    body = _read_body(response, ends)
                status = response.status_code
                if status in _RETRYABLE_STATUS:
                    reason = f"HTTP {status}"
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                elif status == 401 or (token_request and status == 400 and _oauth_error(body)):
                    hint = "client_id/client_secret" if token_request else "credentials"
                    refusal = f": {_oauth_error(body)}" if token_request else ""
                    raise ODataAuthError(
                        self.redact(
                            f"{what} was rejected (HTTP {status}{refusal}); check the {hint}"
                        )
                    )
                elif status >= 400:
                    raise ODataError(
                        self.redact(f"{what} failed: HTTP {status}: {_sap_message(body)}")
                    )
                elif _is_html(response.headers.get("Content-Type"), body):
                    raise ODataError(
                        self.redact(
                            f"{what}: the server answered HTML, not OData: a login page? "
                            "Check the URL and the authentication"
                        )
                    )
                else:
                    return parse(body)
            except requests.Timeout as exc:
                reason = f"{type(exc).__name__} (timeout {timeout_s:.3g} s)"
            except requests.ConnectionError as exc:
                reason = self._connection_failure(what, url, exc)
            except _TooSlow:
                reason = f"answer not complete within {timeout_s:.3g} s (its body still arriving)"
            except requests.exceptions.ChunkedEncodingError as exc:
                reason = f"connection broken while reading the body ({type(exc).__name__})"
            except _BrokenPayload as exc:
                reason = str(exc)
            except _Refused as exc:
                raise ODataError(self.redact(f"{what}: {exc}")) from None
            except requests.RequestException as exc:
                raise ODataError(
                    self.redact(f"{what} failed: {type(exc).__name__}: {exc}")
                ) from None
            except UnicodeError as exc:  # its message would quote part of the header
                raise ODataError(self.redact(f"{what} failed: {type(exc).__name__}")) from None
            failures += 1
            if retry_after is not None and retry_after > self.max_wait_s:
                # Calling again sooner than asked would only be refused again.
                raise ODataRetryLater(
                    self.redact(
                        f"{what}: {reason} with Retry-After {retry_after:g} s, longer than the "
                        f"client waits (max_wait_s={self.max_wait_s:g} s), so the read stops here"
                    ),
                    retry_after=retry_after,
                )
            if failures > self.max_retries and not self._deadline_passed():
                raise ODataUnavailable(
                    self.redact(
                        f"{what} gave up after {failures} attempts "
                        f"(max_retries={self.max_retries}); last error: {reason}"
                    )
                )
            wait = retry_after if retry_after is not None else self._backoff(failures)
            self._before_wait(what, reason, wait, retry_after)
            log.warning(
                "%s",
                self.redact(
                    f"{what}: {reason}; retry {failures}/{self.max_retries} in {wait:.2f} s"
                ),
            )
            time.sleep(wait)

    # -- metadata --------------------------------------------------------------------------

    def service_of(self, entity_set: str, service: str | None = None) -> str:
        if service:
            return service
        try:
            return ENTITY_SERVICES[entity_set]
        except KeyError:
            known = ", ".join(sorted(ENTITY_SERVICES))
            raise ValueError(
                f"Unknown entity set {entity_set!r}; pass service=... or use one of: {known}"
            ) from None

    def metadata(self, service: str) -> ServiceMetadata:
        """The service's `$metadata`, fetched once and cached."""
        if service not in self._metadata:
            url = self._with_sap_client(f"{self.base_url}/{service}/$metadata")

            def parse(body: bytes) -> ServiceMetadata:
                try:
                    return parse_edmx(body, source=url)
                except ODataError as exc:
                    raise _BrokenPayload(str(exc)) from None

            self._metadata[service] = self._call("GET", url, what=f"GET {url}", parse=parse)
        return self._metadata[service]

    def entity_type(self, entity_set: str, *, service: str | None = None) -> EntityType:
        svc = self.service_of(entity_set, service)
        sets = self.metadata(svc).entity_sets
        if entity_set not in sets:
            raise ValueError(f"{svc} has no entity set {entity_set!r}; it has {sorted(sets)}")
        return sets[entity_set]

    # -- reading ---------------------------------------------------------------------------

    def _with_sap_client(self, url: str) -> str:
        """`url` with `sap-client`, unless it has one (a `__next` link may): without it the
        server answers from its default client, other data or none."""
        query = urlsplit(url).query
        if self.sap_client is None or "sap-client" in parse_qs(query):
            return url
        return f"{url}{'&' if query else '?'}sap-client={self.sap_client}"

    def _same_origin(self, current: str, next_link: str) -> str:
        """Resolve `__next` and refuse to send credentials to another origin (scheme, host,
        port); the same host in other letters, or with its default port written, is no other."""
        url = urljoin(current, next_link)
        origin = _origin(url)
        if origin is None or origin != _origin(self.base_url):
            raise ODataError(f"__next link {next_link!r} leaves {self.base_url}; refusing it")
        return self._with_sap_client(url)

    def _set_url(self, entity_set: str, service: str | None, query: Mapping[str, str]) -> str:
        """The entity set's URL with `query`, as S/4 reads it (`$` and quotes unescaped)."""
        root = f"{self.base_url}/{self.service_of(entity_set, service)}/{entity_set}"
        return self._with_sap_client(root + "?" + urlencode(query, quote_via=quote, safe="$',:()"))

    def _pages(
        self,
        entity_set: str,
        *,
        filter: str | None = None,
        select: Sequence[str] | None = None,
        service: str | None = None,
    ) -> Iterator[dict]:
        """Yield the `d` of each page: its `results`, and on the first its `__count`.

        The client asks for `$top`-sized windows ordered by the key (a stable order is what
        makes `$skip` paging repeatable). Inside a window the server may cut the answer short
        and link the rest with `__next`; those links are followed until the window is complete.
        A window that comes back short (or without honouring `$top`) is the last one, once that
        is certain: the read has all the rows the first page counted (`$inlinecount`), or, for
        a server that does not count, the next `$skip` is empty. A server that cuts pages short
        without a `__next` link would otherwise lose the rest of the rows without a word.
        """
        entity = self.entity_type(entity_set, service=service)
        params: dict[str, str] = {"$format": "json"}
        if entity.keys:
            params["$orderby"] = ",".join(entity.keys)
        if filter:
            params["$filter"] = filter
        if select:
            params["$select"] = ",".join(select)

        def window_url(skip: int, top: int = self.page_size) -> str:
            query = {**params, "$top": str(top), "$skip": str(skip)}
            if skip == 0:
                query["$inlinecount"] = "allpages"
            return self._set_url(entity_set, service, query)

        skip, page, in_window, read = 0, 0, 0, 0
        counted: int | None = None
        window_start: dict | None = None
        url = window_url(skip)
        while True:
            page += 1
            d = self._call(
                "GET", url, what=f"GET {url} (page {page} of {entity_set})", parse=_parse_page
            )
            rows = d["results"]
            if page == 1:
                counted = _inline_count(d)
            if in_window == 0 and rows:
                if skip and rows[0] == window_start:
                    raise ODataError(f"{url} repeats the previous window: $skip is ignored")
                window_start = rows[0]
            log.debug("%s page %d: %d rows", entity_set, page, len(rows))
            yield d
            in_window += len(rows)
            read += len(rows)
            next_link = d.get("__next")
            if next_link:
                next_url = self._same_origin(url, str(next_link))
                if next_url == url:
                    raise ODataError(f"page {page} of {entity_set}: __next points to itself")
                url = next_url
                continue
            if in_window == self.page_size:
                skip += self.page_size
                in_window = 0
                url = window_url(skip)
                continue
            if 0 < in_window < self.page_size and (counted is None or read < counted):
                after = window_url(read, top=1)
                self._refuse_cut_pages(entity_set, after, read, in_window, counted)
            return

    def _refuse_cut_pages(
        self, entity_set: str, url: str, read: int, cut_at: int, counted: int | None
    ) -> None:
        """An ODataError if `url`, the rows after the `read` ones, holds any: the server cuts
        its pages at `cut_at` rows without a `__next` link, and the rest of every window would
        be lost. None there: the short window was the last (rows counted have gone since)."""
        what = f"GET {url} (after a short page of {entity_set})"
        if self._call("GET", url, what=what, parse=_parse_page)["results"]:
            of = "" if counted is None else f" of the {counted} it counted"
            raise ODataError(
                f"{entity_set}: the server answered $top={self.page_size} with {cut_at} rows "
                f"and no __next link, yet $skip={read} holds more (read so far: {read}{of}): it "
                f"cuts its pages short, and rows would be lost; set the page size to at most "
                f"{cut_at}"
            )

    def count(
        self, entity_set: str, filter: str | None = None, service: str | None = None
    ) -> int | None:
        """How many rows `filter` selects now, as the server counts them (None: it does not)."""
        query = {"$format": "json", "$top": "0", "$skip": "0", "$inlinecount": "allpages"}
        url = self._set_url(
            entity_set, service, {**query, **({"$filter": filter} if filter else {})}
        )
        what = f"GET {url} (count of {entity_set})"
        return _inline_count(self._call("GET", url, what=what, parse=_parse_page))

    def _read(
        self,
        entity_set: str,
        filter: str | None,
        select: Sequence[str] | None,
        service: str | None,
    ) -> tuple[list[dict], str | None]:
        """One read of every page: its rows, each key once, and why the set changed under the
        read (`changed_under_read`), None when the counts agree."""
        keys = self.entity_type(entity_set, service=service).keys
        rows: list[dict] = []
        counted: int | None = None
        pages = 0
        for d in self._pages(entity_set, filter=filter, select=select, service=service):
            counted = _inline_count(d) if pages == 0 else counted
            rows.extend(d["results"])
            pages += 1
        distinct = unique_rows(rows, keys)
        # one page is one answer; a count that already disagrees needs no second one
        recount = pages > 1 and counted == len(distinct)
        at_end = self.count(entity_set, filter, service) if recount else None
        log.info("Fetched %d rows of %s in %d pages", len(distinct), entity_set, pages)
        return distinct, changed_under_read(counted, len(distinct), at_end)

    def fetch(
        self,
        entity_set: str,
        *,
        filter: str | None = None,
        select: Sequence[str] | None = None,
        service: str | None = None,
    ) -> pd.DataFrame:
        """All rows of an entity set (optionally filtered), typed by the metadata.

        `$skip` paging is not a snapshot: a row inserted or deleted ahead of the read position
        between two pages shifts the rows after it, so one is read twice or never. So rows are
        kept once per key (the later read), and the read is checked against the server's
        counts: the first page's `$inlinecount` and, for a read of several pages, one more
        count at the end (one request) must both equal the rows read. A read that fails the
        check is made once more; failing again, it raises ODataUnavailable: a fault of the
        moment, the feed is read again at a later tick, its cursor kept. Paging by key
        (`$filter=key gt last`) would need no count, but string comparison on every key field,
        which not every S/4 API supports. Not seen: a delete ahead of the read position and an
        insert behind it between the same two pages (the counts stay equal).
        """
        entity = self.entity_type(entity_set, service=service)
        if select:
            unknown = [name for name in select if entity.get(name) is None]
            if unknown:
                raise ValueError(f"{entity_set} has no properties {unknown}")
        asked = [*select, *(k for k in entity.keys if k not in select)] if select else None
        rows, changed = self._read(entity_set, filter, asked, service)
        if changed:
            log.warning("%s: %s; reading it once more", entity_set, changed)
            rows, changed = self._read(entity_set, filter, asked, service)
        if changed:
            raise ODataUnavailable(
                f"{entity_set} changed while it was read, twice running ({changed}); the rows "
                "are not used, a later read tries again"
            )
        frame = parse_rows(entity, rows, select=asked, source=entity_set)
        return frame[list(select)] if select else frame


def unique_rows(rows: Sequence[dict], keys: Sequence[str]) -> list[dict]:
    """Each key's row once, as read last: `$skip` paging reads a row again when one is
    inserted ahead of it between two pages (in stock, it would be summed twice)."""
    if not keys:
        return list(rows)
    return list({tuple(row.get(key) for key in keys): row for row in rows}.values())


def changed_under_read(counted: int | None, read: int, at_end: int | None) -> str | None:
    """Why a paged read cannot be trusted: the server counted other than the `read` distinct
    rows at its first page (`counted`) or at its end (`at_end`); None if they agree or the
    server does not count."""
    if counted is None or (counted == read and at_end in (None, read)):
        return None
    end = "" if at_end is None else f" and {at_end} at its end"
    return (
        f"the server counted {counted} rows at the read's first page{end}, the pages held "
        f"{read}: rows were inserted or deleted while it was paged"
    )


# --------------------------------------------------------------------------------------------
# Deltas
# --------------------------------------------------------------------------------------------


def parse_cursor(cursor: str, what: str = "cursor") -> pd.Timestamp:
    """An ISO 8601 cursor as a UTC timestamp (naive means UTC); else a ValueError quoting it
    as `what` (the setting or field it came from)."""
    try:
        stamp = pd.Timestamp(cursor)
    except ValueError:
        stamp = pd.NaT
    if pd.isna(stamp):
        raise ValueError(f"{what} {cursor!r} is not an ISO 8601 timestamp")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def past_cursor(cursor: str, what: str = "cursor") -> pd.Timestamp:
    """`parse_cursor`, refusing a timestamp later than now: a delta read from there would skip
    every change made until then, silently."""
    stamp = parse_cursor(cursor, what)
    now = pd.Timestamp.now(tz="UTC")
    if stamp > now:
        raise ValueError(
            f"{what} {cursor!r} lies in the future (now: {format_cursor(now.floor('s'))}); "
            "changes made before it would never be read"
        )
    return stamp


def format_cursor(stamp: pd.Timestamp) -> str:
    """UTC ISO 8601 with a `Z`, milliseconds only when present (as `/Date(ms)/` carries)."""
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    micros = stamp.microsecond
    spec = "seconds" if micros == 0 else "milliseconds" if micros % 1000 == 0 else "microseconds"
    return stamp.tz_localize(None).isoformat(timespec=spec) + "Z"


def _time_literal(prop: EdmProperty, stamp: pd.Timestamp) -> str:
    """A `$filter` literal of the property's type: `datetimeoffset'...Z'` or `datetime'...'`."""
    if prop.edm_type == "Edm.DateTimeOffset":
        return f"datetimeoffset'{format_cursor(stamp)}'"
    return f"datetime'{format_cursor(stamp)[:-1]}'"


def fetch_days(
    client: SapODataClient, entity_set: str, date_property: str, first: date, last: date
) -> pd.DataFrame:
    """Rows whose `date_property` falls on a day from `first` to `last` (both included).

    For entity sets without a change timestamp but with a business date, e.g. material
    documents by PostingDate: a window re-read in full catches late postings.
    """
    prop = client.entity_type(entity_set).get(date_property)
    if prop is None or prop.edm_type not in ("Edm.DateTimeOffset", "Edm.DateTime"):
        raise ValueError(f"{entity_set} has no date property {date_property!r}")
    if last < first:
        raise ValueError(f"empty day window {first}..{last}")
    start = pd.Timestamp(first, tz="UTC")
    end = pd.Timestamp(last, tz="UTC") + pd.Timedelta(days=1)
    filter_ = (
        f"{date_property} ge {_time_literal(prop, start)} "
        f"and {date_property} lt {_time_literal(prop, end)}"
    )
    return client.fetch(entity_set, filter=filter_)


def fetch_delta(
    client: SapODataClient, entity_set: str, cursor: str | None
) -> tuple[pd.DataFrame, str | None]:
    """Rows changed after `cursor` (all rows when None) and the cursor to keep for next time.

    Filters `LastChangeDateTime gt <cursor - client.delta_overlap_s> and le <the read's
    start>`. S/4 stamps a change when its save starts and each application server stamps by
    its own clock, so a change can become visible after a read that saw later stamps: the
    overlap reads those again, and the rows read twice replace themselves in an idempotent
    load (a landing file whose rows do not change is not written). The upper bound keeps the
    read's rows fixed while it pages: a change saved meanwhile would shift `$skip` pages (the
    read's counts would disagree, `SapODataClient.fetch`) and belongs to the next read anyway.
    It also keeps the cursor, the largest LastChangeDateTime read (the old cursor when nothing
    is newer), from passing the read's start: one row stamped in the future (a server clock
    ahead, local time written as UTC) would move it there, and every change until then would
    never be read. Such a row is read once its time comes (`count_stamped_ahead` counts them).
    The first read (no cursor) takes every row, those never stamped too.
    """
    entity = client.entity_type(entity_set)
    prop = entity.get(DELTA_PROPERTY)
    if prop is None or prop.edm_type not in ("Edm.DateTimeOffset", "Edm.DateTime"):
        raise ValueError(
            f"{entity_set} has no {DELTA_PROPERTY} timestamp, so it cannot be read as a delta; "
            "fetch it in full with client.fetch() (or through its header entity set)"
        )
    since = None if cursor is None else parse_cursor(cursor)
    started = pd.Timestamp.now(tz="UTC").floor("ms")
    filter_ = None
    if since is not None:
        reread_from = since - pd.Timedelta(seconds=client.delta_overlap_s)
        filter_ = (
            f"{DELTA_PROPERTY} gt {_time_literal(prop, reread_from)} and "
            f"{DELTA_PROPERTY} le {_time_literal(prop, started)}"
        )
    frame = client.fetch(entity_set, filter=filter_)
    newest = _change_stamps(frame).max()
    if since is not None and not newest > since:  # nothing newer (NaT compares False)
        return frame, cursor if since <= started else format_cursor(started)
    if pd.isna(newest):
        return frame, cursor
    return frame, format_cursor(min(newest, started))


def count_stamped_ahead(client: SapODataClient, entity_set: str) -> int:
    """How many rows are stamped more than `CLOCK_AHEAD` after this machine's clock (0 when the
    server does not count): a delta read takes them only once their time comes, so a clock
    ahead, or local time written as UTC, delays their changes by as much, and is worth a
    warning. One request, no rows."""
    prop = client.entity_type(entity_set).get(DELTA_PROPERTY)
    if prop is None:
        return 0
    after = pd.Timestamp.now(tz="UTC").floor("ms") + CLOCK_AHEAD
    return client.count(entity_set, f"{DELTA_PROPERTY} gt {_time_literal(prop, after)}") or 0


def _change_stamps(frame: pd.DataFrame) -> pd.Series:
    """LastChangeDateTime in UTC, whether the API types it Edm.DateTimeOffset or Edm.DateTime."""
    changed = frame[DELTA_PROPERTY]
    return changed.dt.tz_localize("UTC") if changed.dt.tz is None else changed


# --------------------------------------------------------------------------------------------
# Mapping onto raw SAP tables
# --------------------------------------------------------------------------------------------


def _finish(spec: TableSpec, frame: pd.DataFrame, entity_set: str) -> pd.DataFrame:
    """Type every spec column as the CSV reader does; blanks become nulls."""
    out = pd.DataFrame(index=frame.index)
    for col in spec.columns:
        values = frame[col.name] if col.name in frame else pd.Series(None, index=frame.index)
        where = f"{entity_set} -> {spec.name}.{col.name}"
        if col.kind == "alpha":
            keys = normalize_alpha(values, col.alpha_length)
            too_long = alpha_too_long(keys, col.alpha_length).to_numpy()
            if too_long.any():
                position = int(np.flatnonzero(too_long)[0])
                raise ValueError(
                    f"{where}: row {position + 1} value {values.iloc[position]!r} is longer "
                    f"than its ALPHA length {col.alpha_length}"
                )
            out[col.name] = keys.to_numpy(dtype=object)
        elif col.kind == "text":
            text = values.astype("string").str.strip()
            out[col.name] = text.astype(object).where(text.notna() & (text != ""), None)
        elif col.kind in ("decimal", "integer"):
            try:
                numbers = pd.to_numeric(values, errors="raise")
                out[col.name] = numbers.astype("float64" if col.kind == "decimal" else "Int64")
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{where}: {exc}") from None
        else:
            days = pd.to_datetime(values).astype("datetime64[ms]").dt.normalize()
            in_range = days.isna() | ((days >= _MIN_NS_DAY) & (days <= _MAX_NS_DAY))
            if not in_range.all():
                log.warning(
                    "%s: %d dates outside %s..%s (e.g. SAP's open 9999-12-31) stored as null",
                    where,
                    int((~in_range).sum()),
                    _MIN_NS_DAY.date(),
                    _MAX_NS_DAY.date(),
                )
            out[col.name] = days.where(in_range).astype("datetime64[ns]")
    return out.reset_index(drop=True)


def _blank(values: pd.Series) -> pd.Series:
    return values.isna() | (values.astype("string").str.strip() == "")


def _require(
    related: Mapping[str, pd.DataFrame] | None, name: str, entity_set: str
) -> pd.DataFrame:
    if not related or name not in related:
        raise ValueError(f"to_raw_table({entity_set!r}) needs related={{{name!r}: DataFrame}}")
    return related[name]


def _join_header(
    items: pd.DataFrame, header: pd.DataFrame, on: list[str], take: str, entity_set: str
) -> pd.Series:
    """A header column for every item, with a clear error for items without a header."""
    lookup = header[[*on, take]].drop_duplicates(subset=on)
    merged = items[on].merge(lookup, on=on, how="left", validate="many_to_one")
    missing = merged[take].isna() & ~items[on].isna().any(axis=1).to_numpy()
    if missing.any():
        sample = merged.loc[missing, on].drop_duplicates().head(5).to_dict("records")
        raise ValueError(
            f"{entity_set}: {int(missing.sum())} rows have no header row, e.g. {sample}"
        )
    return pd.Series(merged[take].to_numpy(), index=items.index)


def to_raw_table(
    entity_set: str,
    df: pd.DataFrame,
    *,
    related: Mapping[str, pd.DataFrame] | None = None,
    snapshot_date: date | None = None,
) -> tuple[str, pd.DataFrame]:
    """Map a parsed entity set onto its raw SAP table: (table name, spec-ordered columns).

    - A_Product -> MARA; A_ProductPlant -> MARC (MRP fields from
      related["A_ProductSupplyPlanning"] when given, the MRP view of the same MARC row).
    - A_MatlStkInAcctMod -> MARD: own stock (no special stock) summed per storage location,
      stock type 01 -> LABST, 02 -> INSME, 07 -> SPEME; DATUM = `snapshot_date` (required).
    - A_SalesOrder -> VBAK; A_SalesOrderItem -> VBAP (ERDAT from related["A_SalesOrder"]).
    - A_MaterialDocumentHeader -> MKPF; A_MaterialDocumentItem -> MSEG, signed like MB51
      (credit H negative; BUDAT_MKPF from related["A_MaterialDocumentHeader"]).
    Keys get the ALPHA form; blank strings become nulls. A property the rows lack (a service
    of an older release) is a ValueError naming it, so that only its feed fails.
    """
    try:
        return _raw_table(entity_set, df.reset_index(drop=True), related, snapshot_date)
    except KeyError as exc:
        raise ValueError(
            f"{entity_set}: the service's rows have no property {exc.args[0]!r}, which the "
            "raw table is mapped from (an S/4HANA release without it, or a $select leaving "
            "it out?)"
        ) from None


def _raw_table(
    entity_set: str,
    frame: pd.DataFrame,
    related: Mapping[str, pd.DataFrame] | None,
    snapshot_date: date | None,
) -> tuple[str, pd.DataFrame]:
    if entity_set == "A_Product":
        spec = get_spec("MARA")
        deleted = frame["IsMarkedForDeletion"].astype("boolean").fillna(False)
        raw = pd.DataFrame(
            {
                "MATNR": frame["Product"],
                "MTART": frame["ProductType"],
                "MATKL": frame["ProductGroup"],
                "MEINS": frame["BaseUnit"],
                "BRGEW": frame["GrossWeight"],
                "GEWEI": frame["WeightUnit"],
                "ERSDA": frame["CreationDate"],
                "LVORM": np.where(deleted, "X", None),
            }
        )
    elif entity_set == "A_ProductPlant":
        spec = get_spec("MARC")
        raw = pd.DataFrame(
            {
                "MATNR": frame["Product"],
                "WERKS": frame["Plant"],
                "DISMM": frame["MRPType"],
                "BSTMI": frame["MinimumLotSizeQuantity"],
                "MMSTA": frame["ProfileCode"],
            }
        )
        if related and "A_ProductSupplyPlanning" in related:
            planning = related["A_ProductSupplyPlanning"].rename(
                columns={
                    "MRPType": "DISMM_SP",
                    "PlannedDeliveryDurationInDays": "PLIFZ",
                    "SafetyStockQuantity": "EISBE",
                    "LotSizingProcedure": "DISLS",
                    "MinimumLotSizeQuantity": "BSTMI_SP",
                    "LotSizeRoundingQuantity": "BSTRF",
                }
            )
            cols = ["Product", "Plant", "DISMM_SP", "PLIFZ", "EISBE", "DISLS", "BSTMI_SP", "BSTRF"]
            merged = frame[["Product", "Plant"]].merge(
                planning[cols].drop_duplicates(subset=["Product", "Plant"]),
                on=["Product", "Plant"],
                how="left",
            )
            for name in ("PLIFZ", "EISBE", "DISLS", "BSTRF"):
                raw[name] = merged[name].to_numpy()
            raw["DISMM"] = raw["DISMM"].where(~_blank(raw["DISMM"]), merged["DISMM_SP"])
            raw["BSTMI"] = raw["BSTMI"].where(raw["BSTMI"].notna(), merged["BSTMI_SP"])
    elif entity_set == "A_MatlStkInAcctMod":
        spec = get_spec("MARD")
        if snapshot_date is None:
            raise ValueError(
                "to_raw_table('A_MatlStkInAcctMod') needs snapshot_date: the API returns "
                "current stock, and MARD rows are dated end-of-day snapshots"
            )
        own = frame[_blank(frame["InventorySpecialStockType"]) & ~_blank(frame["StorageLocation"])]
        quantity = own["MatlWrhsStkQtyInMatlBaseUnit"].fillna(0.0)
        stock_type = own["InventoryStockType"].astype("string").str.strip()
        parts = pd.DataFrame(
            {
                "MATNR": normalize_alpha(own["Material"], ALPHA_LENGTHS["MATNR"]),
                "WERKS": own["Plant"],
                "LGORT": own["StorageLocation"],
                "LABST": quantity.where(stock_type == "01", 0.0),
                "INSME": quantity.where(stock_type == "02", 0.0),
                "SPEME": quantity.where(stock_type == "07", 0.0),
            }
        )
        raw = parts.groupby(["MATNR", "WERKS", "LGORT"], as_index=False, sort=True).sum()
        raw["DATUM"] = pd.Timestamp(snapshot_date)
    elif entity_set == "A_SalesOrder":
        spec = get_spec("VBAK")
        raw = pd.DataFrame(
            {
                "VBELN": frame["SalesOrder"],
                "AUART": frame["SalesOrderType"],
                "ERDAT": frame["CreationDate"],
                "KUNNR": frame["SoldToParty"],
                "VKORG": frame["SalesOrganization"],
                "VDATU": frame["RequestedDeliveryDate"],
                "WAERK": frame["TransactionCurrency"],
            }
        )
    elif entity_set == "A_SalesOrderItem":
        spec = get_spec("VBAP")
        orders = _require(related, "A_SalesOrder", entity_set)
        raw = pd.DataFrame(
            {
                "VBELN": frame["SalesOrder"],
                "POSNR": frame["SalesOrderItem"],
                "MATNR": frame["Material"],
                "WERKS": frame["ProductionPlant"],
                "KWMENG": frame["RequestedQuantity"],
                "VRKME": frame["RequestedQuantityUnit"],
                "NETWR": frame["NetAmount"],
                "WAERK": frame["TransactionCurrency"],
                "ERDAT": _join_header(frame, orders, ["SalesOrder"], "CreationDate", entity_set),
                "ABGRU": frame["SalesDocumentRjcnReason"],
            }
        )
    elif entity_set == "A_MaterialDocumentHeader":
        spec = get_spec("MKPF")
        raw = pd.DataFrame(
            {
                "MBLNR": frame["MaterialDocument"],
                "MJAHR": frame["MaterialDocumentYear"],
                "BUDAT": frame["PostingDate"],
                "BLDAT": frame["DocumentDate"],
                "VGART": frame["InventoryTransactionType"],
            }
        )
    elif entity_set == "A_MaterialDocumentItem":
        spec = get_spec("MSEG")
        headers = _require(related, "A_MaterialDocumentHeader", entity_set)
        credit = frame["DebitCreditCode"].astype("string").str.strip() == "H"
        sign = np.where(credit.fillna(False), -1.0, 1.0)
        keys = ["MaterialDocumentYear", "MaterialDocument"]
        raw = pd.DataFrame(
            {
                "MBLNR": frame["MaterialDocument"],
                "MJAHR": frame["MaterialDocumentYear"],
                "ZEILE": frame["MaterialDocumentItem"],
                "BWART": frame["GoodsMovementType"],
                "MATNR": frame["Material"],
                "WERKS": frame["Plant"],
                "LGORT": frame["StorageLocation"],
                "MENGE": frame["QuantityInBaseUnit"].abs() * sign,
                "MEINS": frame["MaterialBaseUnit"],
                "SHKZG": frame["DebitCreditCode"],
                "DMBTR": frame["GdsMvtExtAmtInCoCodeCrcy"].abs() * sign,
                "WAERS": frame["CompanyCodeCurrency"],
                "LIFNR": frame["Supplier"],
                "KUNNR": frame["Customer"],
                "EBELN": frame["PurchaseOrder"],
                "KDAUF": frame["SalesOrder"],
                "BUDAT_MKPF": _join_header(frame, headers, keys, "PostingDate", entity_set),
            }
        )
    else:
        known = "A_Product, A_ProductPlant, A_MatlStkInAcctMod, A_SalesOrder, A_SalesOrderItem, "
        raise ValueError(
            f"No raw table mapping for {entity_set!r}; mapped entity sets: {known}"
            "A_MaterialDocumentHeader, A_MaterialDocumentItem"
        )
    return spec.name, _finish(spec, raw, entity_set)
