"""`catalog-sync run` starts what docker-compose runs, bound to its own host, port and folder."""

from __future__ import annotations

from pathlib import Path

from worker.cli.run import COMMANDS_FILE, commands


def test_run_binds_the_deploy_commands_to_its_host_port_and_folder(tmp_path: Path) -> None:
    assert COMMANDS_FILE.is_file()
    assert COMMANDS_FILE.parent.parent == Path(__file__).resolve().parents[2]  # the checkout
    argvs = commands("127.0.0.1", 9999, tmp_path)
    assert set(argvs) == {"webhook", "worker", "beat"}
    webhook = argvs["webhook"]
    assert webhook[webhook.index("--bind") + 1] == "127.0.0.1:9999"
    beat = argvs["beat"]
    assert beat[beat.index("--schedule") + 1] == str(tmp_path / "celerybeat-schedule")
