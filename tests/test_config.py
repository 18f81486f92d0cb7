"""One loader and one error describer for the configuration files: policy, teams, users, capacity.

Whatever file it is, the same faults read the same: the file named first, then ``cannot read``, ``not
UTF-8``, ``not valid TOML`` (JSON by the suffix), or each wrong key as ``key.path[1].name: what is
wrong``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor._errors import ConfigError, InputError, PolicyError
from monitor.desk.auth import load_users
from monitor.reports import load_capacity
from monitor.rules.loader import DEFAULT_POLICY_PATH, load_policy
from monitor.teams import load_teams

GOOD_TEAMS = 'version = "t1"\n[defaults]\nvisits_per_day = 4\nworking_days = ["mon", "tue"]\n'
GOOD_USERS = '[[users]]\nuser = "a"\nrole = "ops"\ntoken_sha256 = "' + "0" * 64 + '"\n'

LOADERS = [  # (loader, its error class, a good file's text, a key misspelt in it, the key path named)
    (load_policy, PolicyError, DEFAULT_POLICY_PATH.read_text(encoding="utf-8"),
     ("[overdue.dpd]", "[overdue.dpd]\nenabeld = true"), "overdue.dpd.enabeld: unknown key (misspelt?)"),
    (load_teams, ConfigError, GOOD_TEAMS, ("visits_per_day = 4", "visit_per_day = 4"),
     "defaults.visit_per_day: unknown key (misspelt?)"),
    (load_users, ConfigError, GOOD_USERS, ('role = "ops"', 'role = "ops"\npasword = "x"'),
     "users[0].pasword: unknown key (misspelt?)"),
    (load_capacity, InputError, "T01 = 4\nT02 = 2.5\n", ("T02 = 2.5", 'T02 = "many"'),
     "T02: Input should be a valid number"),
]


@pytest.mark.parametrize(("load", "error", "good", "edit", "named"), LOADERS)
def test_every_configuration_file_is_read_and_refused_alike(tmp_path: Path, load, error, good, edit, named):
    path = tmp_path / "conf.toml"
    path.write_text(good, encoding="utf-8")
    assert load(path) is not None
    path.write_text(good.replace(*edit, 1), encoding="utf-8")
    with pytest.raises(error) as err:
        load(path)
    assert str(err.value).startswith(f"{path}: ") and named in str(err.value), str(err.value)
    with pytest.raises(error, match=r"nope\.toml: cannot read"):
        load(tmp_path / "nope.toml")
    path.write_bytes(good.encode("utf-8") + b'\nname = "caf\xe9"\n')
    with pytest.raises(error, match=r"conf\.toml: not UTF-8"):
        load(path)
    path.write_text(good + "\n[broken\n", encoding="utf-8")
    with pytest.raises(error, match=r"conf\.toml: not valid TOML"):
        load(path)
    json_path = tmp_path / "conf.json"
    json_path.write_text("{not json", encoding="utf-8")
    with pytest.raises(error, match=r"conf\.json: not valid JSON"):
        load(json_path)


def test_several_errors_are_told_together_each_with_its_key(tmp_path: Path):
    path = tmp_path / "teams.toml"
    path.write_text(GOOD_TEAMS.replace("visits_per_day = 4", "visits_per_day = -4").replace('"tue"', '"tues"'),
                    encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_teams(path)
    text = str(err.value)
    assert "defaults.visits_per_day: must be 0 or more, not -4" in text
    assert "defaults.working_days[1]: must be one of mon, tue" in text and "; " in text
