"""The keys file: keys made and revoked through ``eligibility serve``, only hashes stored, bad files refused."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from eligibility.cli import main
from eligibility.service.keys import KeyFileError, KeyStore, hash_key


def test_new_key_and_revoke_through_the_command(tmp_path: Path) -> None:
    keys = tmp_path / "keys.yaml"
    out = io.StringIO()
    assert main(["serve", "--keys", str(keys), "--new-key", "huaibei-pms"], out=out) == 0
    key = next(line for line in out.getvalue().splitlines() if line.startswith("elig_"))
    text = keys.read_text(encoding="utf-8")
    assert key not in text and hash_key(key) in text
    assert os.stat(keys).st_mode & 0o077 == 0  # owner only
    assert main(["serve", "--keys", str(keys), "--new-key", "huaibei-pms"], out=io.StringIO()) == 0
    store = KeyStore.load(keys)
    entry = store.find(key)
    assert entry is not None and entry.system == "huaibei-pms" and len(store.entries) == 2
    assert store.find(key + "x") is None and store.find("") is None
    assert main(["serve", "--keys", str(keys), "--revoke-key", hash_key(key)[:10]], out=io.StringIO()) == 0
    store = KeyStore.load(keys)
    assert store.find(key) is None and len(store.entries) == 1
    assert main(["serve", "--keys", str(keys), "--revoke-key", "zz"], out=io.StringIO()) == 1
    assert main(["serve", "--keys", str(keys), "--new-key", "no spaces allowed"], out=io.StringIO()) == 1


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("keys: {}\n", "keys:"),
        ("keys:\n  - system: a\n    sha256: abc\n", "sha256"),
        ("keys:\n  - system: a b\n    sha256: " + "a" * 64 + "\n", "system"),
        ("keys:\n  - system: a\n    sha256: " + "a" * 64 + "\n    rate: 5\n", "unknown keys"),
        ("keys:\n  - system: a\n    sha256: " + "a" * 64 + "\n    burst: 0\n", "burst"),
        ("keys: [\n", "cannot read"),
    ],
)
def test_a_bad_keys_file_is_refused_with_the_entry_named(tmp_path: Path, text: str, says: str) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text(text, encoding="utf-8")
    with pytest.raises(KeyFileError, match=says):
        KeyStore.load(keys)
    # and the service does not start on it
    assert main(["serve", "--keys", str(keys), "--port", "1"], out=io.StringIO()) == 1
