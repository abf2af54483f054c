"""Reading systemd unit files and running their commands the way systemd would,
with the install paths mapped into a test directory."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

Sections = dict[str, dict[str, list[str]]]


def parse_unit(path: Path) -> Sections:
    """Sections of key -> values in order (a key may repeat, as Environment= does)."""
    sections: Sections = {}
    current: dict[str, list[str]] | None = None
    pending = ""
    for raw in path.read_text().splitlines():
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"{path}: {line!r} outside a section"
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def read_environment_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";")):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().strip("\"'")
    return values


@dataclass
class UnitRun:
    """One service unit's commands, paths mapped: ``{"/opt/conveyor": "/tmp/x"}``."""

    path: Path
    paths: dict[str, str]
    instance: str = ""
    service: dict[str, list[str]] = field(init=False)

    def __post_init__(self) -> None:
        self.service = parse_unit(self.path)["Service"]

    def mapped(self, value: str) -> str:
        value = value.replace("%i", self.instance)
        # Longest first: /var/lib/conveyor-worker before /var/lib/conveyor.
        for source in sorted(self.paths, key=len, reverse=True):
            value = value.replace(source, self.paths[source])
        return value

    def one(self, key: str) -> str:
        (value,) = self.service[key]
        return self.mapped(value)

    def environment(self, base: dict[str, str]) -> dict[str, str]:
        """Environment= first, then EnvironmentFile= (which overrides it, as in systemd)."""
        env = dict(base)
        for assignment in self.service.get("Environment", []):
            for word in shlex.split(assignment):
                key, _, value = word.partition("=")
                env[key] = self.mapped(value)
        for entry in self.service.get("EnvironmentFile", []):
            optional = entry.startswith("-")
            file = Path(self.mapped(entry.removeprefix("-")))
            if optional and not file.exists():
                continue
            env.update({k: self.mapped(v) for k, v in read_environment_file(file).items()})
        return env

    def argv(self, key: str, env: dict[str, str]) -> list[list[str]]:
        """Each command line of ``key`` as argv: ``$VAR`` alone splits into words,
        ``${VAR}`` is substituted inside its word (systemd.service(5))."""
        commands = []
        for line in self.service.get(key, []):
            words: list[str] = []
            for word in shlex.split(self.mapped(line)):
                alone = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", word)
                if alone:
                    words.extend(env.get(alone.group(1), "").split())
                else:
                    words.append(
                        re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: env[m.group(1)], word)
                    )
            commands.append(words)
        return commands
