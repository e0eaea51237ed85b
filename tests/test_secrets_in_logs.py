"""No secret in any log line (issue 10 finding 6): the access log wrote whole URLs, so `?token=`
and feedback `t=` values landed in it, and the JSON API took `?token=` and never dropped it.

One session with every secret set (every `SecretStr` setting, found from the Settings model, so a
secret added later is covered without an edit here) runs `hindsight serve` at DEBUG and gunicorn
with deploy/gunicorn.conf.py and an access log naming the credential headers, drives requests
that carry the secrets (as valid and as wrong credentials, in queries, headers and paths), a
signed delivery and an ingest, then greps everything any of it printed, and what the operator
commands show of the stored deliveries, for each secret in each spelling.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from pydantic import SecretStr

from hindsight.config import Settings, env_name, load_settings
from hindsight.logs import SecretRedactor
from hindsight.net import free_port
from plugin.jira.signature import sign
from plugin.lessons.signing import FeedbackSigner

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DELIVERY = {
    "webhookEvent": "jira:issue_updated",
    "timestamp": 1_700_000_000_000,
    "issue": {"id": "10001", "key": "OPS-1", "fields": {"summary": "a change"}},
}


def _secret_fields() -> list[str]:
    return [
        name
        for name, field in Settings.model_fields.items()
        if "SecretStr" in str(field.annotation)
    ]


def _secret_environment(tmp_path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """HINDSIGHT_* settings with every secret set, and each secret value by setting name."""
    values: dict[str, str] = {}
    for name in _secret_fields():
        value = f"{name.replace('_', '')}-{secrets.token_hex(8)}+/="  # needs URL-encoding
        values[name] = f"jira-dc:{value}" if name == "webhook_basic_auth" else value
    jira_port = free_port()  # nothing listens: Jira calls fail, and are logged
    settings = {
        "db": str(tmp_path / "hindsight.db"),
        "jira_url": f"http://127.0.0.1:{jira_port}",
        "jira_email": "bot@example.com",
        "log_level": "DEBUG",
        "max_attempts": "1",
        "public_url": "http://127.0.0.1:1",
    } | values
    environ = {env_name(name): value for name, value in settings.items()}
    load_settings(environ=environ)  # every secret is a valid setting together
    return environ, values


def _spellings(value: str) -> set[str]:
    return {
        value,
        quote(value, safe=""),
        quote_plus(value),
        base64.b64encode(value.encode()).decode(),
    }


class _KeepRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs) -> None:  # the 302 itself is the answer
        return None


_NO_REDIRECTS = urllib.request.build_opener(_KeepRedirects)


def _request(
    base: str, path: str, *, body: bytes | None = None, headers: dict[str, str] | None = None
) -> int:
    request = urllib.request.Request(base + path, data=body, headers=headers or {})
    try:
        with _NO_REDIRECTS.open(request, timeout=30) as response:  # loopback only
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _wait_until_up(base: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server stopped: {process.communicate()}")
        try:
            if _request(base, "/healthz") == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the server did not come up within 60 s")


def _drive(base: str, values: dict[str, str]) -> None:
    """Requests that carry every secret, valid and wrong, in queries, headers and paths."""
    web_token = values["web_token"]
    body = json.dumps(DELIVERY).encode()
    signature = sign(body, values["webhook_secret"])
    json_type = {"Content-Type": "application/json"}
    basic = base64.b64encode(values["webhook_basic_auth"].encode()).decode()
    signer = FeedbackSigner(values["feedback_secret"])
    link_token = signer.sign("OPS-1", "L1", "helpful")

    assert _request(base, f"/lessons?token={quote(web_token)}") == 302  # to the cookie
    assert _request(base, f"/api/lessons/stats?token={quote(web_token)}") == 401
    auth = {"Authorization": f"Bearer {web_token}"}
    assert _request(base, "/api/lessons/stats", headers=auth) == 200
    assert _request(base, f"/lessons/feedback?t={quote(link_token)}", headers=auth) == 200
    for name, value in list(values.items()):  # each secret as a wrong credential, everywhere
        assert _request(base, f"/lessons?token={quote(value)}&t={quote(value)}") in {302, 401}
        assert _request(base, f"/lessons/{quote(value, safe='')}", headers=auth) in {404, 200}
        wrong = {"Authorization": f"Bearer {value}", "X-Hindsight-Token": value} | json_type
        wrong["X-Atlassian-Webhook-Identifier"] = f"wrong-{name}"
        expected = 202 if name == "automation_token" else 401  # that one is right here
        assert _request(base, "/webhooks/jira", body=body, headers=wrong) == expected, name
    deliveries = [
        {"X-Hub-Signature": signature},
        {"X-Hindsight-Token": values["automation_token"]},
        {"Authorization": f"Basic {basic}"},
    ]
    for number, headers in enumerate(deliveries):
        ident = {"X-Atlassian-Webhook-Identifier": f"delivery-{number}"}
        status = _request(base, "/webhooks/jira", body=body, headers=headers | ident | json_type)
        assert status == 202
    url_token = quote(values["webhook_url_token"])
    ident = {"X-Atlassian-Webhook-Identifier": "delivery-url-token"} | json_type
    assert _request(base, f"/webhooks/jira?token={url_token}", body=body, headers=ident) == 202
    values["feedback link"] = link_token  # only ever sent as t=: grep for it as well
    guess = f"guess-{secrets.token_hex(8)}"  # a credential nobody configured: redacted anyway
    headers = {"Authorization": f"Bearer {guess}", "X-Hindsight-Token": guess} | json_type
    assert _request(base, f"/webhooks/jira?token={guess}", body=body, headers=headers) == 401
    assert _request(base, f"/api/lessons/stats?token={guess}&t={guess}") == 401
    values["unconfigured guess"] = guess


@pytest.fixture
def session(tmp_path: Path) -> Iterator[tuple[dict[str, str], dict[str, str]]]:
    environ, values = _secret_environment(tmp_path)
    base_environ = {k: v for k, v in os.environ.items() if not k.startswith("HINDSIGHT_")}
    yield base_environ | environ | {"HF_HUB_OFFLINE": "1"}, values


def _run_server(command: list[str], environ: dict[str, str], base: str, values: dict[str, str]):
    process = subprocess.Popen(
        command, env=environ, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        _wait_until_up(base, process)
        _drive(base, values)
        time.sleep(1.0)  # the workers take the deliveries (and fail to reach Jira)
    finally:
        process.send_signal(signal.SIGINT if "serve" in command else signal.SIGTERM)
        try:
            out, err = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
    return out + err


def _assert_no_secret(output: str, values: dict[str, str]) -> None:
    for name, value in values.items():
        for spelling in _spellings(value):
            assert spelling not in output, f"{name} ({spelling}) is in the output"
    password = values["webhook_basic_auth"].partition(":")[2]
    assert password not in output


@pytest.mark.real_model
def test_a_session_with_every_secret_set_logs_none_of_them(session, tmp_path: Path) -> None:
    environ, values = session
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    served = _run_server(
        [str(BIN / "hindsight"), "serve", "--port", str(port)], environ, base, values
    )
    assert "GET /lessons?token=[redacted]" in served  # the access log is there, redacted
    assert "/webhooks/jira?token=[redacted]" in served

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    gunicorn_environ = environ | {
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "1",
        "GUNICORN_ACCESSLOG": "-",
        "HINDSIGHT_LOG_FORMAT": "text",
        "HINDSIGHT_DB": str(tmp_path / "gunicorn.db"),  # the same deliveries, new again
    }
    access_format = '%(r)s %(s)s "%(f)s" %({authorization}i)s %({x-hindsight-token}i)s %(q)s'
    gunicorn = [str(BIN / "gunicorn"), "-c", str(ROOT / "deploy" / "gunicorn.conf.py")]
    gunicorn += ["--access-logformat", access_format, "hindsight.wsgi:create_app()"]
    logged = _run_server(gunicorn, gunicorn_environ, base, values)
    assert "GET /lessons?token=[redacted]" in logged and "Bearer" not in logged

    retro = tmp_path / "retro.md"
    retro.write_text(f"# Retro\n\n## Lessons learned\n\n- Rotate {values['web_token'][:4]} keys.\n")
    cli = [str(BIN / "hindsight")]
    shown = [
        subprocess.run([*cli, *args], env=environ, cwd=tmp_path, capture_output=True, text=True)
        for args in (
            ["ingest", str(retro)],
            ["deliveries", "list"],
            ["deliveries", "show", "delivery-url-token", "--body"],
            ["deliveries", "show", "delivery-2", "--body"],
            ["audit"],
        )
    ]
    assert all(run.returncode == 0 for run in shown), [run.stderr for run in shown]
    everything = served + logged + "".join(run.stdout + run.stderr for run in shown)
    assert "url-token" in everything and "basic" in everything  # the deliveries were shown

    _assert_no_secret(everything, values)


def test_the_json_api_refuses_a_token_in_the_url(tmp_path: Path) -> None:
    from hindsight.wiring import Config
    from hindsight.wsgi import create_app

    settings = load_settings(
        environ={},
        overrides={"db": tmp_path / "h.db", "web_token": ["s3cret"], "allow_unsigned": True},
    )
    client = create_app(Config(settings), test_config={"TESTING": True}).test_client()

    refused = client.get("/api/lessons/stats?token=s3cret")

    assert refused.status_code == 401
    assert "Authorization: Bearer" in refused.get_data(as_text=True)
    assert (
        client.get("/api/lessons/stats", headers={"Authorization": "Bearer s3cret"}).status_code
        == 200
    )


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        (
            '"GET /lessons?q=a&token=abc%2B HTTP/1.1" 302',
            '"GET /lessons?q=a&token=[redacted] HTTP/1.1" 302',
        ),
        ("/lessons/feedback?t=eyJ.mac&x=1", "/lessons/feedback?t=[redacted]&x=1"),
        ("Referer: https://h/x?T=abc", "Referer: https://h/x?T=[redacted]"),
        ("attempt=3 at=4 format=json", "attempt=3 at=4 format=json"),
        ("key s3cr+t and s3cr%2Bt", "key [redacted] and [redacted]"),
    ],
)
def test_the_redactor_blanks_credential_parameters_and_configured_secrets(
    line: str, shown: str
) -> None:
    assert SecretRedactor(["s3cr+t"])(line) == shown


def test_every_secret_setting_is_a_secret_value() -> None:
    environ, values = _secret_environment(Path("/nonexistent"))
    settings = load_settings(environ=environ)

    assert set(settings.secret_values()) >= set(values.values())
    assert all(isinstance(getattr(settings, name), SecretStr | list) for name in values)


@pytest.mark.postgres
def test_the_postgresql_password_reaches_no_output(postgres_server, tmp_path: Path) -> None:
    """From HINDSIGHT_DB_PASSWORD_FILE or in the URL, at DEBUG: a worker's run, the operator
    commands, a wrong password and a server out of reach print none of its spellings."""
    from hindsight.wiring import load_config

    password = f"pg-{secrets.token_hex(8)}+/="
    url = postgres_server.create_password_user(password)
    secret = tmp_path / "postgres-password"
    secret.write_text(password + "\n")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HINDSIGHT_")} | {
        "HF_HUB_OFFLINE": "1",
        "HINDSIGHT_DB": url,
        "HINDSIGHT_DB_PASSWORD_FILE": str(secret),
        "HINDSIGHT_QUEUE": f"sqlite:///{tmp_path / 'queue.db'}",
        "HINDSIGHT_LOG_LEVEL": "DEBUG",
        "HINDSIGHT_LOG_FORMAT": "text",
    }
    config = load_config(environ=environ)
    hindsight = str(BIN / "hindsight")

    worker = subprocess.Popen(
        [hindsight, "worker"], env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    output = [repr(config), repr(config._settings), str(config.lessons), str(config.kb)]
    for args in (["deliveries", "list"], ["deliveries", "replay", "--all-dead"]):
        run = subprocess.run([hindsight, *args], env=environ, capture_output=True, text=True)
        output.append(run.stdout + run.stderr)
    time.sleep(3)  # the worker migrates, recovers and beats
    worker.send_signal(signal.SIGINT)
    output.append(worker.communicate(timeout=30)[0].decode())
    assert "worker started" in output[-1], output[-1]

    wrong = tmp_path / "wrong-password"
    wrong.write_text(f"{password}-wrong\n")
    refused = environ | {"HINDSIGHT_DB_PASSWORD_FILE": str(wrong)}
    unreachable = environ | {"HINDSIGHT_DB": url.replace("@", f":{quote(password, safe='')}@")}
    unreachable["HINDSIGHT_DB"] = unreachable["HINDSIGHT_DB"].replace(
        f":{postgres_server.port}/", ":1/"
    )
    del unreachable["HINDSIGHT_DB_PASSWORD_FILE"]
    for failing in (refused, unreachable):
        run = subprocess.run(
            [hindsight, "deliveries", "list"], env=failing, capture_output=True, text=True
        )
        assert run.returncode == 1 and "cannot reach the PostgreSQL database" in run.stderr
        output.append(run.stdout + run.stderr)

    everything = "\n".join(output)
    assert "***@127.0.0.1" in everything  # the URL is shown, its password hidden
    for spelling in _spellings(password) | {quote(password, safe="")}:
        assert spelling not in everything, spelling
