"""`freshrec experiment --set`: recommender settings reach the run's worker; its own names cannot be set."""

import pytest
from typer.testing import CliRunner

from freshrec.cli import app
from freshrec.experiment.run import Config, deployment, parse_settings


def test_settings_reach_the_deployment_under_their_env_names():
    got = parse_settings(["online_trend_slot=2", "FRESHREC_ONLINE_ORDER_WEIGHT=0"])
    assert got == {"online_trend_slot": "2", "online_order_weight": "0"}
    env = deployment("u1", Config(settings=got))
    assert env["FRESHREC_ONLINE_TREND_SLOT"] == "2" and env["FRESHREC_ONLINE_ORDER_WEIGHT"] == "0"
    assert env["FRESHREC_TOPIC_EVENTS"] == "exp.events.u1"


@pytest.mark.parametrize("pair, says", [
    ("online_trend_slot", "FIELD=VALUE"),
    ("no_such_setting=1", "is not a setting"),
    ("topic_events=mine", "run's own deployment"),
    ("online_trend_slot=99", "online_trend_slot"),
])
def test_bad_settings_say_what_to_fix(pair, says):
    with pytest.raises(ValueError, match=says):
        parse_settings([pair])


def test_the_cli_refuses_a_bad_setting_before_starting_anything():
    result = CliRunner().invoke(app, ["experiment", "--set", "no_such_setting=1"])
    assert result.exit_code == 2
    assert "is not a setting" in result.output
