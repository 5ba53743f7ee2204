"""`gateway doctor` tells the truth as the service sees it (issue 13.9): the data dir judged
as the unit's User=, never created; an unknown NTP state, a clock behind the store and an
empty sync.url are not passes; the token hint names where the token goes."""

from __future__ import annotations

import datetime
import importlib.util
import os
import pwd
import shutil
import tempfile
from pathlib import Path

import pytest

from gateway.config import load_config
from gateway.ops.doctor import (
    ServiceUser,
    _unit_user,
    check_clock,
    check_data_dir,
    check_mic,
    check_uplink,
)
from tests.support import write_config

NOBODY = pwd.getpwnam("nobody")
AS_NOBODY = ServiceUser("nobody", NOBODY.pw_uid, frozenset({NOBODY.pw_gid}))


def _config(tmp_path, data_dir, extra=""):
    return load_config(write_config(tmp_path / "c.toml", gateway_id="gw-doc",
                                    data_dir=data_dir, port=1883, extra=extra))


@pytest.mark.skipif(os.geteuid() != 0, reason="needs a folder the service user cannot write")
def test_storage_is_judged_as_the_service_user_not_as_root(tmp_path):
    # pytest's tmp_path sits in a folder only root may enter: doctor must say so
    entered = check_data_dir(_config(tmp_path, tmp_path), AS_NOBODY)
    assert not entered.ok and "cannot be entered by nobody" in entered.detail
    top = Path(tempfile.mkdtemp())  # in the system's shared temp folder
    try:
        os.chmod(top, 0o755)
        data_dir = top / "data"
        data_dir.mkdir(mode=0o755)  # root's, as `sudo mkdir` leaves it
        check = check_data_dir(_config(tmp_path, data_dir), AS_NOBODY)
        assert not check.ok and "not writable by nobody" in check.detail
        assert "chown" in check.fix and "install -d" in check.fix
        os.chown(data_dir, NOBODY.pw_uid, NOBODY.pw_gid)
        assert check_data_dir(_config(tmp_path, data_dir), AS_NOBODY).ok
        assert not list(data_dir.iterdir())  # nothing made, not even a probe file
    finally:
        shutil.rmtree(top)


def test_a_missing_data_dir_fails_and_is_not_created(tmp_path):
    data_dir = tmp_path / "missing"
    check = check_data_dir(_config(tmp_path, data_dir), AS_NOBODY)
    assert not check.ok and "does not exist" in check.detail
    assert not data_dir.exists()


def test_the_service_user_comes_from_the_installed_unit(tmp_path):
    if shutil.which("systemctl"):
        pytest.skip("systemctl answers for the unit here")
    (tmp_path / "sensor-gateway.service").write_text("[Service]\nUser=sensor-gateway\n")
    assert _unit_user([tmp_path]) == "sensor-gateway"


def test_an_unknown_ntp_state_or_a_clock_behind_the_store_is_not_a_pass():
    now = datetime.datetime(2027, 1, 1, tzinfo=datetime.UTC)
    assert not check_clock(now=now, ntp_state=lambda: None).ok
    behind = check_clock(now=now, ntp_state=lambda: "yes",
                         last_receipt=int(now.timestamp() * 1000) + 3_600_000)
    assert not behind.ok and "went backwards" in behind.detail
    assert check_clock(now=now, ntp_state=lambda: "yes",
                       last_receipt=int(now.timestamp() * 1000) - 5_000).ok


def test_an_empty_sync_url_is_not_a_pass(tmp_path):
    check = check_uplink(_config(tmp_path, tmp_path))
    assert not check.ok and "sync.url is empty" in check.detail


def test_the_token_hint_names_the_credential_file_and_the_install_guide(tmp_path, monkeypatch):
    monkeypatch.delenv("GATEWAY_SYNC_TOKEN", raising=False)
    check = check_uplink(_config(tmp_path, tmp_path, '[sync]\nurl = "http://127.0.0.1:9"\n'))
    assert not check.ok
    assert "credentials/sync-token" in check.fix and "docs/install.md" in check.fix


def test_an_enabled_microphone_is_checked(tmp_path):
    assert check_mic(_config(tmp_path, tmp_path)) is None  # disabled: no check
    if importlib.util.find_spec("pyaudio") is not None:
        pytest.skip("PyAudio is installed here")
    check = check_mic(_config(tmp_path, tmp_path, "[mic]\nenabled = true\n"))
    assert not check.ok and "--mic" in check.detail + check.fix
