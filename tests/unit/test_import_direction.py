"""The tree shows the data path: producers -> Kafka -> streams -> models -> Redis -> serving.

Rule, checked on every ``.py`` file of the packages by parsing it (``ast``), imports inside functions and
``"package.module:attr"`` factory strings included:

* ``contracts`` imports no stage and nothing of ``freshrec``: it is what the stages agree on.
* ``producers`` imports only ``contracts``.
* ``models`` (the model library) imports only ``contracts``.
* ``streams`` imports ``contracts`` and ``models``: the stream drives the models, never the reverse.
* ``serving`` imports only ``contracts``: it reads what the stream wrote, through the key schema.
* Any stage may also import the umbrella package's leaf modules (:data:`LEAVES`), which import no stage
  and no other ``freshrec`` module but leaves (checked here too). The rest of ``freshrec`` (the CLI, the
  stack manager, benchmarks, docs) may import everything, and no stage may import it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STAGES = ("producers", "streams", "models", "serving")
ALLOWED: dict[str, frozenset[str]] = {
    "contracts": frozenset(),
    "producers": frozenset({"contracts"}),
    "models": frozenset({"contracts"}),
    "streams": frozenset({"contracts", "models"}),
    "serving": frozenset({"contracts"}),
}
#: freshrec modules any stage may import: settings, Kafka client security options, progress bars, the
#: library version check, and the Redis / Redis Cluster client factory.
LEAVES = frozenset({"freshrec.settings", "freshrec.kafka_security", "freshrec.progress", "freshrec.versions",
                    "freshrec.redis_url"})
OURS = frozenset({*ALLOWED, "freshrec"})
_FACTORY = re.compile(r"((?:contracts|producers|streams|models|serving|freshrec)(?:\.\w+)+):\w+")


def imports(path: Path, root: Path = ROOT, factories: bool = True) -> list[tuple[int, str]]:
    """``(line, module)`` of every import of one of our packages in a file, wherever it sits; with
    ``factories``, also every ``"package.module:attr"`` string (what ``importlib`` loads by name)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = path.relative_to(root).parts[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the file's package
                base = ".".join([*package[: len(package) - node.level + 1], *([base] if base else [])])
            for alias in node.names:
                # ``from freshrec import settings`` and ``from .. import streams`` import modules by name
                named = f"{base}.{alias.name}" if base else alias.name
                found.append((node.lineno, named if node.module is None or named in LEAVES else base))
        elif factories and isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and (m := _FACTORY.fullmatch(node.value)):
            found.append((node.lineno, m.group(1)))
    return [(line, mod) for line, mod in dict.fromkeys(found) if mod.split(".")[0] in OURS]


def why_not(package: str, module: str, imported: str) -> str | None:
    """Why ``module`` (in ``package``) may not import ``imported``; None when it may."""
    top = imported.split(".")[0]
    if package == "freshrec":
        if module not in LEAVES or (top == "freshrec" and imported in LEAVES) or top == "contracts":
            return None
        return "a leaf of freshrec imports no stage and no freshrec module but leaves"
    if top == package or top in ALLOWED[package]:
        return None
    if top == "freshrec":
        if package != "contracts" and imported in LEAVES:
            return None
        return (f"a stage imports only freshrec's leaves ({', '.join(sorted(LEAVES))}); if this module "
                "imports no stage, add it to LEAVES in tests/unit/test_import_direction.py"
                if package != "contracts" else "contracts imports nothing of freshrec")
    return f"{package} may import only {', '.join(sorted(ALLOWED[package])) or 'no other package of ours'}"


def violations(root: Path = ROOT) -> list[str]:
    bad = []
    for package in (*ALLOWED, "freshrec"):
        for path in sorted((root / package).rglob("*.py")):
            module = ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
            # A factory string in freshrec (settings' default recommender) is data: the stage that
            # loads it by name is checked for it.
            for line, imported in imports(path, root, factories=package != "freshrec"):
                if (reason := why_not(package, module, imported)) is not None:
                    bad.append(f"{path.relative_to(root)}:{line} imports {imported}: {reason}")
    return bad


def test_every_stage_imports_only_what_comes_before_it():
    bad = violations()
    assert not bad, "imports against the data path:\n" + "\n".join(bad)


def test_the_walk_sees_every_package():
    for package in (*ALLOWED, "freshrec"):
        assert (ROOT / package / "__init__.py").is_file(), package


@pytest.mark.parametrize("source, expected", [
    ("from producers.kafka_out import EventProducer", "models/x.py:1 imports producers.kafka_out"),
    ("def f():\n    import serving.client", "models/x.py:2 imports serving.client"),
    ("from freshrec.stack.manager import Stack", "models/x.py:1 imports freshrec.stack.manager"),
    ('FACTORY = "streams.worker:main"', "models/x.py:1 imports streams.worker"),
    ("from .. import streams", "models/x.py:1 imports streams"),
])
def test_a_forbidden_import_is_reported(tmp_path, source, expected):
    for package in (*ALLOWED, "freshrec"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "models" / "x.py").write_text(source + "\n")
    (tmp_path / "freshrec" / "settings.py").write_text("import os\n")
    (tmp_path / "models" / "ok.py").write_text("from contracts.events import Event\nfrom freshrec.settings import Settings\n")
    assert [v.split(": ")[0] for v in violations(tmp_path)] == [expected]
