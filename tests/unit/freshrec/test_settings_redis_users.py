"""The ACL users' URLs fall back to redis_url, and never point at another server than redis_url."""

from __future__ import annotations

from freshrec.settings import Settings


def test_reader_and_writer_default_to_redis_url(monkeypatch, tmp_path):
    monkeypatch.setenv("FRESHREC_STACK_DIR", str(tmp_path))
    s = Settings(redis_url="redis://:pw@h:1/0")
    assert s.reader_url == s.writer_url == "redis://:pw@h:1/0"


def test_users_on_the_same_server_are_used(monkeypatch, tmp_path):
    monkeypatch.setenv("FRESHREC_STACK_DIR", str(tmp_path))
    s = Settings(redis_url="redis://:pw@h:1/0", redis_read_url="redis://r:rp@h:1/0",
                 redis_write_url="redis://w:wp@h:1/0")
    assert s.reader_url == "redis://r:rp@h:1/0"
    assert s.writer_url == "redis://w:wp@h:1/0"


def test_users_of_another_server_are_ignored(monkeypatch, tmp_path):
    # e.g. FRESHREC_REDIS_URL set to a remote Redis while the stack file still names the local one
    monkeypatch.setenv("FRESHREC_STACK_DIR", str(tmp_path))
    s = Settings(redis_url="redis://:pw@remote:6379/0", redis_read_url="redis://r:rp@127.0.0.1:1/0")
    assert s.reader_url == "redis://:pw@remote:6379/0"


def test_redacted_masks_user_passwords(monkeypatch, tmp_path):
    monkeypatch.setenv("FRESHREC_STACK_DIR", str(tmp_path))
    s = Settings(redis_url="redis://:pw@h:1/0", redis_read_url="redis://r:secret@h:1/0")
    assert "secret" not in str(s.redacted())


def test_stack_file_provides_the_user_urls(monkeypatch, tmp_path):
    import json

    for var in ("FRESHREC_REDIS_URL", "FRESHREC_REDIS_READ_URL", "FRESHREC_REDIS_WRITE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("FRESHREC_STACK_DIR", str(tmp_path))
    (tmp_path / "stack.json").write_text(json.dumps({
        "kafka_bootstrap": "127.0.0.1:1", "redis_url": "redis://:a@127.0.0.1:2/0",
        "redis_read_url": "redis://freshrec-reader:r@127.0.0.1:2/0",
        "redis_write_url": "redis://freshrec-writer:w@127.0.0.1:2/0"}))
    s = Settings()
    assert s.reader_url == "redis://freshrec-reader:r@127.0.0.1:2/0"
    assert s.writer_url == "redis://freshrec-writer:w@127.0.0.1:2/0"
