"""Kafka TLS and SASL from :class:`~freshrec.settings.Settings`, as each client library spells it.

One place turns ``FRESHREC_KAFKA_SECURITY_PROTOCOL`` / ``_SASL_MECHANISM`` / ``_SASL_USERNAME`` /
``_SASL_PASSWORD`` / ``_SSL_CAFILE`` into kafka-python keyword arguments (producers, admin clients),
aiokafka keyword arguments (bulk sender) and Faust ``broker_credentials`` (the worker), so a secured
cluster is one set of variables for every process. The password is a ``SecretStr``: it is unwrapped
only here, at the client boundary, and never appears in settings dumps or logs.
"""

from __future__ import annotations

import logging
import ssl
import threading
from typing import Any

from freshrec.settings import Settings

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


_secrets: set[str] = set()
_install_lock = threading.Lock()


def redact_in_logs(secret: str) -> None:
    """Mask ``secret`` in every log record of this process from now on.

    kafka-python logs its whole configuration, SASL password included, at DEBUG (``--verbose``);
    a record factory is the one hook that sees records of every logger before any handler does.
    """
    if not secret or secret in _secrets:
        return
    with _install_lock:
        if not _secrets:
            previous = logging.getLogRecordFactory()

            def factory(*args, **kwargs):
                record = previous(*args, **kwargs)
                try:
                    message = record.getMessage()
                except Exception:  # noqa: BLE001 - a broken record is the logging module's to report
                    return record
                if any(s in message for s in _secrets):
                    for s in _secrets:
                        message = message.replace(s, "***")
                    record.msg, record.args = message, ()
                return record

            logging.setLogRecordFactory(factory)
        _secrets.add(secret)


class KafkaSecurityError(ValueError):
    """The security settings are incomplete or contradictory; the message says which variable to set."""


def _check(settings: Settings) -> None:
    proto = settings.kafka_security_protocol
    if proto.startswith("SASL_") and (not settings.kafka_sasl_username or settings.kafka_sasl_password is None):
        raise KafkaSecurityError(f"FRESHREC_KAFKA_SECURITY_PROTOCOL={proto} needs FRESHREC_KAFKA_SASL_USERNAME "
                                 "and FRESHREC_KAFKA_SASL_PASSWORD")


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """A verifying TLS context (system CAs, or ``kafka_ssl_cafile``) when the protocol uses TLS."""
    if settings.kafka_security_protocol not in ("SSL", "SASL_SSL"):
        return None
    cafile = str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
    try:
        return ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise KafkaSecurityError(f"FRESHREC_KAFKA_SSL_CAFILE={cafile}: cannot load it ({exc})") from None


def kafka_python_config(settings: Settings) -> dict[str, Any]:
    """Extra keyword arguments for kafka-python's KafkaProducer/KafkaConsumer/KafkaAdminClient."""
    _check(settings)
    proto = settings.kafka_security_protocol
    if proto == "PLAINTEXT":
        return {}
    out: dict[str, Any] = {"security_protocol": proto}
    ctx = ssl_context(settings)
    if ctx is not None:
        out["ssl_context"] = ctx
    if proto.startswith("SASL_"):
        password = settings.kafka_sasl_password.get_secret_value()
        redact_in_logs(password)
        out.update(sasl_mechanism=settings.kafka_sasl_mechanism, sasl_plain_username=settings.kafka_sasl_username,
                   sasl_plain_password=password)
    return out


def aiokafka_config(settings: Settings) -> dict[str, Any]:
    """Extra keyword arguments for aiokafka's producer and consumer (same names but the context)."""
    return kafka_python_config(settings)


def faust_credentials(settings: Settings):
    """Faust's ``broker_credentials``: SASL (with TLS for SASL_SSL), TLS alone, or None."""
    import faust

    _check(settings)
    proto = settings.kafka_security_protocol
    ctx = ssl_context(settings)
    if proto.startswith("SASL_"):
        redact_in_logs(settings.kafka_sasl_password.get_secret_value())
        return faust.SASLCredentials(username=settings.kafka_sasl_username,
                                     password=settings.kafka_sasl_password.get_secret_value(),
                                     mechanism=settings.kafka_sasl_mechanism, ssl_context=ctx)
    if proto == "SSL":
        return faust.SSLCredentials(ctx)
    return None
