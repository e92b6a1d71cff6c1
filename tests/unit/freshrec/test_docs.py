"""The reference docs are generated from the code; this fails when someone changes one without the other."""

from __future__ import annotations

from freshrec.docs_gen import ROOT, configuration_md, schemas_md
from freshrec.settings import ENV_PREFIX, Settings


def test_configuration_reference_is_current():
    text = (ROOT / "docs" / "configuration.md").read_text()
    assert text == configuration_md(), "run `python -m freshrec.docs_gen` and commit docs/"
    for name in Settings.model_fields:
        assert f"`{ENV_PREFIX}{name.upper()}`" in text


def test_schemas_doc_is_current():
    text = (ROOT / "docs" / "schemas.md").read_text()
    assert text == schemas_md(), "run `python -m freshrec.docs_gen` and commit docs/"
    assert "rec:user:{user}" in text and '"event_id"' in text
