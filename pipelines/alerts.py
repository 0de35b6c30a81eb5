"""Alerts to Slack, e-mail (SMTP) or a generic JSON webhook, configured by environment.

Three events: a failed run (the run-failure sensor in `pipelines/automation.py`), SAP deliveries
the landing sensor rejected (`pipelines/ingest/sensors.py`) and day files a load refused
(`pipelines/ingest/assets.py`). No Dagster import: each builds an
`Alert` and calls `send_alert`. Secrets never leave this module in text: a Slack webhook URL
*is* a secret, so delivery errors name the channel and the HTTP status, never the address, and
the SMTP password is kept out of every repr and message.

Environment:
- `SCP_ALERT_SLACK_WEBHOOK`: Slack incoming-webhook URL.
- `SCP_ALERT_WEBHOOK_URL`: any endpoint that accepts a JSON POST (Teams workflow, PagerDuty
  bridge, an internal service).
- `SCP_ALERT_SMTP_HOST`, `_PORT` (587), `_USER`, `_PASSWORD`, `_FROM`, `_TO` (comma-separated),
  `_SECURITY` (`starttls` by default, `ssl` by default on port 465, or `none` for a trusted relay).
- `SCP_DAGSTER_URL`: the webserver's public address, to link the failed run.
"""

from __future__ import annotations

import json
import os
import smtplib
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from urllib.parse import urlsplit

SMTP_SECURITY = ("starttls", "ssl", "none")
MAX_ERROR_CHARS = 1500
TIMEOUT_SECONDS = 10.0
RUN_FAILURE = "dagster_run_failure"
FILES_REJECTED = "landing_files_rejected"
FILES_REFUSED = "landing_files_refused"


class AlertConfigError(ValueError):
    """An alert variable is set to something unusable; the message names the variable."""


class AlertDeliveryError(RuntimeError):
    """At least one channel failed; the message lists channels and reasons, never secrets."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 587
    user: str = ""
    password: str = field(default="", repr=False)
    sender: str = ""
    recipients: tuple[str, ...] = ()
    security: str = "starttls"


@dataclass(frozen=True)
class AlertSettings:
    """Which channels are configured; empty means alerts are switched off."""

    slack_webhook: str = field(default="", repr=False)
    webhook_url: str = field(default="", repr=False)
    smtp: SmtpSettings | None = None
    dagster_url: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AlertSettings:
        """Read `SCP_ALERT_*`; raises `AlertConfigError` naming the variable that is wrong."""
        env = os.environ if env is None else env
        smtp = None
        host = env.get("SCP_ALERT_SMTP_HOST", "").strip()
        if host:
            port = _port(env.get("SCP_ALERT_SMTP_PORT", "587"))
            default_security = "ssl" if port == 465 else "starttls"
            security = env.get("SCP_ALERT_SMTP_SECURITY", default_security).strip().lower()
            if security not in SMTP_SECURITY:
                raise AlertConfigError(
                    f"SCP_ALERT_SMTP_SECURITY must be one of {', '.join(SMTP_SECURITY)}, "
                    f"got {security!r}"
                )
            recipients = tuple(
                r.strip() for r in env.get("SCP_ALERT_SMTP_TO", "").split(",") if r.strip()
            )
            if not recipients:
                raise AlertConfigError("SCP_ALERT_SMTP_HOST is set but SCP_ALERT_SMTP_TO is empty")
            user = env.get("SCP_ALERT_SMTP_USER", "")
            smtp = SmtpSettings(
                host=host,
                port=port,
                user=user,
                password=env.get("SCP_ALERT_SMTP_PASSWORD", ""),
                sender=env.get("SCP_ALERT_SMTP_FROM", "") or user or f"dagster@{socket.getfqdn()}",
                recipients=recipients,
                security=security,
            )
        settings = cls(
            slack_webhook=env.get("SCP_ALERT_SLACK_WEBHOOK", "").strip(),
            webhook_url=env.get("SCP_ALERT_WEBHOOK_URL", "").strip(),
            smtp=smtp,
            dagster_url=env.get("SCP_DAGSTER_URL", "").strip().rstrip("/"),
        )
        for name, url in (
            ("SCP_ALERT_SLACK_WEBHOOK", settings.slack_webhook),
            ("SCP_ALERT_WEBHOOK_URL", settings.webhook_url),
        ):
            if url and not _well_formed_url(url):
                raise AlertConfigError(
                    f"{name} must be an http(s) URL without spaces or control characters"
                )
        return settings

    @property
    def channels(self) -> list[str]:
        return [
            name
            for name, on in (
                ("slack", bool(self.slack_webhook)),
                ("email", self.smtp is not None),
                ("webhook", bool(self.webhook_url)),
            )
            if on
        ]

    def run_url(self, run_id: str) -> str:
        return f"{self.dagster_url}/runs/{run_id}" if self.dagster_url else ""


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise AlertConfigError(f"SCP_ALERT_SMTP_PORT must be an integer, got {value!r}") from None
    if not 0 < port < 65536:
        raise AlertConfigError(f"SCP_ALERT_SMTP_PORT must be between 1 and 65535, got {port}")
    return port


@dataclass(frozen=True)
class Alert:
    """What went wrong, in words an on-call engineer can act on without opening Dagster.

    `about` names what it concerns (`job_name`, `run_id`, `partition`; or `files`): shown as
    fields in chat and mail, and sent as keys of the webhook's JSON.
    """

    title: str
    error: str
    about: Mapping[str, str] = field(default_factory=dict)
    url: str = ""
    event: str = RUN_FAILURE

    @property
    def fields(self) -> list[tuple[str, str]]:
        """`about` as (label, value), empty values left out."""
        return [(k.replace("_", " ").capitalize(), v) for k, v in self.about.items() if v]

    @property
    def text(self) -> str:
        lines = [self.title] + [f"{label}: {value}" for label, value in self.fields]
        if self.url:
            lines.append(f"Open: {self.url}")
        lines += ["", self.error]
        return "\n".join(lines)


def _truncated(error: str) -> str:
    if len(error) <= MAX_ERROR_CHARS:
        return error
    marker = "\n... (truncated)"
    return error[: MAX_ERROR_CHARS - len(marker)].rstrip() + marker


def failure_alert(
    job_name: str,
    run_id: str,
    run_message: str,
    step_errors: Sequence[tuple[str, str]] = (),
    partition: str = "",
    url: str = "",
) -> Alert:
    """Combine the run's failure message with each failed step's error, truncated for chat."""
    parts = [run_message.strip()] + [f"{step}: {error.strip()}" for step, error in step_errors]
    where = f" [{partition}]" if partition else ""
    return Alert(
        title=f"Dagster run failed: {job_name}{where}",
        error=_truncated("\n".join(p for p in parts if p)),
        about={"job_name": job_name, "run_id": run_id, "partition": partition},
        url=url,
    )


def _deliveries_title(names: Sequence[str], what: str, of: str = "") -> str:
    """`SAP delivery <what>: <name>` for one file, `<n> SAP deliveries<of> <what>` for more."""
    if len(names) == 1:
        return f"SAP delivery {what}: {names[0]}"
    return f"{len(names)} SAP deliveries{of} {what}"


def rejection_alert(rejected: Sequence[tuple[str, str]]) -> Alert:
    """SAP deliveries that could not be loaded at all, as (file name, reason naming the file):
    their days are missing until a corrected file is dropped again."""
    names = [name for name, _ in rejected]
    return Alert(
        title=_deliveries_title(names, "rejected"),
        error=_truncated("\n".join(reason for _, reason in rejected)),
        about={"files": ", ".join(names), "moved_to": "rejected/ in the landing zone"},
        event=FILES_REJECTED,
    )


def refusal_alert(
    table: str, refused: Sequence[tuple[str, str]], run_id: str = "", url: str = ""
) -> Alert:
    """Day files a load (`run_id`) read but refused, as (file name, reason): their days keep
    the rows they had, and the load's other days went on, so no run failed for them."""
    names = [name for name, _ in refused]
    return Alert(
        title=_deliveries_title(names, "refused", f" of {table}"),
        error=_truncated("\n".join(f"{name}: {reason}" for name, reason in refused)),
        about={
            "table": table,
            "files": ", ".join(names),
            "kept": "each day keeps its previous rows until a corrected file is dropped",
            "run_id": run_id,
        },
        url=url,
        event=FILES_REFUSED,
    )


def slack_payload(alert: Alert) -> dict:
    body = "  ".join(f"*{label}* `{value}`" for label, value in alert.fields)
    if alert.url:
        body += f"  <{alert.url}|open in Dagster>"
    return {
        "text": alert.title,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": alert.title[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": body}},
            {"type": "section", "text": {"type": "mrkdwn", "text": f"```{alert.error}```"}},
        ],
    }


def webhook_payload(alert: Alert) -> dict:
    return {
        "event": alert.event,
        "title": alert.title,
        **{key: value or None for key, value in alert.about.items()},
        "error": alert.error,
        "url": alert.url or None,
    }


def _well_formed_url(url: str) -> bool:
    """An http(s) URL urllib can send to; a webhook URL holds its secret, so no error may
    quote it."""
    if any(char.isspace() or ord(char) < 32 for char in url):
        return False
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # an unclosed IPv6 bracket, a port that is no number
        return False


def _post_json(channel: str, url: str, payload: dict, timeout: float) -> None:
    if not _well_formed_url(url):
        raise AlertDeliveryError(f"{channel}: the URL is malformed (not shown: it holds a secret)")
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        raise AlertDeliveryError(f"{channel}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise AlertDeliveryError(f"{channel}: {type(exc).__name__}: {reason}") from None


def send_slack(webhook: str, alert: Alert, timeout: float = TIMEOUT_SECONDS) -> None:
    _post_json("slack", webhook, slack_payload(alert), timeout)


def send_webhook(url: str, alert: Alert, timeout: float = TIMEOUT_SECONDS) -> None:
    _post_json("webhook", url, webhook_payload(alert), timeout)


def email_message(smtp: SmtpSettings, alert: Alert) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = alert.title
    message["From"] = smtp.sender
    message["To"] = ", ".join(smtp.recipients)
    message.set_content(alert.text)
    return message


def send_email(smtp: SmtpSettings, alert: Alert, timeout: float = TIMEOUT_SECONDS) -> None:
    """Refuses to log in over a connection that is not encrypted unless security is `none`."""
    try:
        if smtp.security == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                smtp.host, smtp.port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=timeout)
        with client:
            client.ehlo()
            if smtp.security == "starttls":
                if not client.has_extn("starttls"):
                    raise AlertDeliveryError(
                        f"email: {smtp.host}:{smtp.port} does not offer STARTTLS; set "
                        "SCP_ALERT_SMTP_SECURITY=ssl, or =none for a trusted relay"
                    )
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if smtp.user:
                client.login(smtp.user, smtp.password)
            client.send_message(email_message(smtp, alert))
    except AlertDeliveryError:
        raise
    except smtplib.SMTPResponseException as exc:
        detail = (
            exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else ""
        )
        raise AlertDeliveryError(f"email: SMTP {exc.smtp_code} {detail}".rstrip()) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise AlertDeliveryError(f"email: {type(exc).__name__}: {exc}") from None


def send_alert(settings: AlertSettings, alert: Alert) -> list[str]:
    """Try every configured channel; returns those delivered, raises if any failed."""
    senders = {
        "slack": lambda: send_slack(settings.slack_webhook, alert),
        "email": lambda: send_email(settings.smtp, alert),  # type: ignore[arg-type]
        "webhook": lambda: send_webhook(settings.webhook_url, alert),
    }
    delivered, failures = [], []
    for channel in settings.channels:
        try:
            senders[channel]()
        except AlertDeliveryError as exc:
            failures.append(str(exc))
        else:
            delivered.append(channel)
    if failures:
        sent = f" (delivered via {', '.join(delivered)})" if delivered else ""
        raise AlertDeliveryError("alert not delivered: " + "; ".join(failures) + sent)
    return delivered
