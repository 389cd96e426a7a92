"""`load_settings`: defaults, TOML file and environment, errors that name the setting, no secrets shown."""

from __future__ import annotations

import re
from pathlib import Path

import platformdirs
import pytest

from justmaily.server.settings import Settings, SettingsError, load_settings, redact_url

PG_URL = "postgresql://ada:s3cret-pw@db.example.com:5432/justmaily"


def write_toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "justmaily.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load_error(environ: dict[str, str], config_file: Path | None = None) -> str:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ=environ, config_file=config_file)
    return str(caught.value)


# Defaults


def test_defaults_use_sqlite_in_the_platform_data_dir() -> None:
    settings, unknown = load_settings(environ={})

    data_dir = Path(platformdirs.user_data_dir("justmaily"))
    assert settings.data_path == data_dir
    assert settings.effective_database_url == f"sqlite:///{data_dir / 'justmaily.db'}"
    assert settings.jwt_key_path == data_dir / "jwt-ed25519.pem"
    assert settings.is_sqlite
    assert settings.migrate_on_startup is True
    assert unknown == []


def test_defaults_use_sqlite_in_the_given_data_dir(tmp_path: Path) -> None:
    settings, _ = load_settings(environ={"JUSTMAILY_DATA_DIR": str(tmp_path)})

    assert settings.effective_database_url == f"sqlite:///{tmp_path / 'justmaily.db'}"
    assert settings.jwt_key_path == tmp_path / "jwt-ed25519.pem"
    assert settings == Settings.of(data_dir=str(tmp_path))  # every other setting at its default


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        pytest.param({}, True, id="sqlite-default"),
        pytest.param({"JUSTMAILY_DATABASE_URL": "sqlite:///x.db"}, True, id="sqlite-url"),
        pytest.param(
            {"JUSTMAILY_DATABASE_URL": "sqlite:///x.db", "JUSTMAILY_AUTO_MIGRATE": "false"},
            False,
            id="sqlite-opted-out",
        ),
        pytest.param({"JUSTMAILY_DATABASE_URL": PG_URL}, False, id="postgresql"),
        pytest.param({"JUSTMAILY_DATABASE_URL": "postgres://db/justmaily"}, False, id="postgres-alias"),
        pytest.param(
            {"JUSTMAILY_DATABASE_URL": PG_URL, "JUSTMAILY_AUTO_MIGRATE": "true"}, True, id="postgresql-true"
        ),
        pytest.param(
            {"JUSTMAILY_DATABASE_URL": PG_URL, "JUSTMAILY_AUTO_MIGRATE": "1"}, True, id="postgresql-1"
        ),
    ],
)
def test_migrate_on_startup_only_for_sqlite_unless_told(environ: dict[str, str], expected: bool) -> None:
    settings, _ = load_settings(environ=environ)

    assert settings.migrate_on_startup is expected


# Precedence: the environment wins over the TOML file, which wins over the defaults


def test_toml_overrides_defaults_and_environment_overrides_toml(tmp_path: Path) -> None:
    config = write_toml(
        tmp_path,
        'data_dir = "/srv/justmaily"\ndb_pool_size = 7\nlog_format = "console"\n'
        'rate_limit_per_ip = "100/minute"\n',
    )

    settings, unknown = load_settings(
        environ={"JUSTMAILY_DB_POOL_SIZE": "9", "JUSTMAILY_RATE_LIMIT_PER_IP": "5/second"},
        config_file=config,
    )

    assert settings.database.pool_size == 9  # environment wins over the file
    assert settings.http.rate_limit_per_ip == "5/second"
    assert settings.data_dir == "/srv/justmaily"  # the file wins over the default
    assert settings.logs.format == "console"
    assert settings.database.max_overflow == 10  # set nowhere: the default
    assert unknown == []


def test_justmaily_config_names_the_file(tmp_path: Path) -> None:
    config = write_toml(tmp_path, "db_pool_size = 3\npublic_api_docs = true\n")

    settings, unknown = load_settings(environ={"JUSTMAILY_CONFIG": str(config)})

    assert settings.database.pool_size == 3
    assert settings.http.public_api_docs is True
    assert unknown == []  # JUSTMAILY_CONFIG is not reported as an unknown setting


def test_an_explicit_config_file_wins_over_justmaily_config(tmp_path: Path) -> None:
    explicit = write_toml(tmp_path, "db_pool_size = 4\n")
    other = tmp_path / "other.toml"
    other.write_text("db_pool_size = 5\n", encoding="utf-8")

    settings, _ = load_settings(environ={"JUSTMAILY_CONFIG": str(other)}, config_file=explicit)

    assert settings.database.pool_size == 4


def test_environment_values_are_converted_from_strings() -> None:
    settings, _ = load_settings(
        environ={
            "JUSTMAILY_PUBLIC_API_DOCS": "true",
            "JUSTMAILY_MAX_REQUEST_BYTES": "2048",
            "JUSTMAILY_AUTO_MIGRATE": "false",
            "JUSTMAILY_LOG_LEVEL": "DEBUG",
        }
    )

    assert settings.http.public_api_docs is True
    assert settings.http.max_request_bytes == 2048
    assert settings.database.auto_migrate is False
    assert settings.logs.level == "DEBUG"


# Bad values name the setting as the operator wrote it


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("JUSTMAILY_DB_POOL_SIZE", "abc"),
        ("JUSTMAILY_DB_POOL_SIZE", "0"),
        ("JUSTMAILY_DB_POOL_SIZE", "-3"),
        ("JUSTMAILY_DB_MAX_OVERFLOW", "-1"),
        ("JUSTMAILY_ACCESS_TOKEN_TTL_SECONDS", "15m"),
        ("JUSTMAILY_AUTO_MIGRATE", "perhaps"),
        ("JUSTMAILY_LOG_LEVEL", "LOUD"),
        ("JUSTMAILY_LOG_FORMAT", "xml"),
        ("JUSTMAILY_RATE_LIMIT_PER_IP", "lots"),
        ("JUSTMAILY_RATE_LIMIT_PER_IP", ""),
        ("JUSTMAILY_RATE_LIMIT_PER_PRINCIPAL", "10/fortnight"),
        # A budget of 0 would refuse every request.
        ("JUSTMAILY_LOGIN_FAILURES_PER_ACCOUNT_AND_IP", "0/minute"),
        # The app applies a single rate; a second one must not be dropped silently.
        ("JUSTMAILY_DATABASE_URL", "mysql://localhost/justmaily"),
        ("JUSTMAILY_DATABASE_URL", "justmaily.db"),
        ("JUSTMAILY_DATABASE_URL", "postgresql://db.example.com:port/justmaily"),
    ],
)
def test_a_bad_environment_value_names_the_variable(variable: str, value: str) -> None:
    message = load_error({variable: value})

    assert message.startswith(f"{variable}: ")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("lots", "is not a rate such as '100/minute'"),
        ("5/second;0/hour", "would refuse every request; the amount must be at least 1"),
        ("0/minute", "would refuse every request; the amount must be at least 1"),
    ],
)
def test_a_bad_rate_says_what_is_wrong(value: str, reason: str) -> None:
    message = load_error({"JUSTMAILY_RATE_LIMIT_PER_IP": value})

    assert message == f"JUSTMAILY_RATE_LIMIT_PER_IP: {value!r} {reason}"


@pytest.mark.parametrize(
    "value", ["1/second", "10/15minutes", "100 per hour", "50/15 minutes", "5/second;100/hour"]
)
def test_rates_in_the_limits_syntax_are_accepted(value: str) -> None:
    settings, _ = load_settings(environ={"JUSTMAILY_LOGIN_FAILURES_PER_IP": value})

    assert settings.identity.login_failures_per_ip == value


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('db_pool_size = "abc"', "db_pool_size"),
        ("db_pool_size = 0", "db_pool_size"),
        ('log_level = "debug"', "log_level"),
        ('rate_limit_per_ip = "lots"', "rate_limit_per_ip"),
        ('database_url = "mysql://localhost/justmaily"', "database_url"),
    ],
)
def test_a_bad_toml_value_names_the_key_and_the_file(tmp_path: Path, line: str, key: str) -> None:
    config = write_toml(tmp_path, line + "\n")

    message = load_error({}, config)

    assert message.startswith(f"setting {key!r} in {config}: ")
    assert "JUSTMAILY_" not in message  # the operator wrote a TOML key, not a variable


def test_the_environment_overrides_a_bad_toml_value(tmp_path: Path) -> None:
    config = write_toml(tmp_path, 'db_pool_size = "abc"\n')

    settings, _ = load_settings(environ={"JUSTMAILY_DB_POOL_SIZE": "6"}, config_file=config)

    assert settings.database.pool_size == 6


def test_a_bad_environment_value_is_named_over_a_good_toml_value(tmp_path: Path) -> None:
    config = write_toml(tmp_path, "db_pool_size = 6\n")

    message = load_error({"JUSTMAILY_DB_POOL_SIZE": "0"}, config)

    assert message.startswith("JUSTMAILY_DB_POOL_SIZE: ")


def test_unknown_toml_keys_are_refused_by_name(tmp_path: Path) -> None:
    config = write_toml(tmp_path, "db_pool_size = 5\npool_size = 3\nDATA_DIR = '/x'\n[db]\nurl = 'x'\n")

    message = load_error({}, config)

    assert message == f"{config}: unknown setting(s) DATA_DIR, db, pool_size"


def test_a_missing_file_named_by_justmaily_config_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"

    message = load_error({"JUSTMAILY_CONFIG": str(missing)})

    assert message == f"JUSTMAILY_CONFIG: no such file {missing}"


def test_a_missing_explicit_config_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"

    message = load_error({}, missing)

    assert str(missing) in message
    assert "no such file" in message
    assert "JUSTMAILY_CONFIG" not in message  # it was not that variable that named the file


def test_invalid_toml_is_an_error_naming_the_file(tmp_path: Path) -> None:
    config = write_toml(tmp_path, "db_pool_size = \n")

    message = load_error({}, config)

    assert message.startswith(f"{config}: not valid TOML (")


@pytest.mark.parametrize("kind", ["directory", "not-utf-8"])
def test_an_unreadable_config_file_is_a_settings_error(tmp_path: Path, kind: str) -> None:
    if kind == "directory":
        config = tmp_path / "conf.d"
        config.mkdir()
    else:
        config = tmp_path / "latin1.toml"
        config.write_bytes('data_dir = "/srv/caf\xe9"\n'.encode("latin-1"))

    message = load_error({"JUSTMAILY_CONFIG": str(config)})

    assert message.startswith(f"JUSTMAILY_CONFIG: cannot read {config} (")


# Unknown variables


def test_unknown_justmaily_variables_are_returned_sorted() -> None:
    settings, unknown = load_settings(
        environ={
            "JUSTMAILY_DB_POOL_SIZE": "4",
            "JUSTMAILY_POOL_SIZE": "4",
            "JUSTMAILY_FOO": "1",
            "JUSTMAILY_CONFIG_FILE": "/etc/justmaily.toml",  # a near miss of JUSTMAILY_CONFIG
            "JUSTMAILY_data_dir": "/srv/lower-case",  # variable names are exact
            "JUSTMAILY_CONFIG": "",
            "JUSTMAILY_TEST_POSTGRES_URL": "postgresql://localhost/test",
            "JUSTMAILY_TEST_ANYTHING": "1",
            "HOME": "/root",
            "PATH": "/usr/bin",
        }
    )

    assert unknown == ["JUSTMAILY_CONFIG_FILE", "JUSTMAILY_FOO", "JUSTMAILY_POOL_SIZE", "JUSTMAILY_data_dir"]
    assert settings.database.pool_size == 4
    assert settings.data_dir == ""  # the lower-case variable was not applied


# Secrets


def test_redacted_masks_the_database_password() -> None:
    settings = Settings.of(database_url=PG_URL)

    redacted = settings.redacted()

    assert redacted["database_url"] == "postgresql://ada:***@db.example.com:5432/justmaily"
    assert "s3cret-pw" not in repr(redacted)
    assert redacted["db_pool_size"] == settings.database.pool_size  # the rest is shown as it is
    assert settings.database.url == PG_URL  # the settings themselves keep the password


def test_redacted_shows_the_default_database(tmp_path: Path) -> None:
    redacted = Settings.of(data_dir=str(tmp_path)).redacted()

    assert redacted["database_url"] == f"sqlite:///{tmp_path / 'justmaily.db'}"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (PG_URL, "postgresql://ada:***@db.example.com:5432/justmaily"),
        ("postgresql+asyncpg://ada:pw@db/justmaily", "postgresql+asyncpg://ada:***@db/justmaily"),
        ("postgresql://ada:p@ss:w/rd@db/justmaily", "postgresql://ada:***@db/justmaily"),
        ("postgresql://ada:pw@db/justmaily?options=a@b", "postgresql://ada:***@db/justmaily?options=a@b"),
        (
            "postgresql://db/justmaily?user=ada&password=hunter2hunter2&sslmode=require",
            "postgresql://db/justmaily?user=ada&password=***&sslmode=require",
        ),
        ("postgresql://ada@db/justmaily", "postgresql://ada@db/justmaily"),
        ("postgresql://db/justmaily", "postgresql://db/justmaily"),
        ("sqlite:////srv/data@home/justmaily.db", "sqlite:////srv/data@home/justmaily.db"),
        ("not a url", "not a url"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_a_bad_database_url_is_named_without_its_password() -> None:
    message = load_error({"JUSTMAILY_DATABASE_URL": "mysql://ada:s3cret-pw@db/justmaily"})

    assert message.startswith("JUSTMAILY_DATABASE_URL: ")
    assert "s3cret-pw" not in message
    assert re.search(r"mysql://ada:\*\*\*@db/justmaily", message)


def test_trusted_proxies_are_addresses_or_networks() -> None:
    settings, _ = load_settings(environ={"JUSTMAILY_TRUSTED_PROXIES": "10.0.0.0/8, ::1,192.0.2.4"})
    assert settings.http.trusted_proxies == "10.0.0.0/8, ::1,192.0.2.4"
    assert load_settings(environ={})[0].http.trusted_proxies == ""  # none by default
    message = load_error({"JUSTMAILY_TRUSTED_PROXIES": "10.0.0.0/8,proxy.internal"})
    assert message == (
        "JUSTMAILY_TRUSTED_PROXIES: 'proxy.internal' is not an IP address or network such as 10.0.0.0/8"
    )
