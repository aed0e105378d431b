"""jsonargparse's errors, from the installed version's real parsers, read as one line per key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from aframe_tune.demo.cli import DemoCLI
from aframe_tune.scaffold import template_directory
from aframe_tune.tune.parser_errors import read_parser_error
from aframe_tune.tune.train_config import fit_parser, parser_keys

TRAIN = template_directory("tune") / "train.yaml"


def problem_of(tmp_path: Path, changes: dict, *arguments: str):
    from jsonargparse import ArgumentError

    content = yaml.safe_load(TRAIN.read_text())
    for dotted, value in changes.items():
        section, key = dotted.split(".", 1)
        content.setdefault(section, {})[key] = value
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(content))
    parser = fit_parser(DemoCLI)
    with pytest.raises(ArgumentError) as raised:
        parser.parse_args(["--config", str(path), *arguments])
    return read_parser_error(str(raised.value), parser_keys(parser, parser.get_defaults()))


@pytest.mark.parametrize(("changes", "arguments", "key", "text", "unknown"), [
    ({"model.learing_rate": 0.1}, (), "model.learing_rate", "is not an option; did you mean learning_rate?", True),
    ({}, ("--model.widht=3",), "model.widht", "is not an option; did you mean model.width", True),
    ({"trainer.max_epochs": "six"}, (), "trainer.max_epochs", "must be a whole number or null, got 'six'", False),
    ({}, ("--model.width=16.0",), "model.width", "must be a whole number, got '16.0'", False),
    ({"trainer.logger": {"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dirr": "."}}}, (),
     "trainer.logger.init_args.save_dirr", "is not an option of lightning.pytorch.loggers.CSVLogger", True),
])
def test_jsonargparse_errors_name_the_key(tmp_path: Path, changes: dict, arguments: tuple, key: str, text: str,
                                          unknown: bool) -> None:
    problem = problem_of(tmp_path, changes, *arguments)
    assert problem.key == key
    assert problem.text.startswith(text)
    assert problem.unknown is unknown


def test_a_class_that_does_not_import_gets_suggestions(tmp_path: Path) -> None:
    problem = problem_of(tmp_path, {"trainer.logger": {"class_path": "lightning.pytorch.loggers.CsvLogger"}})
    assert problem.key == "trainer.logger"
    assert problem.text.startswith("class_path lightning.pytorch.loggers.CsvLogger cannot be imported")
    assert "; did you mean CSVLogger or" in problem.text
