"""What every command shares: the global options (`gdwi --config F --set key=value …`) and the
settings they select. One loader (adapter.wire.config) for every command, journal ones included."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adapter.wire.config import Settings

__all__ = ["OPTIONS", "Options", "existing_journal", "journal_path", "journal_setting", "parse_sets",
           "settings"]


@dataclass
class Options:
    """The root command's options, set once per invocation by its callback."""

    config: Path | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    institution: str | None = None  # --institution: one of several declared (adapter.wire.institutions)
    debug: bool = False
    log_level: str | None = None


OPTIONS = Options()


def parse_sets(items: list[str]) -> dict[str, str]:
    """`--set key=value` items as a dict; the keys are checked by the settings loader."""
    import typer

    values: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--set")
        values[key.strip()] = value
    return values


def settings() -> Settings:
    """The full settings (province, login, journal) of the chosen institution (--institution; the
    only one when the configuration declares one); ConfigError names what is missing."""
    from adapter.wire.institutions import settings_for

    return settings_for(OPTIONS.institution, config=OPTIONS.config, overrides=OPTIONS.overrides)


def journal_path(db: Path | None = None) -> Path:
    """The journal file: `--db` if given, else the `journal` setting from the same sources as
    every other key (so a GDWI_CONFIG file's journal is the one `journal list` reads)."""
    from adapter.wire.config import Settings, load_values

    if db is not None:
        return db
    values = load_values(config=OPTIONS.config, overrides=OPTIONS.overrides)
    return Path(values.get("journal") or Settings.model_fields["journal"].default)


def journal_setting(db: str | Path | None = None) -> str:
    """The journal as set: `--db` if given, else the `journal` setting; a file path or a
    postgresql:// URL (show it through mask_dsn: a URL may carry a password)."""
    from adapter.wire.config import Settings, load_values

    if db is not None:
        return str(db)
    values = load_values(config=OPTIONS.config, overrides=OPTIONS.overrides)
    return str(values.get("journal") or Settings.model_fields["journal"].default)


def existing_journal(db: str | Path | None = None) -> str:
    """`journal_setting`, refusing a SQLite file that is not there: a read command or a report
    must not create an empty journal by mistake (a database URL is checked when it is opened)."""
    from adapter.errors import ConfigError
    from adapter.wire.database import is_postgres

    target = journal_setting(db)
    if not is_postgres(target) and not Path(target).is_file():
        raise ConfigError(f"no journal at {target} (use --db, set GDWI_JOURNAL or `journal` in the "
                          "GDWI_CONFIG file)")
    return target
