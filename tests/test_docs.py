"""The README stays true: every command, every setting and both newcomer commands are documented."""

from pathlib import Path

from clusterdash.cli import cli
from clusterdash.config import SETTINGS

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_command_is_documented():
    names = list(cli.commands)
    names += [f"{name} {sub}" for name, command in cli.commands.items() for sub in getattr(command, "commands", {})]
    missing = [name for name in names if f"clusterdash {name}" not in README and f"{name}`" not in README]
    assert not missing, f"README does not document: {missing}"


def test_every_setting_is_documented():
    missing = [s.env for s in SETTINGS.values() if s.env not in README]
    assert not missing, f"README does not document: {missing}"


def test_the_two_newcomer_commands_exist_and_ci_runs_the_test_one():
    root = Path(__file__).resolve().parent.parent
    assert "bash scripts/run.sh" in README and "bash scripts/test.sh" in README
    assert (root / "scripts" / "run.sh").exists() and (root / "scripts" / "test.sh").exists()
    assert "bash scripts/test.sh" in (root / ".ci" / "run").read_text()
