"""Alerts (failed runs, rejected landing deliveries), delivered to an HTTP and an SMTP receiver
on 127.0.0.1 started here."""

from __future__ import annotations

import base64
import email
import json
import socketserver
import threading
from collections.abc import Iterator
from dataclasses import replace
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import pytest

from pipelines.alerts import (
    AlertConfigError,
    AlertDeliveryError,
    AlertSettings,
    failure_alert,
    refusal_alert,
    rejection_alert,
    send_alert,
    send_email,
    webhook_payload,
)
from pipelines.automation import run_failure_alerts
from pipelines.ingest.sensors import landing_sensor
from resources.dagster_resources import LandingZone, WarehouseResource

SLACK_SECRET = "T0SECRET/B0SECRET/xoxSECRETtoken"
SMTP_PASSWORD = "smtp-pa55-SECRET"
ERROR_TEXT = "MSEG_20240105.csv line 7: movement type BWART='X01' is unknown"


# -- receivers ---------------------------------------------------------------
class HttpReceiver(ThreadingHTTPServer):
    """Records every POST as (path, json body); answers with `status`."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _HttpHandler)
        self.requests: list[tuple[str, dict]] = []
        self.status = 200

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


class _HttpHandler(BaseHTTPRequestHandler):
    server: HttpReceiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        assert self.headers["Content-Type"] == "application/json"
        self.server.requests.append((self.path, json.loads(body)))
        self.send_response(self.server.status)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass


class SmtpReceiver(socketserver.ThreadingTCPServer):
    """Just enough SMTP for smtplib: EHLO, AUTH PLAIN, MAIL, RCPT, DATA, QUIT. No STARTTLS."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SmtpHandler)
        self.messages: list[tuple[str, list[str], Message]] = []
        self.logins: list[tuple[str, str]] = []

    @property
    def port(self) -> int:
        return self.server_address[1]


class _SmtpHandler(socketserver.StreamRequestHandler):
    server: SmtpReceiver

    def reply(self, text: str) -> None:
        self.wfile.write(text.encode() + b"\r\n")

    def handle(self) -> None:
        self.reply("220 127.0.0.1 test SMTP ready")
        sender, recipients = "", []
        while line := self.rfile.readline():
            command = line.decode().rstrip("\r\n")
            verb = command.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.reply("250-127.0.0.1\r\n250-AUTH PLAIN\r\n250 SIZE 1000000")
            elif verb == "HELO" or verb in ("RSET", "NOOP"):
                self.reply("250 OK")
            elif verb == "AUTH":
                _, user, password = base64.b64decode(command.split()[2]).decode().split("\0")
                self.server.logins.append((user, password))
                self.reply("235 2.7.0 Authentication successful")
            elif verb == "MAIL":
                sender = command.split("<", 1)[1].split(">", 1)[0]
                self.reply("250 OK")
            elif verb == "RCPT":
                recipients.append(command.split("<", 1)[1].split(">", 1)[0])
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                data = []
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                message = email.message_from_bytes(b"".join(data))
                self.server.messages.append((sender, recipients, message))
                self.reply("250 OK queued")
            elif verb == "QUIT":
                self.reply("221 Bye")
                return
            else:
                self.reply("502 Command not implemented")


def _serve(server: socketserver.BaseServer) -> Iterator:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    yield from _serve(HttpReceiver())


@pytest.fixture
def smtp_receiver() -> Iterator[SmtpReceiver]:
    yield from _serve(SmtpReceiver())


ALERT_VARIABLES = (
    "SCP_ALERT_SLACK_WEBHOOK",
    "SCP_ALERT_WEBHOOK_URL",
    "SCP_ALERT_SMTP_HOST",
    "SCP_ALERT_SMTP_PORT",
    "SCP_ALERT_SMTP_USER",
    "SCP_ALERT_SMTP_PASSWORD",
    "SCP_ALERT_SMTP_FROM",
    "SCP_ALERT_SMTP_TO",
    "SCP_ALERT_SMTP_SECURITY",
    "SCP_DAGSTER_URL",
)


def alert_env(http: HttpReceiver, smtp: SmtpReceiver) -> dict[str, str]:
    return {
        "SCP_ALERT_SLACK_WEBHOOK": http.url(f"/services/{SLACK_SECRET}"),
        "SCP_ALERT_WEBHOOK_URL": http.url("/hooks/dagster"),
        "SCP_ALERT_SMTP_HOST": "127.0.0.1",
        "SCP_ALERT_SMTP_PORT": str(smtp.port),
        "SCP_ALERT_SMTP_USER": "planner-bot",
        "SCP_ALERT_SMTP_PASSWORD": SMTP_PASSWORD,
        "SCP_ALERT_SMTP_FROM": "dagster@example.com",
        "SCP_ALERT_SMTP_TO": "oncall@example.com, planning@example.com",
        "SCP_ALERT_SMTP_SECURITY": "none",
        "SCP_DAGSTER_URL": "http://dagster.example:3000/",
    }


@pytest.fixture(autouse=True)
def no_alert_variables(monkeypatch) -> None:
    """Tests see only the alert variables they set, whatever the developer's shell exports."""
    for name in ALERT_VARIABLES:
        monkeypatch.delenv(name, raising=False)


# -- configuration ---------------------------------------------------------------
def test_settings_read_every_channel_and_hide_secrets(http_receiver, smtp_receiver):
    env = alert_env(http_receiver, smtp_receiver)
    settings = AlertSettings.from_env(env)

    assert set(env) == set(ALERT_VARIABLES)
    assert settings.channels == ["slack", "email", "webhook"]
    assert settings.smtp.recipients == ("oncall@example.com", "planning@example.com")
    assert settings.smtp.port == smtp_receiver.port
    assert settings.run_url("abc") == "http://dagster.example:3000/runs/abc"
    assert SLACK_SECRET not in repr(settings)
    assert SMTP_PASSWORD not in repr(settings)


def test_no_variables_means_no_channels():
    assert AlertSettings.from_env({}).channels == []


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"SCP_ALERT_SMTP_HOST": "mail"}, "SCP_ALERT_SMTP_TO"),
        ({"SCP_ALERT_SMTP_HOST": "mail", "SCP_ALERT_SMTP_PORT": "x"}, "SCP_ALERT_SMTP_PORT"),
        ({"SCP_ALERT_SMTP_HOST": "mail", "SCP_ALERT_SMTP_PORT": "0"}, "SCP_ALERT_SMTP_PORT"),
        (
            {
                "SCP_ALERT_SMTP_HOST": "m",
                "SCP_ALERT_SMTP_TO": "a@b",
                "SCP_ALERT_SMTP_SECURITY": "tls",
            },
            "SCP_ALERT_SMTP_SECURITY",
        ),
        ({"SCP_ALERT_SLACK_WEBHOOK": "hooks.slack.com/x"}, "SCP_ALERT_SLACK_WEBHOOK"),
        ({"SCP_ALERT_WEBHOOK_URL": "ftp://host/x"}, "SCP_ALERT_WEBHOOK_URL"),
        ({"SCP_ALERT_SLACK_WEBHOOK": "https://h/services/T0 more"}, "SCP_ALERT_SLACK_WEBHOOK"),
        ({"SCP_ALERT_WEBHOOK_URL": "http://[x/hook"}, "SCP_ALERT_WEBHOOK_URL"),
    ],
)
def test_bad_configuration_names_the_variable(env, variable):
    with pytest.raises(AlertConfigError, match=variable):
        AlertSettings.from_env(env)


def test_smtp_security_defaults_follow_the_port():
    base = {"SCP_ALERT_SMTP_HOST": "mail", "SCP_ALERT_SMTP_TO": "a@b.c"}
    assert AlertSettings.from_env(base).smtp.security == "starttls"
    assert AlertSettings.from_env({**base, "SCP_ALERT_SMTP_PORT": "465"}).smtp.security == "ssl"
    assert AlertSettings.from_env(base).smtp.sender  # falls back to a dagster@<host> sender


def test_failure_alert_truncates_long_errors_and_names_the_partition():
    alert = failure_alert(
        "ingest_daily", "r1", "Run failed.", [("raw__mseg", "x" * 5000)], "2024-01-05"
    )
    assert alert.title == "Dagster run failed: ingest_daily [2024-01-05]"
    assert len(alert.error) <= 1500
    assert alert.error.startswith("Run failed.\nraw__mseg: xxx")
    assert alert.error.endswith("(truncated)")


# -- delivery ---------------------------------------------------------------
def test_every_channel_receives_the_alert(http_receiver, smtp_receiver):
    settings = AlertSettings.from_env(alert_env(http_receiver, smtp_receiver))
    alert = failure_alert(
        "ingest_daily",
        "run-1",
        "Steps failed.",
        [("raw__mseg", ERROR_TEXT)],
        "2024-01-05",
        settings.run_url("run-1"),
    )

    assert send_alert(settings, alert) == ["slack", "email", "webhook"]

    requests = dict(http_receiver.requests)
    slack = requests[f"/services/{SLACK_SECRET}"]
    assert slack["text"] == "Dagster run failed: ingest_daily [2024-01-05]"
    assert ERROR_TEXT in json.dumps(slack["blocks"])
    assert "http://dagster.example:3000/runs/run-1" in json.dumps(slack["blocks"])
    hook = requests["/hooks/dagster"]
    assert hook["event"] == "dagster_run_failure"
    assert (hook["job_name"], hook["run_id"], hook["partition"]) == (
        "ingest_daily",
        "run-1",
        "2024-01-05",
    )
    assert ERROR_TEXT in hook["error"]

    [(sender, recipients, message)] = smtp_receiver.messages
    assert sender == "dagster@example.com"
    assert recipients == ["oncall@example.com", "planning@example.com"]
    assert message["Subject"] == "Dagster run failed: ingest_daily [2024-01-05]"
    assert ERROR_TEXT in message.get_payload(decode=True).decode()
    assert smtp_receiver.logins == [("planner-bot", SMTP_PASSWORD)]


def test_starttls_is_required_before_sending_a_password(smtp_receiver):
    env = {
        "SCP_ALERT_SMTP_HOST": "127.0.0.1",
        "SCP_ALERT_SMTP_PORT": str(smtp_receiver.port),
        "SCP_ALERT_SMTP_USER": "planner-bot",
        "SCP_ALERT_SMTP_PASSWORD": SMTP_PASSWORD,
        "SCP_ALERT_SMTP_TO": "oncall@example.com",
    }
    settings = AlertSettings.from_env(env)
    with pytest.raises(AlertDeliveryError, match="does not offer STARTTLS") as failure:
        send_email(settings.smtp, failure_alert("plan_weekly", "r", "boom"))
    assert smtp_receiver.logins == [] and smtp_receiver.messages == []
    assert SMTP_PASSWORD not in str(failure.value)


def test_a_failing_channel_is_reported_without_its_secret(http_receiver, smtp_receiver):
    http_receiver.status = 500
    env = alert_env(http_receiver, smtp_receiver)
    settings = AlertSettings.from_env(env)

    with pytest.raises(AlertDeliveryError) as failure:
        send_alert(settings, failure_alert("ingest_daily", "r", ERROR_TEXT))

    message = str(failure.value)
    assert "slack: HTTP 500" in message and "webhook: HTTP 500" in message
    assert "delivered via email" in message
    assert len(smtp_receiver.messages) == 1
    assert SLACK_SECRET not in message and "SECRET" not in message
    assert failure.value.__cause__ is None and failure.value.__context__ is None


def test_an_unreachable_webhook_is_reported_without_its_address(http_receiver):
    port = http_receiver.server_address[1]
    http_receiver.shutdown()
    http_receiver.server_close()
    settings = AlertSettings.from_env(
        {"SCP_ALERT_SLACK_WEBHOOK": f"http://127.0.0.1:{port}/services/{SLACK_SECRET}"}
    )
    with pytest.raises(AlertDeliveryError, match="slack: URLError") as failure:
        send_alert(settings, failure_alert("ingest_daily", "r", ERROR_TEXT))
    assert "SECRET" not in str(failure.value)


def test_a_malformed_webhook_is_reported_without_its_secret_and_the_others_still_sent(
    http_receiver, smtp_receiver
):
    """A Slack URL with a space (pasted with a line break) raised http.client.InvalidURL,
    quoting the URL's token, past `send_alert`: the other channels were never tried."""
    good = alert_env(http_receiver, smtp_receiver)
    settings = replace(
        AlertSettings.from_env(good), slack_webhook=f"https://hooks.slack.com/{SLACK_SECRET} x"
    )
    with pytest.raises(AlertDeliveryError) as failure:
        send_alert(settings, failure_alert("ingest_daily", "r", ERROR_TEXT))
    message = str(failure.value)
    assert "slack: the URL is malformed" in message
    assert "(delivered via email, webhook)" in message
    assert len(smtp_receiver.messages) == 1
    assert "SECRET" not in message


# -- through the real sensor ---------------------------------------------------------------
@dg.op
def load_mseg() -> None:
    raise ValueError(ERROR_TEXT)


@dg.job
def ingest_broken() -> None:
    load_mseg()


def failed_run_context(instance: dg.DagsterInstance) -> dg.RunFailureSensorContext:
    result = ingest_broken.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    return dg.build_run_status_sensor_context(
        sensor_name="run_failure_alerts",
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(),
    ).for_run_failure()


def test_run_failure_sensor_alerts_every_channel(http_receiver, smtp_receiver, monkeypatch):
    for name, value in alert_env(http_receiver, smtp_receiver).items():
        monkeypatch.setenv(name, value)
    with dg.instance_for_test() as instance:
        context = failed_run_context(instance)
        run_id = context.dagster_run.run_id

        run_failure_alerts(context)

    bodies = [json.dumps(body) for _, body in http_receiver.requests]
    assert len(bodies) == 2
    for body in bodies:
        assert "ingest_broken" in body and ERROR_TEXT in body and run_id in body
    [(_, _, message)] = smtp_receiver.messages
    text = message.get_payload(decode=True).decode()
    assert message["Subject"] == "Dagster run failed: ingest_broken"
    assert 'Execution of run for "ingest_broken" failed.' in text
    assert f"load_mseg: ValueError: {ERROR_TEXT}" in text
    assert f"http://dagster.example:3000/runs/{run_id}" in text


@dg.asset(
    check_specs=[dg.AssetCheckSpec("quarantine_share_below_threshold", asset="mseg", blocking=True)]
)
def mseg() -> dg.MaterializeResult:
    because = "3.33% of the rows of the files loaded were rejected (threshold 1.00%)"
    check = dg.AssetCheckResult(passed=False, metadata={"failed_because": because})
    return dg.MaterializeResult(check_results=[check])


def test_a_failed_blocking_check_is_alerted_with_its_reason(http_receiver, monkeypatch):
    """Dagster's failure names a failed blocking check, not why it failed: the alert said
    only `1 blocking asset check failed with ERROR severity: ...`."""
    monkeypatch.setenv("SCP_ALERT_WEBHOOK_URL", http_receiver.url("/hook"))
    with dg.instance_for_test() as instance:
        result = dg.materialize([mseg], instance=instance, raise_on_error=False)
        assert not result.success
        context = dg.build_run_status_sensor_context(
            sensor_name="run_failure_alerts",
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            dagster_event=result.get_run_failure_event(),
        ).for_run_failure()
        run_failure_alerts(context)
    [(_, body)] = http_receiver.requests
    assert body["error"].endswith(
        "mseg quarantine_share_below_threshold: 3.33% of the rows of the files loaded were "
        "rejected (threshold 1.00%)"
    )


def test_run_failure_sensor_without_channels_sends_nothing(http_receiver):
    with dg.instance_for_test() as instance:
        assert run_failure_alerts(failed_run_context(instance)) is None
    assert http_receiver.requests == []


def test_run_failure_sensor_raises_when_delivery_fails(http_receiver, monkeypatch):
    """The sensor machinery records the error on the failed run, so it must hold no secret."""
    http_receiver.status = 403
    monkeypatch.setenv("SCP_ALERT_SLACK_WEBHOOK", http_receiver.url(f"/services/{SLACK_SECRET}"))
    with dg.instance_for_test() as instance, pytest.raises(AlertDeliveryError) as failure:
        run_failure_alerts(failed_run_context(instance))
    assert str(failure.value) == "alert not delivered: slack: HTTP 403 Forbidden"


# -- rejected landing deliveries -----------------------------------------------
def test_rejection_alert_names_each_file_and_its_reason():
    alert = rejection_alert([("XYZ_20240104.csv", "'XYZ_20240104.csv': unknown SAP table")])
    assert alert.title == "SAP delivery rejected: XYZ_20240104.csv"
    assert alert.error == "'XYZ_20240104.csv': unknown SAP table"
    several = rejection_alert([("A.csv", "A.csv: one"), ("B.csv", "B.csv, line 1: two")])
    assert several.title == "2 SAP deliveries rejected"
    assert several.error == "A.csv: one\nB.csv, line 1: two"
    assert webhook_payload(several)["files"] == "A.csv, B.csv"


def test_refusal_alert_names_the_table_each_file_and_what_was_kept():
    alert = refusal_alert("MSEG", [("MSEG_20240102.csv", "10 of 10 rows rejected")])
    assert alert.title == "SAP delivery refused: MSEG_20240102.csv"
    payload = webhook_payload(refusal_alert("MSEG", [("A.csv", "one"), ("B.csv", "two")]))
    assert payload["event"] == "landing_files_refused"
    assert payload["title"] == "2 SAP deliveries of MSEG refused"
    assert (payload["table"], payload["files"]) == ("MSEG", "A.csv, B.csv")
    assert payload["error"] == "A.csv: one\nB.csv: two"
    assert payload["kept"].startswith("each day keeps its previous rows")
    linked = refusal_alert("MSEG", [("A.csv", "one")], "run-1", "http://dagster:3000/runs/run-1")
    assert (linked.url, webhook_payload(linked)["run_id"]) == (
        "http://dagster:3000/runs/run-1",
        "run-1",
    )


def tick_landing_sensor(root: Path) -> dg.SensorResult:
    resources = {
        "landing": LandingZone(path=str(root)),
        "warehouse": WarehouseResource(kind="duckdb", duckdb_path=str(root / "wh.duckdb")),
    }
    with dg.build_sensor_context(instance=dg.DagsterInstance.ephemeral(), resources=resources) as c:
        return landing_sensor(c)


def drop_with_marker(root: Path, name: str, data: bytes) -> None:
    """A file with its `.done` marker: ready at the first tick."""
    incoming = root / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    (incoming / name).write_bytes(data)
    (incoming / f"{name}.done").write_bytes(b"")


def test_landing_sensor_alerts_a_rejected_delivery(http_receiver, tmp_path, monkeypatch):
    monkeypatch.setenv("SCP_ALERT_WEBHOOK_URL", http_receiver.url("/hooks/dagster"))
    drop_with_marker(tmp_path, "XYZ_20240104.csv", b"MATNR;WERKS\r\n1;2\r\n")

    tick_landing_sensor(tmp_path)

    [(path, hook)] = http_receiver.requests
    assert path == "/hooks/dagster"
    assert hook["event"] == "landing_files_rejected"
    assert hook["files"] == "XYZ_20240104.csv"
    assert hook["error"].startswith("'XYZ_20240104.csv': unknown SAP table 'XYZ'; known tables")
    assert [p.name.endswith("XYZ_20240104.csv") for p in (tmp_path / "rejected").iterdir()] == [
        True
    ]


def test_an_undelivered_rejection_alert_does_not_stop_the_good_files(
    http_receiver, tmp_path, monkeypatch
):
    http_receiver.status = 500
    monkeypatch.setenv("SCP_ALERT_WEBHOOK_URL", http_receiver.url("/hooks/dagster"))
    drop_with_marker(tmp_path, "XYZ_20240104.csv", b"MATNR;WERKS\r\n1;2\r\n")
    drop_with_marker(tmp_path, "T001W.csv", b"WERKS;NAME1\r\n1000;Hamburg\r\n")

    result = tick_landing_sensor(tmp_path)

    assert len(http_receiver.requests) == 1  # tried once
    assert [r.asset_selection for r in result.run_requests] == [[dg.AssetKey(["raw", "t001w"])]]
