"""The deployment kit stays runnable: the unit, the image, compose, the entry point, the env example.

CI builds neither the image nor the unit, so these read the files as systemd, Docker and the
shell would and check what breaks a deployment quietly: a unit key systemd ignores with a
warning (a typo in a hardening key turns the sandbox off without failing), an entry point
that is not the real console script, an image that runs as root or keeps the database outside
a volume, a watchlist baked into an image, a WATCHER_* setting the code reads but the example
env file does not list. `systemd-analyze verify` runs where it is installed; the parser below
checks the unit everywhere.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from types import ModuleType

import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from watcher.cli import cli
from watcher.store import Store
from watcher.store.times import iso

ROOT = Path(__file__).resolve().parent.parent
CONTRIB = ROOT / "contrib"
UNIT = CONTRIB / "watcher.service"
ENTRYPOINT = CONTRIB / "docker-entrypoint.sh"

UNIT_KEYS: dict[str, set[str]] = {
    "Unit": {"Description", "Documentation", "Wants", "Requires", "After", "Before",
             "StartLimitIntervalSec", "StartLimitBurst"},
    "Service": {"Type", "User", "Group", "WorkingDirectory", "Environment", "EnvironmentFile", "ExecStart",
                "Restart", "RestartSec", "KillSignal", "KillMode", "TimeoutStopSec", "StandardOutput",
                "StandardError", "SyslogIdentifier", "UMask", "ProtectSystem", "ReadWritePaths", "LogsDirectory",
                "LogsDirectoryMode", "ProtectHome", "PrivateTmp", "PrivateDevices", "NoNewPrivileges",
                "CapabilityBoundingSet", "AmbientCapabilities", "ProtectKernelTunables", "ProtectKernelModules",
                "ProtectKernelLogs", "ProtectControlGroups", "ProtectClock", "ProtectHostname", "ProtectProc",
                "RestrictAddressFamilies", "RestrictNamespaces", "RestrictRealtime", "RestrictSUIDSGID",
                "LockPersonality", "SystemCallArchitectures", "SystemCallFilter", "SystemCallErrorNumber"},
    "Install": {"WantedBy"},
}
HARDENING = {
    "ProtectSystem": "strict", "NoNewPrivileges": "yes", "PrivateTmp": "yes", "UMask": "0077",
    "ProtectHome": "yes", "PrivateDevices": "yes", "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX", "SystemCallFilter": "@system-service",
    "Restart": "on-failure", "RestartSec": "10", "StandardOutput": "journal", "StandardError": "journal",
    "KillSignal": "SIGTERM", "TimeoutStopSec": "60", "User": "watcher",
    "EnvironmentFile": "/etc/watcher/watcher.env", "WorkingDirectory": "/opt/watcher",
}


def console_script() -> str:
    """The name pyproject.toml installs for watcher.cli:main."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    (name,) = [n for n, target in scripts.items() if target == "watcher.cli:main"]
    return name


# -- systemd -----------------------------------------------------------------------------------

def parse_unit(text: str) -> dict[str, list[tuple[str, str]]]:
    """Sections -> (key, value) in order, as systemd reads them; anything else is an error."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: str | None = None
    for number, line in enumerate(text.replace("\\\n", " ").splitlines(), 1):
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if match := re.fullmatch(r"\[(\w+)\]", line):
            current = match.group(1)
            assert current in UNIT_KEYS, f"line {number}: unknown section [{current}]"
            sections.setdefault(current, [])
            continue
        assert current is not None, f"line {number}: a key before any section"
        key, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Za-z]+", key.strip()), f"line {number}: not key=value: {line!r}"
        sections[current].append((key.strip(), value.strip()))
    return sections


def unit_values(section: list[tuple[str, str]], key: str) -> list[str]:
    return [v for k, v in section if k == key]


def unknown_keys(unit: dict[str, list[tuple[str, str]]]) -> set[str]:
    return {f"[{name}] {k}" for name, entries in unit.items() for k, _ in entries if k not in UNIT_KEYS[name]}


def test_unit_has_only_known_sections_and_keys() -> None:
    unit = parse_unit(UNIT.read_text())
    assert set(unit) == set(UNIT_KEYS)
    assert not unknown_keys(unit), "keys systemd would ignore, or this test's list does not know"


def test_unit_is_hardened_and_logs_to_the_journal() -> None:
    service = parse_unit(UNIT.read_text())["Service"]
    for key, wanted in HARDENING.items():
        assert unit_values(service, key) == [wanted], key
    writable = " ".join(unit_values(service, "ReadWritePaths")).split()
    env = dict(v.split("=", 1) for v in unit_values(service, "Environment"))
    workdir = Path(unit_values(service, "WorkingDirectory")[0])
    for folder in (env["WATCHER_STATE"], env["WATCHER_RULES"], str(PurePosixPath(env["WATCHER_FEEDS"]).parent)):
        assert folder in writable, f"{folder} must be writable under ProtectSystem=strict"
        assert PurePosixPath(folder).is_relative_to(workdir)


def test_unit_starts_the_console_script() -> None:
    service = parse_unit(UNIT.read_text())["Service"]
    argv = shlex.split(unit_values(service, "ExecStart")[0])
    workdir = unit_values(service, "WorkingDirectory")[0]
    assert argv == [f"{workdir}/.venv/bin/{console_script()}", "run"]
    assert parse_unit(UNIT.read_text())["Install"] == [("WantedBy", "multi-user.target")]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verify_finds_nothing(tmp_path: Path) -> None:
    # verify wants the ExecStart binary to exist: point it at this venv's console script
    # (same name), and treat any output as a failure: systemd exits 0 on an ignored key.
    here = Path(sys.executable).parent / console_script()
    unit = tmp_path / "watcher.service"
    unit.write_text(UNIT.read_text().replace(f"/opt/watcher/.venv/bin/{console_script()}", str(here)))
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True, check=False,
                          timeout=120)
    said = [line for line in (done.stdout + done.stderr).splitlines() if str(unit) in line or "watcher" in line]
    assert done.returncode == 0 and not said, done.stdout + done.stderr


def test_unit_checks_catch_a_typo() -> None:
    typo = parse_unit(UNIT.read_text().replace("PrivateTmp=", "PrivatTmp="))
    assert unknown_keys(typo) == {"[Service] PrivatTmp"}
    with pytest.raises(AssertionError, match="unknown section"):
        parse_unit(UNIT.read_text().replace("[Install]", "[Instal]"))


# -- Dockerfile ------------------------------------------------------------------------------

def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    lines = [line for line in (ROOT / "Dockerfile").read_text().splitlines() if not line.lstrip().startswith("#")]
    joined = "\n".join(lines).replace("\\\n", " ")
    out = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def docker_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for word, rest in dockerfile():
        if word == "ENV":
            env.update(dict(part.split("=", 1) for part in shlex.split(rest)))
    return env


def copied() -> dict[str, str]:
    """Image path -> context path of every COPY (flags dropped)."""
    out = {}
    for word, rest in dockerfile():
        if word == "COPY":
            parts = [p for p in shlex.split(rest) if not p.startswith("--")]
            for source in parts[:-1]:
                target = parts[-1]
                out[target + Path(source).name if target.endswith("/") and not source.endswith("/") else target] = source
    return out


def test_image_runs_the_real_command_as_a_user() -> None:
    steps = dockerfile()
    words = [w for w, _ in steps]
    entry = json.loads(dict(steps)["ENTRYPOINT"])
    cmd = json.loads(dict(steps)["CMD"])
    assert cmd == [console_script(), "run"]
    assert copied()["/usr/local/bin/" + entry[0]] == "contrib/docker-entrypoint.sh"
    assert ENTRYPOINT.read_text().rstrip().endswith('exec "$@"')  # the entry point hands over to CMD
    user = [rest for w, rest in steps[:words.index("ENTRYPOINT")] if w == "USER"]
    assert user and user[-1].split(":")[0] not in ("root", "0")
    assert any(f"--uid {user[-1].split(':')[0]} " in rest for w, rest in steps if w == "RUN")  # the user exists
    assert CliRunner().invoke(cli, ["run", "--help"]).exit_code == 0  # `run` is a real command


def test_image_keeps_its_data_in_volumes_and_checks_its_health() -> None:
    steps = dockerfile()
    env = docker_env()
    volumes = [v for w, rest in steps if w == "VOLUME" for v in json.loads(rest)]
    assert env["WATCHER_STATE"] in volumes and env["WATCHER_RULES"] in volumes
    assert str(PurePosixPath(env["WATCHER_FEEDS"]).parent) in volumes
    health = [rest for w, rest in steps if w == "HEALTHCHECK"]
    assert len(health) == 1 and "NONE" not in health[0]
    script = next(a for a in json.loads(health[0].split("CMD", 1)[1]) if a.endswith(".py"))
    assert copied()[script] == "contrib/healthcheck.py"
    installs = [rest for w, rest in steps if w == "RUN" and "pip install" in rest]
    assert installs and not any(re.search(r"\[(test|bench)\]|-e ", r) for r in installs)
    assert 'ARG EXTRAS=""' in [f"{w} {r}" for w, r in steps]


def dockerignored(path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    patterns = [p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines()
                if p.strip() and not p.startswith("#")]
    parts = PurePosixPath(path).parts
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = pattern.lstrip("!").removeprefix("**/")
        if any(fnmatch.fnmatch(c, glob) or fnmatch.fnmatch(PurePosixPath(c).name, glob) and pattern.startswith("**/")
               for c in candidates):
            excluded = not negated
    return excluded


def test_build_context_has_what_the_image_copies_and_no_secrets() -> None:
    for source in copied().values():
        files = [source] if (ROOT / source).is_file() else [str(p.relative_to(ROOT)) for p in
                                                            (ROOT / source).rglob("*") if p.is_file()]
        kept = [f for f in files if not dockerignored(f)]
        assert kept, f"COPY {source}: .dockerignore leaves nothing of it"
    for secret in ("watcher.env", ".venv/bin/python", "state/watcher.db", ".git/config", "rules/monitors.yaml",
                   "rules/routes.yaml", "rules/mine.yaml", ".pytest_cache/v", "watcher/__pycache__/x.pyc"):
        assert dockerignored(secret), secret
    for needed in ("rules/people.yaml", "rules/incidents.yaml", "feeds.yaml", "pyproject.toml", "README.md"):
        assert not dockerignored(needed), needed


def test_build_refuses_a_watchlist(tmp_path: Path) -> None:
    (guard,) = [rest for w, rest in dockerfile() if w == "RUN" and "list people" in rest]
    code = shlex.split(guard)[2]
    for case, people in (("clean", (ROOT / "rules/people.yaml").read_text()), ("listed", "people:\n  - name: A B\n")):
        rules = tmp_path / case
        rules.mkdir()
        shutil.copy(ROOT / "rules/incidents.yaml", rules)
        (rules / "people.yaml").write_text(people)
        done = subprocess.run([sys.executable, "-c", code.replace("/app/defaults/rules", str(rules))],
                              capture_output=True, text=True, check=False)
        assert (done.returncode, "people.yaml" in done.stderr) == ((0, False) if case == "clean" else (1, True))


# -- compose -----------------------------------------------------------------------------------

def test_compose_file_runs_one_locked_down_service() -> None:
    compose = YAML(typ="safe").load((ROOT / "compose.yaml").read_text())
    ((_name, service),) = compose["services"].items()
    assert service["build"] == "." and service["restart"] == "unless-stopped"
    assert "watcher.env" in [e if isinstance(e, str) else e["path"] for e in service["env_file"]]
    env = docker_env()
    mounts = dict(v.split(":")[:2] for v in service["volumes"])  # volume -> path in the container
    for path in (env["WATCHER_STATE"], env["WATCHER_RULES"], str(PurePosixPath(env["WATCHER_FEEDS"]).parent)):
        volume = next(v for v, p in mounts.items() if p == path)
        assert volume in compose["volumes"], f"{volume} is not a named volume"
    assert service["read_only"] is True and any(t.split(":")[0] == "/tmp" for t in service["tmpfs"])
    assert service["security_opt"] == ["no-new-privileges:true"] and service["cap_drop"] == ["ALL"]
    logging = service["logging"]
    assert logging["driver"] == "json-file" and {"max-size", "max-file"} <= set(logging["options"])


# -- the entry point -------------------------------------------------------------------------

def run_entrypoint(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    shipped = tmp_path / "shipped"
    if not shipped.exists():
        (shipped / "rules").mkdir(parents=True)
        for name in ("people.yaml", "incidents.yaml"):
            shutil.copy(ROOT / "rules" / name, shipped / "rules")
        shutil.copy(ROOT / "feeds.yaml", shipped)
    full = {"PATH": os.environ["PATH"], "SEED_FROM": str(shipped), **env}
    return subprocess.run(["sh", str(ENTRYPOINT), "sh", "-c", "echo handed over: $0", "ok"],
                          env=full, capture_output=True, text=True, check=False)


def test_entrypoint_is_valid_shell() -> None:
    for script in (ENTRYPOINT, CONTRIB / "watcherctl"):
        assert subprocess.run(["sh", "-n", str(script)], capture_output=True, check=False).returncode == 0, script
        assert "set -eu" in script.read_text() and "umask 077" in script.read_text()


def test_entrypoint_seeds_empty_volumes_privately_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"WATCHER_STATE": str(data / "state"), "WATCHER_RULES": str(data / "rules"),
           "WATCHER_FEEDS": str(data / "feeds" / "feeds.yaml")}
    done = run_entrypoint(tmp_path, **env)
    assert done.returncode == 0 and done.stdout == "handed over: ok\n", done.stderr
    assert sorted(p.name for p in (data / "rules").iterdir()) == ["incidents.yaml", "people.yaml"]
    assert (data / "feeds" / "feeds.yaml").read_text() == (ROOT / "feeds.yaml").read_text()
    for folder in ("state", "rules", "feeds"):
        assert (data / folder).stat().st_mode & 0o777 == 0o700
    assert {p.stat().st_mode & 0o777 for p in [*(data / "rules").iterdir(), data / "feeds" / "feeds.yaml"]} == {0o600}
    # a second start leaves the monitors' edits alone
    (data / "rules" / "people.yaml").write_text("people: []  # edited\n")
    (data / "rules" / "incidents.yaml").unlink()
    (data / "feeds" / "feeds.yaml").write_text("sources: []\n")
    assert run_entrypoint(tmp_path, **env).returncode == 0
    assert sorted(p.name for p in (data / "rules").iterdir()) == ["people.yaml"]
    assert (data / "feeds" / "feeds.yaml").read_text() == "sources: []\n"


def test_entrypoint_refuses_a_folder_it_cannot_use(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    done = run_entrypoint(tmp_path, WATCHER_STATE=str(blocker), WATCHER_RULES=str(tmp_path / "r"),
                          WATCHER_FEEDS=str(tmp_path / "f" / "feeds.yaml"))
    assert done.returncode == 1 and "handed over" not in done.stdout
    assert f"{blocker} is not a folder" in done.stderr


# -- the health check ------------------------------------------------------------------------

def healthcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("watcher_healthcheck", CONTRIB / "healthcheck.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_healthcheck_reads_the_newest_poll(tmp_path: Path) -> None:
    check = healthcheck().check
    now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    missing = (f"unhealthy: no database at {tmp_path / 'watcher.db'}"
               " (watcher has not started, or WATCHER_STATE points elsewhere)")
    assert check(tmp_path, None, 7200, now) == (False, missing)
    store = Store(tmp_path / "watcher.db", key=None)
    store.ensure_source("a", "rss")
    store.ensure_source("b", "rss")
    assert check(tmp_path, None, 7200, now) == (False, "unhealthy: no source has been polled yet")
    store.update_source("a", last_polled=iso(now - timedelta(hours=5)))
    store.update_source("b", last_polled=iso(now - timedelta(minutes=90)))
    assert check(tmp_path, None, 7200, now)[0] is True
    healthy, line = check(tmp_path, None, 7200, now + timedelta(hours=1))
    assert not healthy and "no source polled for 150 min" in line
    store.close()


def test_healthcheck_script_exit_code(tmp_path: Path) -> None:
    store = Store(tmp_path / "watcher.db", key=None)
    store.ensure_source("a", "rss")
    store.update_source("a", last_polled=iso(datetime.now(UTC)))
    store.close()
    env = {"PATH": os.environ["PATH"], "WATCHER_STATE": str(tmp_path)}
    ok = subprocess.run([sys.executable, str(CONTRIB / "healthcheck.py"), "7200"], env=env,
                        capture_output=True, text=True, check=False)
    assert ok.returncode == 0 and ok.stdout.startswith("healthy"), ok.stdout + ok.stderr
    gone = subprocess.run([sys.executable, str(CONTRIB / "healthcheck.py")], capture_output=True, text=True, check=False,
                          env={**env, "WATCHER_STATE": str(tmp_path / "nowhere")})
    assert gone.returncode == 1 and gone.stdout.startswith("unhealthy")


# -- the env example ---------------------------------------------------------------------------

def variables_read_by_the_code() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "watcher").rglob("*.py"):
        found |= set(re.findall(r"""["'](WATCHER_[A-Z0-9_]+)["']""", path.read_text(encoding="utf-8")))
    return found


def test_env_example_lists_every_variable_the_code_reads() -> None:
    text = (CONTRIB / "watcher.env.example").read_text()
    listed = set(re.findall(r"^#?(WATCHER_[A-Z0-9_]+)=", text, flags=re.MULTILINE))
    read = variables_read_by_the_code()
    assert len(read) > 20  # the grep still finds them
    assert not read - listed, f"add to contrib/watcher.env.example, with a line saying what it does: {read - listed}"


def test_env_example_is_safe_for_systemd_and_compose() -> None:
    # systemd keeps a trailing "# comment" as part of the value: a setting is alone on its line
    for number, line in enumerate((CONTRIB / "watcher.env.example").read_text().splitlines(), 1):
        if re.match(r"#?WATCHER_", line):
            assert re.fullmatch(r"#WATCHER_[A-Z0-9_]+=\S*", line), f"line {number}: {line!r}"
        else:
            assert line in ("", "#") or line.startswith("# "), f"line {number}: {line!r}"
