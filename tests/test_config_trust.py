"""The trust keys of the three configurations: accepted values, and errors naming file
and key."""

from __future__ import annotations

import pytest

from storalloc.config.loader import (
    ConfigError,
    load_client_config,
    load_orchestrator_config,
    load_server_config,
)
from storalloc.wire.keys import SecurityError, load_public_key


def write(tmp_path, text: str):
    path = tmp_path / "config.yml"
    path.write_text(text)
    return path


def test_defaults_are_the_demo_ones(tmp_path):
    cfg = load_orchestrator_config(write(tmp_path, ""))
    assert (cfg.user_auth, cfg.server_keys, cfg.encrypt_clients) == ("none", "any", False)
    assert cfg.state_dir is None and cfg.reply_queue == 10_000


@pytest.mark.parametrize(
    "loader, text, key",
    [
        (load_orchestrator_config, "user_auth: kerberos\n", "user_auth"),
        (load_orchestrator_config, "server_keys: relative/dir\n", "server_keys"),
        (load_orchestrator_config, "state_dir: state\n", "state_dir"),
        (load_orchestrator_config, "reply_queue: 0\n", "reply_queue"),
        (load_orchestrator_config, "encrypt_clients: maybe\n", "encrypt_clients"),
        (load_server_config, "orchestrator_key: key.pub\n", "orchestrator_key"),
        (load_client_config, "user_auth: yes\n", "user_auth"),
    ],
)
def test_bad_trust_values_name_file_and_key(tmp_path, loader, text, key):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        loader(path)
    assert str(exc.value).startswith(f"{path}: {key}: expected ")


def test_home_relative_paths_are_accepted(tmp_path):
    cfg = load_orchestrator_config(write(tmp_path, "state_dir: ~/st\nserver_keys: /etc/k\n"))
    assert cfg.state_dir == "~/st" and cfg.server_keys == "/etc/k"


def test_missing_orchestrator_key_says_what_to_do(tmp_path):
    with pytest.raises(SecurityError, match="copy the orchestrator's public key"):
        load_public_key(tmp_path / "orchestrator.key")
