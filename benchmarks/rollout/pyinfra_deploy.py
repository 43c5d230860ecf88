"""The rollout of the benchmark as a pyinfra deploy: the same work as deployer.yml
(or, with BENCH_SERVICE=process in the environment, as deployer-process.yml)."""

import os
from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server, systemd

HERE = Path(__file__).resolve().parent

files.directory(name="app directory", path="/srv/bench/app", mode="755")
for item in ("app.py", "data.json", "README.txt"):
    files.put(name=f"app files ({item})", src=str(HERE / "files" / item), dest=f"/srv/bench/app/{item}", mode="644")
files.template(
    name="app config",
    src=str(HERE / "templates" / "app.conf.j2"),
    dest="/srv/bench/app/app.conf",
    mode="644",
    app_name="bench-app",
    app_port=8080,
    app_workers=4,
    inventory_hostname=host.name,
)
files.line(name="workers setting", path="/srv/bench/app/settings.ini", line="^workers", replace="workers = 4")
server.shell(
    name="initialise data",
    commands=["test -e /srv/bench/app/.initialized || python3 /srv/bench/app/app.py init"],
)
if os.environ.get("BENCH_SERVICE") == "process":
    server.shell(
        name="service running",
        commands=["test -e /srv/bench/app/app.pid || { nohup python3 /srv/bench/app/app.py serve </dev/null >/dev/null 2>&1 & echo $! > /srv/bench/app/app.pid; }"],
    )
else:
    files.put(name="unit file", src=str(HERE / "files" / "bench-app.service"), dest="/etc/systemd/system/bench-app.service", mode="644")
    systemd.service(name="service running", service="bench-app", running=True, enabled=True)
