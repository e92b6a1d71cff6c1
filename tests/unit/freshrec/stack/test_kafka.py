import base64
import uuid

from freshrec.stack import kafka


def test_cluster_id_never_starts_with_a_dash(monkeypatch):
    # 16 bytes whose url-safe base64 begins with "-" (0xF8 >> 2 == 62), then ordinary ones.
    draws = iter([uuid.UUID(bytes=b"\xf8" + bytes(15)), uuid.UUID(bytes=b"\x10" * 16)])
    monkeypatch.setattr(kafka.uuid, "uuid4", lambda: next(draws))
    assert base64.urlsafe_b64encode(b"\xf8" + bytes(15)).decode().startswith("-")
    cid = kafka.cluster_id()
    assert not cid.startswith("-")
    assert len(cid) == 22 and "=" not in cid


def test_cluster_ids_are_kafka_uuid_text():
    for _ in range(500):
        cid = kafka.cluster_id()
        assert not cid.startswith("-")
        assert len(base64.urlsafe_b64decode(cid + "==")) == 16
