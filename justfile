# JustMaily tasks. Run through `python3 bootstrap.py <recipe>`, which sets up .venv first.
set shell := ["bash", "-euo", "pipefail", "-c"]

venv := justfile_directory() / ".venv"
headless := justfile_directory() / ".venv-headless"

# List the recipes
default:
    @just --list --unsorted

# Start the server on embedded SQLite with a seeded demo workspace (data in ./.justmaily); `--port 8011`, `--host ::1`
demo *args:
    @JUSTMAILY_LOG_FORMAT="${JUSTMAILY_LOG_FORMAT:-console}" \
    JUSTMAILY_DATA_DIR="${JUSTMAILY_DATA_DIR:-{{justfile_directory()}}/.justmaily}" \
    JUSTMAILY_PUBLIC_API_DOCS="${JUSTMAILY_PUBLIC_API_DOCS:-true}" \
    JUSTMAILY_SMTP_ALLOW_PRIVATE_RELAYS="${JUSTMAILY_SMTP_ALLOW_PRIVATE_RELAYS:-true}" \
    {{venv}}/bin/justmaily serve --demo {{args}}

# Run the server with your own settings (JUSTMAILY_* variables)
serve *args:
    {{venv}}/bin/justmaily serve {{args}}

# The whole test suite: lint and layering, then every test once: the server's SQLite tests in the
# environment without Qt (test-headless), everything else (desktop, PostgreSQL) in the full one;
# each on two cores (pytest-xdist)
test: lint system-deps (pytest "-m 'not headless' -n 2") (test-headless "-n 2")

# The Debian packages tests drive for real (promtool, amtool, SoftHSM2), installed when missing
system-deps:
    tools/system_deps.sh

# Style, types and layering
lint:
    {{venv}}/bin/ruff check .
    {{venv}}/bin/ruff format --check .
    {{venv}}/bin/mypy
    {{venv}}/bin/lint-imports

# All tests (pass pytest arguments, e.g. `just pytest -k campaigns`)
pytest *args: js-deps
    QT_QPA_PLATFORM=offscreen {{venv}}/bin/pytest {{args}}

# The stock JavaScript Yjs clients the interop tests and the side-by-side benchmark drive, and the
# reference server it measures (Node.js comes from PyPI)
js-deps:
    PATH="{{venv}}/bin:$PATH" npm ci --prefix tests/js --no-audit --no-fund --silent
    PATH="{{venv}}/bin:$PATH" npm ci --prefix bench/js --no-audit --no-fund --silent
    PATH="{{venv}}/bin:$PATH" npm ci --prefix bench/js/reference --no-audit --no-fund --silent

# The server's tests on SQLite (those marked `headless`) in an environment without Qt: proves the
# server is headless
test-headless *args: js-deps
    UV_PROJECT_ENVIRONMENT={{headless}} {{venv}}/bin/uv sync --locked --extra dev --quiet
    {{headless}}/bin/python -c "import importlib.util as u, sys; sys.exit(u.find_spec('PySide6') is not None)" \
        || { echo "PySide6 must not be installed in the headless environment"; exit 1; }
    {{headless}}/bin/pytest -p no:pytest-qt -m headless tests/server tests/shared {{args}}

# The Prometheus rules, their tests and the alerts' list, generated from the SLO file into deploy/prometheus
ops-rules *args:
    {{venv}}/bin/justmaily ops rules {{args}}

# Format the code
fmt:
    {{venv}}/bin/ruff format .
    {{venv}}/bin/ruff check --fix .

# New Alembic migration from the models (uses JUSTMAILY_DATABASE_URL or the default SQLite)
revision message:
    cd server/justmaily/server/migrations && {{venv}}/bin/alembic -c alembic.ini revision --autogenerate -m "{{message}}"

# Fuzz the API (schemathesis, every check) against a throw-away demo server; e.g. `--examples 500 --seed 7`
fuzz-api *args:
    {{venv}}/bin/python -m tests.support.fuzz_api {{args}}

# Benchmarks (results in bench/results): all, or those named (api api-load rooms side-by-side desktop delivery trust restore-drill metrics-cost analytics analytics-import protection mesh); `bench api-load --help`
bench *args: js-deps
    {{venv}}/bin/python -m bench {{args}}

# Screenshots of the desktop windows, rendered offscreen (into docs/screenshots)
screenshots:
    QT_QPA_PLATFORM=offscreen {{venv}}/bin/python -m tools.screenshots docs/screenshots
    QT_QPA_PLATFORM=offscreen {{venv}}/bin/python -m tools.screenshots docs/screenshots --scale 1.5
