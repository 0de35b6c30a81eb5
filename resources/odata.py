"""Dagster resource for the S/4HANA OData client (pipelines.ingest.odata.SapODataClient).

Secrets (password, client_secret) are meant to be configured with `dg.EnvVar`; whatever they
resolve to, they are shown as `***` by repr/str of this resource and of its client.
"""

from __future__ import annotations

import hashlib

import dagster as dg
from pydantic import Field, PrivateAttr

from pipelines.ingest.odata import SapODataClient

_REDACTED = "***"


class SapODataResource(dg.ConfigurableResource):
    """Connection settings for S/4HANA OData V2 APIs; hands out one client per process."""

    base_url: str = Field(
        description="Service root parent, e.g. https://host/sap/opu/odata/sap (no query string)"
    )
    sap_client: str | None = Field(
        default=None, description="SAP client (three digits), sent as sap-client on every request"
    )
    auth: str = Field(default="basic", description="'basic', 'oauth2' or 'none'")
    username: str | None = Field(default=None, description="Basic auth user")
    password: str | None = Field(default=None, description="Basic auth password (dg.EnvVar)")
    client_id: str | None = Field(default=None, description="OAuth2 client id")
    client_secret: str | None = Field(default=None, description="OAuth2 secret (dg.EnvVar)")
    token_url: str | None = Field(default=None, description="OAuth2 token endpoint")
    page_size: int = Field(default=1000, description="Rows per $top window")
    timeout_s: float = Field(
        default=60.0, description="Seconds one request may take in all, its body included"
    )
    max_retries: int = Field(default=5, description="Retries on 429/5xx/timeouts/broken pages")
    tick_budget_s: float = Field(
        default=45.0,
        description=(
            "Seconds one sensor tick may spend on OData; past it the tick stops and a later "
            "one retries. Keep it below Dagster's sensor timeout (60 s by default). The job "
            "sap_odata_full_read has no budget."
        ),
    )
    delta_overlap_s: float = Field(
        default=300.0,
        description=(
            "Seconds before a delta's cursor read again: S/4 stamps a change when its save "
            "starts, by the clock of its application server, so a change can turn up after a "
            "read that saw later ones. Rows read again are merged, not duplicated."
        ),
    )

    _client: SapODataClient | None = PrivateAttr(default=None)

    def credentials_key(self) -> str:
        """A digest of where and as whom this resource signs in: it tells credentials apart in
        this process's memory without holding them; never written or logged."""
        signed_in = (self.base_url, self.sap_client, self.auth, self.username, self.password)
        signed_in += (self.client_id, self.client_secret, self.token_url)
        return hashlib.sha256(repr(signed_in).encode()).hexdigest()

    def get_client(self) -> SapODataClient:
        """The client, created on first use so its OAuth2 token cache is shared by callers."""
        if self._client is None:
            self._client = SapODataClient(
                self.base_url,
                auth=self.auth,  # type: ignore[arg-type] - validated by the client
                username=self.username,
                password=self.password,
                client_id=self.client_id,
                client_secret=self.client_secret,
                token_url=self.token_url,
                page_size=self.page_size,
                timeout_s=self.timeout_s,
                max_retries=self.max_retries,
                delta_overlap_s=self.delta_overlap_s,
                sap_client=self.sap_client,
            )
        return self._client

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __repr__(self) -> str:
        password = _REDACTED if self.password else None
        secret = _REDACTED if self.client_secret else None
        return (
            f"SapODataResource(base_url={self.base_url!r}, sap_client={self.sap_client!r}, "
            f"auth={self.auth!r}, "
            f"username={self.username!r}, password={password!r}, "
            f"client_id={self.client_id!r}, client_secret={secret!r}, "
            f"token_url={self.token_url!r}, page_size={self.page_size}, "
            f"timeout_s={self.timeout_s}, max_retries={self.max_retries}, "
            f"tick_budget_s={self.tick_budget_s}, delta_overlap_s={self.delta_overlap_s})"
        )

    __str__ = __repr__
