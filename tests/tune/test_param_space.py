"""param_space values: Ray Tune sampling functions with literal arguments, nothing else."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest
from ray import tune

from aframe_tune.errors import ConfigError
from aframe_tune.tune.param_space import SAMPLERS, normalize_param_space, normalize_sampler, param_space_argument

PATH = Path("/exp/tune.yaml")


@pytest.mark.parametrize(
    ("written", "normalized"),
    [
        ("tune.loguniform(1e-4, 1e-1)", "tune.loguniform(0.0001, 0.1)"),
        ("tune.uniform(-1, 1)", "tune.uniform(-1, 1)"),
        ("tune.choice([64, 128])", "tune.choice([64, 128])"),
        ("tune.choice(['adam', 'sgd'])", "tune.choice(['adam', 'sgd'])"),
        ("tune.randint(1, 10)", "tune.randint(1, 10)"),
        ("tune.qloguniform(1e-4, 1e-1, 5e-5)", "tune.qloguniform(0.0001, 0.1, 5e-05)"),
        ("tune.grid_search([True, False])", "tune.grid_search([True, False])"),
        # noise copied from Python code: a trailing comma, spaces
        ("tune.choice([1.0, 2.0]),", "tune.choice([1.0, 2.0])"),
        ("  tune.quniform( 0, 1, 0.1 )  ", "tune.quniform(0, 1, 0.1)"),
    ],
)
def test_sampling_functions_are_accepted_and_normalized(written: str, normalized: str) -> None:
    assert normalize_sampler(written, "model.x", PATH) == normalized


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("__import__('os').system('true')", "is not a call of a Ray Tune sampling function"),
        ("tune.uniform(0, 1).sample()", "is not a call of a Ray Tune sampling function"),
        ("tune.sample_from(lambda spec: 1)", "is not a call of a Ray Tune sampling function"),
        ("np.random.uniform(0, 1)", "is not a call of a Ray Tune sampling function"),
        ("lambda: tune.uniform(0, 1)", "is not a call of a Ray Tune sampling function"),
        ("tune.uniform(low, 1)", "arguments must be plain numbers"),
        ("tune.uniform(0, __import__('os').getpid())", "arguments must be plain numbers"),
        ("tune.quniform(0, 1, q=0.1)", "has keyword arguments (q=)"),
        ("tune.uniform(0)", "tune.uniform takes 2 arguments, not 1"),
        ("tune.randn()", "tune.randn takes 1 to 2 arguments, not 0"),  # lightray cannot evaluate it
        ("tune.loguniform(1, 2, 10, 4)", "tune.loguniform takes 2 to 3 arguments, not 4"),
        ("tune.choice(1, 2, 3)", "tune.choice takes 1 arguments, not 3"),
        ("tune.choice(64)", "tune.choice takes one non-empty list of values"),
        ("tune.grid_search([])", "tune.grid_search takes one non-empty list of values"),
        ("tune.uniform('0', 1)", "tune.uniform takes numbers"),
        ("tune.uniform(0, 1", "is not a Python expression"),
        (0.001, "is 0.001; write a Ray Tune sampling function"),
    ],
)
def test_anything_else_is_rejected_naming_file_and_key(written: object, message: str) -> None:
    with pytest.raises(ConfigError, match=r"^/exp/tune\.yaml: param_space 'model\.x'") as raised:
        normalize_sampler(written, "model.x", PATH)
    assert message in str(raised.value)
    assert len(str(raised.value)) < 300  # one or two lines


def test_rejected_code_is_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    for written in (f"__import__('pathlib').Path({str(marker)!r}).touch()",
                    f"tune.choice([__import__('pathlib').Path({str(marker)!r}).touch()])"):
        with pytest.raises(ConfigError):
            normalize_sampler(written, "model.x", PATH)
    assert not marker.exists()


@pytest.mark.parametrize("sampler", sorted(SAMPLERS))
def test_the_argument_table_matches_ray_tune(sampler: str) -> None:
    least, most, kind = SAMPLERS[sampler]
    value = [[1, 2]] if kind == "list" else [1, 2, 1, 10][:least]
    getattr(tune, sampler)(*value)  # the fewest arguments are enough
    parameters = inspect.signature(getattr(tune, sampler)).parameters
    assert len(parameters) == most


def test_checking_does_not_import_ray() -> None:
    # the driver must configure Ray (loopback-only mode) before anything imports it
    code = ("import sys; from pathlib import Path; from aframe_tune.tune.spec import load_tune_spec; "
            "from aframe_tune.scaffold import template_directory; "
            "load_tune_spec(template_directory('tune') / 'tune.yaml'); print('ray' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


def test_the_checked_space_reaches_lightray_and_evaluates_there() -> None:
    from lightray.utils import eval_tune_run_config

    space = normalize_param_space({"model.learning_rate": "tune.loguniform(1e-4, 1e-1),",
                                   "data.kernel_length": "tune.choice([1.0, 2.0])"}, PATH)
    argument = param_space_argument(space)
    assert argument.startswith("--param_space=")
    evaluated = json.loads(argument.removeprefix("--param_space="))
    eval_tune_run_config(evaluated)  # what lightray does with it
    assert isinstance(evaluated["model.learning_rate"], tune.search.sample.Float)
    assert evaluated["data.kernel_length"].categories == [1.0, 2.0]


def test_param_space_must_be_a_mapping() -> None:
    assert normalize_param_space(None, PATH) == {}
    with pytest.raises(ConfigError, match="param_space must map dot paths"):
        normalize_param_space(["tune.uniform(0, 1)"], PATH)
