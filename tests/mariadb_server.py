"""A private MariaDB for tests: its own data dir, socket and free port (never the machine's server on 3306).

`mariadb-install-db` makes a data dir whose root logs in over the socket without a password; sites get
their own database and user, created as Frappe's `bench new-site` does (user = db_name, host '%'), and
the tables Frappe keeps its settings in (`tabSingles`, `tabDefaultValue`, `tabInstalled Application`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.redis_server import free_port

FRAPPE_TABLES = (
    "CREATE TABLE `tabSingles` (doctype VARCHAR(140), field VARCHAR(140), value TEXT, "
    "KEY singles_doctype_field_index (doctype, field))",
    "CREATE TABLE `tabDefaultValue` (name VARCHAR(140) PRIMARY KEY, parent VARCHAR(140), defkey VARCHAR(140), "
    "defvalue TEXT)",
    "CREATE TABLE `tabInstalled Application` (name VARCHAR(140) PRIMARY KEY, parent VARCHAR(140), idx INT, "
    "app_name VARCHAR(140))",
)


def binaries() -> tuple[str, str] | None:
    """(mariadbd, mariadb-install-db), or None when MariaDB is not installed here."""
    server = shutil.which("mariadbd") or next((p for p in ("/usr/sbin/mariadbd", "/usr/sbin/mysqld")
                                               if os.access(p, os.X_OK)), None)
    install = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
    return (server, install) if server and install else None


class MariaDBProcess:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.port = free_port()
        self.socket = str(directory / "mysqld.sock")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> MariaDBProcess:
        found = binaries()
        assert found, "mariadbd not found"
        server, install = found
        data = self.dir / "data"
        user = ["--user=root"] if os.geteuid() == 0 else []
        subprocess.run([install, "--no-defaults", f"--datadir={data}", "--auth-root-authentication-method=normal",
                        "--skip-test-db", *user], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=120)
        self.proc = subprocess.Popen(
            [server, "--no-defaults", f"--datadir={data}", f"--socket={self.socket}", f"--port={self.port}",
             "--bind-address=127.0.0.1", f"--pid-file={self.dir / 'mysqld.pid'}", "--skip-log-bin",
             "--innodb-buffer-pool-size=16M", f"--log-error={self.dir / 'error.log'}", *user],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                self.root().close()
                return self
            except Exception:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    log = (self.dir / "error.log").read_text()[-2000:]
                    raise RuntimeError(f"mariadbd did not start: {log}") from None
                time.sleep(0.2)

    def root(self, database: str | None = None) -> Any:
        import pymysql

        return pymysql.connect(unix_socket=self.socket, user="root", database=database, autocommit=True)

    def create_site_db(self, name: str, password: str, *, enable_scheduler: str | None = "1",
                       time_zone: str | None = None, installed_apps: list[str] | None = None) -> dict[str, Any]:
        """A Frappe-like site database; returns the keys Frappe writes into site_config.json."""
        connection = self.root()
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}`")
            cursor.execute(f"CREATE USER '{name}'@'%%' IDENTIFIED BY %s", (password,))
            cursor.execute(f"GRANT ALL PRIVILEGES ON `{name}`.* TO '{name}'@'%'")
            cursor.execute(f"USE `{name}`")
            for statement in FRAPPE_TABLES:
                cursor.execute(statement)
            if enable_scheduler is not None:
                cursor.execute("INSERT INTO `tabSingles` VALUES ('System Settings', 'enable_scheduler', %s)",
                               (enable_scheduler,))
            if time_zone is not None:
                cursor.execute("INSERT INTO `tabSingles` VALUES ('System Settings', 'time_zone', %s)", (time_zone,))
            if installed_apps is not None:
                cursor.execute("INSERT INTO `tabDefaultValue` VALUES ('dv1', '__global', 'installed_apps', %s)",
                               (json.dumps(installed_apps),))
        connection.close()
        return {"db_name": name, "db_password": password, "db_host": "127.0.0.1", "db_port": self.port,
                "db_type": "mariadb"}

    def single(self, database: str, field: str) -> str | None:
        connection = self.root(database)
        with connection.cursor() as cursor:
            cursor.execute("SELECT value FROM `tabSingles` WHERE doctype = 'System Settings' AND field = %s",
                           (field,))
            row = cursor.fetchone()
        connection.close()
        return row[0] if row else None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
