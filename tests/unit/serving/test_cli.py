"""``freshrec serve``'s refusals: bad settings end in one clear line naming what to set, never a traceback."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from freshrec.cli import app


@pytest.mark.parametrize("env, says", [
    ({"FRESHREC_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"}, "FRESHREC_KAFKA_SASL_USERNAME"),
    ({"FRESHREC_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "FRESHREC_KAFKA_SASL_USERNAME": "u"},
     "FRESHREC_KAFKA_SASL_PASSWORD"),
    ({"FRESHREC_KAFKA_SECURITY_PROTOCOL": "SSL", "FRESHREC_KAFKA_SSL_CAFILE": "/nonexistent/ca.pem"},
     "FRESHREC_KAFKA_SSL_CAFILE"),
    ({"FRESHREC_KAFKA_SECURITY_PROTOCOL": "KERBEROS"}, "FRESHREC_KAFKA_SECURITY_PROTOCOL"),
])
def test_incomplete_kafka_security_is_a_clear_error(monkeypatch, env, says):
    for name in ("FRESHREC_KAFKA_SASL_USERNAME", "FRESHREC_KAFKA_SASL_PASSWORD", "FRESHREC_KAFKA_SSL_CAFILE"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(app, ["serve", "--port", "0"], env=env)
    assert result.exit_code == 2, result.output
    assert says in result.output and "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
