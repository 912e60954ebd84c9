"""Migrations are frozen: what each one creates is fixed text, whatever the domain's tables or
the current schema's builders become, so a database of any age upgrades the same way. The
current schema is held to the version it belongs to, so a change to it (a new event field, a new
breakdown, a projection) cannot land without a migration of its own.

That an upgraded database equals a fresh one is checked against ClickHouse in tests/test_schema.py.
"""

from __future__ import annotations

import hashlib

import pytest

from campaignreports.schema import MIGRATIONS, Dialect, Migration, current_schema

DIALECTS = {
    "single server": Dialect("reports"),
    "cluster": Dialect("reports", cluster="reports_cluster"),
}
# sha256 of each migration's statements (whitespace collapsed), per dialect. Never update one
# of these to make the test pass: freeze the builders the old migration used instead (as
# schema_v3.py does for versions 2 and 3) and add a migration.
FROZEN = {
    1: {
        "single server": "3a90af006fb49516832fd65d5c8da8523799839f4f04ed9af4c1dd2015c42e2a",
        "cluster": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",  # nothing
    },
    2: {
        "single server": "6b4611f2b9b2d1cd812e61ba63ab08e118f1cd32bdaeeb6b555ed21d9fe72ad5",
        "cluster": "00d9042e1aebe4ccf597a00ea3969d48320a1c954b07050e43eed1d9e8f5882b",
    },
    3: {
        "single server": "3d177230b788f135c087e95e93acc1b398f0fa95cf8208a3a28c82be64ee94b7",
        "cluster": "f900abcf3c2368452a1840a2ae7cf7bedef9f032bbba033d861b6009da9e7ac2",
    },
    4: {
        "single server": "118c86204f5c7b0fa4bed874269ef587a0a89cf17867eb4eac8ff0b7f18f05d5",
        "cluster": "96410f1ed76eb6dcb050c46dc9b427c07e8f0cd4aa57912be01ffed7717eed7a",
    },
    5: {
        "single server": "3bf492a5fafefd47e44ab03c7e927eadd152f7349854ca99538a25eb1edf356d",
        "cluster": "ec223dbed4fed01482b83f27adac1e6b09994526216d87c125eac46919e13fd6",
    },
    6: {
        "single server": "397b43d13adf293ed4ab709d141cbf05ad00c0a135efcaca91740ceac7e3bd40",
        "cluster": "9799d173d5a6699c9499e69eefdf6e4f9f2b43f6f2d9f55f9b0d163474a623ec",
    },
    7: {
        "single server": "1e5037a80045040fcb11dbb8dd82193863070a131b5d875d6f8c83c0a62edc88",
        "cluster": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",  # nothing
    },
    8: {
        "single server": "a6e32169c6f9b7b97b1f9128762491c93b90d50f00689df8d6941ebfeb076a8f",
        "cluster": "efaf0ea077699af361d6d3851c36cc7716fbc21efbcf6c6f6331f93dc40bca28",
    },
    9: {
        "single server": "1138bcda24fada9c4528f6e9aa333860b4d58b69de23f887fea5bf5de01af130",
        "cluster": "d80166bd764bcc0bef27ace0d3fa175438bbc82f8f2f8cbc8c273ba6353bb275",
    },
    10: {
        "single server": "c20cd4f1af381b6952a6c290b4a027530811fb12e8c01b4799a5299ea232aa0c",
        "cluster": "f2d1952be45350178891dfed67bebafb9a73cae3dd0feae12da7a9b3978618e2",
    },
    11: {
        "single server": "820668042cb7dfa2ca4447f1a3729b3db6efdcadefd2d87945bfdc4c89ebf418",
        "cluster": "161f08a38a38d3c3d574420064b8764b7a5744316cf3a2f7d4606e4965e83433",
    },
    12: {
        "single server": "63d2e0f8c867163c77742338f54ab1719dc0b2debff048c82d33c35fb9e54b4e",
        "cluster": "376d7c81f24829d0877db887a342657e399f050cffb95b240e84e0b135612511",
    },
    13: {
        "single server": "05274d3f842532596eeb3dba9699a157bcfcd3d8785a41313d4cc99cc886b780",
        "cluster": "04faf4f1a7df755845b5a7c6a45df95697d219e250b2cd88c24642c6bfe76b57",
    },
}
# The version the current schema is, and the sha256 of its statements. A change to the current
# schema fails here: add the migration bringing the newest version to it, then record the new
# digest under that migration's version.
CURRENT = (
    13,
    {
        "single server": "6d0c700d73f33bd84f347b416b9e4fa94b6a7e28d81d4a2282c05eaf38fd9252",
        "cluster": "4541387245b609786890e78dc8a1efe63059b9696d4bc5eed5cb6d9d32ebd18a",
    },
)


def _text(statements: list[str]) -> str:
    return "\n".join(" ".join(statement.split()) for statement in statements)


@pytest.mark.parametrize("dialect_name", DIALECTS)
@pytest.mark.parametrize("migration", MIGRATIONS, ids=lambda m: f"v{m.version}")
def test_each_migration_creates_what_it_always_created(migration: Migration, dialect_name: str) -> None:
    digest = hashlib.sha256(_text(migration.statements(DIALECTS[dialect_name])).encode()).hexdigest()
    assert digest == FROZEN[migration.version][dialect_name], (
        f"migration {migration.version} now creates something else: migrations are frozen"
    )


def test_every_migration_is_frozen() -> None:
    assert sorted(FROZEN) == [m.version for m in MIGRATIONS]


@pytest.mark.parametrize("dialect_name", DIALECTS)
def test_the_current_schema_is_the_newest_versions(dialect_name: str) -> None:
    version, digests = CURRENT
    assert version == MIGRATIONS[-1].version, "a new migration: record the current schema's digest under it"
    digest = hashlib.sha256(_text(current_schema(DIALECTS[dialect_name])).encode()).hexdigest()
    assert digest == digests[dialect_name], (
        f"the current schema is no longer version {version}'s: add a migration that brings a "
        "database from it to the new schema (tests/test_schema.py checks both end the same)"
    )
