"""The worker's data directory after clean and unclean stops."""

from __future__ import annotations

from monitor.agents.cli import CLEAN_MARK, prepare_data_dir
from monitor.settings import Settings


def test_unclean_stop_empties_the_rocksdb_data_dir(tmp_path):
    s = Settings(data_dir=tmp_path / "d", store="rocksdb://")
    assert prepare_data_dir(s) is False  # new
    (s.data_dir / "monitor-data").mkdir()
    (s.data_dir / "monitor-data" / "x.sst").write_text("x")
    assert prepare_data_dir(s) is True  # no clean-stop mark: rebuilt from the changelog
    assert list(s.data_dir.iterdir()) == []


def test_clean_stop_keeps_the_data_dir(tmp_path):
    s = Settings(data_dir=tmp_path / "d", store="rocksdb://")
    prepare_data_dir(s)
    (s.data_dir / "tables").mkdir()
    (s.data_dir / CLEAN_MARK).write_text("ok")
    assert prepare_data_dir(s) is False
    assert (s.data_dir / "tables").exists() and not (s.data_dir / CLEAN_MARK).exists()
