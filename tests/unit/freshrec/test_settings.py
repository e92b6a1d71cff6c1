from __future__ import annotations

import json

from freshrec.settings import Settings, redact_url


def test_env_overrides_stack_file(tmp_path, monkeypatch):
    stack = tmp_path / "stack"
    stack.mkdir()
    (stack / "stack.json").write_text(json.dumps({"kafka_bootstrap": "127.0.0.1:1111",
                                                  "redis_url": "redis://:pw@127.0.0.1:2222/0"}))
    monkeypatch.setenv("FRESHREC_STACK_DIR", str(stack))
    monkeypatch.delenv("FRESHREC_KAFKA_BOOTSTRAP", raising=False)
    monkeypatch.delenv("FRESHREC_REDIS_URL", raising=False)
    s = Settings()
    assert s.kafka_bootstrap == "127.0.0.1:1111"
    assert s.redis_url.endswith(":2222/0")
    monkeypatch.setenv("FRESHREC_KAFKA_BOOTSTRAP", "broker:9092")
    assert Settings().kafka_bootstrap == "broker:9092"


def test_defaults_without_stack_file(tmp_path, monkeypatch):
    monkeypatch.setenv("FRESHREC_STACK_DIR", str(tmp_path / "none"))
    monkeypatch.delenv("FRESHREC_KAFKA_BOOTSTRAP", raising=False)
    monkeypatch.setenv("FRESHREC_TOPIC_PARTITIONS", "8")
    s = Settings()
    assert s.kafka_bootstrap == "127.0.0.1:9092"
    assert s.topic_partitions == 8


def test_redact_url_masks_secrets():
    assert redact_url("redis://:s3cret@h:1/0") == "redis://:***@h:1/0"
    assert redact_url("rediss://writer:s3cret@h:1/0") == "rediss://writer:***@h:1/0"
    assert redact_url("redis://h:1/0") == "redis://h:1/0"
    assert "s3cret" not in json.dumps(Settings(redis_url="redis://:s3cret@h:1/0").redacted())


def test_repr_masks_secrets_so_stack_dumps_with_locals_cannot_leak_them():
    s = Settings(redis_url="redis://:s3cret@h:1/0", redis_write_url="redis://freshrec-writer:w5ecret@h:1/0")
    assert "s3cret" not in repr(s) and "w5ecret" not in repr(s) and "s3cret" not in str(s)
    assert "redis://:***@h:1/0" in repr(s)
