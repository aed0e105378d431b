"""Which ``tune.cfg`` sections and options exist: the registered luigi tasks and configs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import law.config
import luigi
import luigi.interface  # noqa: F401 (registers luigi's [core] section)
import luigi.retcodes  # noqa: F401 (registers [retcode])
import luigi.scheduler  # noqa: F401 (registers [scheduler])
import luigi.worker  # noqa: F401 (registers [worker])
from luigi.task_register import Register, TaskClassException

from aframe_tune.config import check_config_options

# luigi reads only declared parameters from these of its own sections, so they are checked as
# strictly as aframe-tune's; [core], [worker] and [scheduler] hold undeclared ones too.
STRICT_LUIGI_SECTIONS = frozenset({"retcode"})


@dataclass(frozen=True)
class ConfigSections:
    """The sections a ``tune.cfg`` may hold, and how strictly each is checked.

    Args:
        families: luigi task/config class per ``[luigi_NAME]`` section.
        strict: families whose sections may only hold their declared parameters.
        law_sections: law's own sections (``[core]``, ``[logging]``, ...), not checked further.
    """

    families: Mapping[str, type[luigi.Task]]
    strict: frozenset[str]
    law_sections: frozenset[str]

    def check(self, path: Path) -> None:
        check_config_options(path, self.families, self.strict, self.law_sections)


def config_sections() -> ConfigSections:
    """The sections of every task and config class registered with luigi so far."""
    families = {}
    for name in Register.task_names():
        try:
            families[name] = Register.get_task_cls(name)
        except TaskClassException:  # a name two classes share: luigi cannot configure it either
            continue
    strict = {name for name, cls in families.items() if cls.__module__.startswith("aframe_tune.")}
    # law has no public list of its sections; its defaults name every one it reads.
    law_sections = frozenset(law.config.Config._default_config)
    return ConfigSections(families, frozenset(strict | STRICT_LUIGI_SECTIONS), law_sections)
