"""The worker's data directory after clean and unclean stops: kept either way (the store's writes are atomic)."""

from __future__ import annotations

from monitor.agents.cli import CLEAN_MARK, prepare_data_dir
from monitor.settings import Settings


def test_an_unclean_stop_keeps_the_rocksdb_data_dir(tmp_path):
    s = Settings(data_dir=tmp_path / "d", store="rocksdb://")
    assert prepare_data_dir(s) is False  # new
    (s.data_dir / "monitor-data").mkdir()
    (s.data_dir / "monitor-data" / "x.sst").write_text("x")
    assert prepare_data_dir(s) is False  # no clean-stop mark: the last run was killed
    assert (s.data_dir / "monitor-data" / "x.sst").exists()  # nothing wiped: no full rebuild


def test_a_clean_stop_is_told_and_the_data_dir_kept(tmp_path):
    s = Settings(data_dir=tmp_path / "d", store="rocksdb://")
    prepare_data_dir(s)
    (s.data_dir / "tables").mkdir()
    (s.data_dir / CLEAN_MARK).write_text("ok")
    assert prepare_data_dir(s) is True
    assert (s.data_dir / "tables").exists() and not (s.data_dir / CLEAN_MARK).exists()
