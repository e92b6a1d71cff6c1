"""Kafka SASL/TLS settings as each client library spells them, and secrets kept out of logs."""

from __future__ import annotations

import logging

import pytest

from freshrec.kafka_security import KafkaSecurityError, faust_credentials, kafka_python_config
from freshrec.settings import Settings


def make(**kw) -> Settings:
    return Settings(**{"kafka_bootstrap": "127.0.0.1:9", "redis_url": "redis://127.0.0.1:9/0", **kw})


def test_plaintext_adds_nothing():
    s = make()
    assert kafka_python_config(s) == {} and faust_credentials(s) is None


def test_sasl_without_credentials_names_the_variables():
    with pytest.raises(KafkaSecurityError, match="FRESHREC_KAFKA_SASL_USERNAME"):
        kafka_python_config(make(kafka_security_protocol="SASL_PLAINTEXT"))


def test_sasl_ssl_gives_sasl_fields_and_a_verifying_tls_context():
    s = make(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="SCRAM-SHA-512",
             kafka_sasl_username="app", kafka_sasl_password="pw-unit-1")
    cfg = kafka_python_config(s)
    assert cfg["security_protocol"] == "SASL_SSL" and cfg["sasl_mechanism"] == "SCRAM-SHA-512"
    assert cfg["sasl_plain_username"] == "app" and cfg["sasl_plain_password"] == "pw-unit-1"
    assert cfg["ssl_context"].verify_mode.name == "CERT_REQUIRED"
    creds = faust_credentials(s)
    assert creds.username == "app" and creds.ssl_context is not None


def test_a_missing_ca_file_is_a_clear_error(tmp_path):
    s = make(kafka_security_protocol="SSL", kafka_ssl_cafile=tmp_path / "nope.pem")
    with pytest.raises(KafkaSecurityError, match="FRESHREC_KAFKA_SSL_CAFILE"):
        kafka_python_config(s)


def test_unknown_protocol_or_mechanism_is_rejected_by_settings():
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        make(kafka_security_protocol="SASL")
    with pytest.raises(ValidationError):
        make(kafka_sasl_mechanism="GSSAPI")


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))


def test_the_password_never_shows_in_settings_dumps_or_log_records():
    s = make(kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_username="app", kafka_sasl_password="pw-unit-2")
    assert "pw-unit-2" not in repr(s) and "pw-unit-2" not in str(s.redacted())
    kafka_python_config(s)  # registers the password for masking
    logger, handler = logging.getLogger("kafka.admin.client"), _Collect()
    logger.addHandler(handler)
    # Other tests may have run a dictConfig that disabled existing loggers; this one is about masking.
    old_level, old_disabled, logger.level, logger.disabled = logger.level, logger.disabled, logging.DEBUG, False
    old_global = logging.root.manager.disable
    logging.disable(logging.NOTSET)
    try:
        logger.debug("config: %s", {"sasl_plain_password": "pw-unit-2"})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        logger.disabled = old_disabled
        logging.disable(old_global)
    assert len(handler.lines) == 1
    assert "pw-unit-2" not in handler.lines[0] and "***" in handler.lines[0]


def test_rediss_urls_give_tls_connections():
    import redis.asyncio as aioredis

    s = make(redis_url="rediss://:pw@127.0.0.1:6380/0?ssl_ca_certs=/etc/ssl/certs/ca-certificates.crt")
    client = aioredis.Redis.from_url(s.writer_url)
    pool = client.connection_pool
    assert pool.connection_class.__name__ == "SSLConnection"
    assert pool.connection_kwargs["ssl_ca_certs"] == "/etc/ssl/certs/ca-certificates.crt"
