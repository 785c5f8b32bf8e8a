"""Every option of every config group composes, and the demo experiment is what the README says it is."""
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from runners.cli import CONF, GROUPS, check_group_choices, options


def compose_with(*overrides):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=list(overrides))


@pytest.mark.parametrize("group", GROUPS)
def test_every_option_composes(group):
    for option in options(group):
        cfg = compose_with("task=rte", "method=adalora", f"{group}={option}")
        assert cfg[group] is not None
        if "name" in cfg[group]:
            assert cfg[group].name == option


def test_demo_experiment():
    cfg = compose_with("+experiment=demo")
    assert (cfg.task.name, cfg.method.name, cfg.model.name, cfg.budget) == ("sst2", "adalora", "minilm", "0.32%")
    assert cfg.task.data_dir == "data/glue/sst2"


def test_group_choices_are_checked_before_hydra():
    assert check_group_choices(["task=rte", "method=lora,adalora"]) is None
    assert "unknown method 'lor'" in check_group_choices(["method=lora,lor"])
