"""A real OpenLDAP slapd for the end-to-end tests: the fixture directory of
crates/directory/tests/fixtures/ldap on a free loopback port, stoppable and restartable."""
import os
import shutil
import socket
import subprocess
import time

from harness import free_port, wait_for

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                        "crates", "directory", "tests", "fixtures", "ldap")
SERVICE_DN = "cn=mailstack,ou=services,dc=example,dc=com"
SERVICE_PASSWORD = "service-secret"


class Slapd:
    def __init__(self, workdir):
        self.dir = workdir
        os.makedirs(os.path.join(workdir, "db"), exist_ok=True)
        self.port = free_port()
        self.url = f"ldap://127.0.0.1:{self.port}"
        conf = open(os.path.join(FIXTURES, "slapd.conf.in")).read()
        conf = conf.replace("@DIR@", workdir).replace("@FIXTURES@", os.path.abspath(FIXTURES))
        self.conf = os.path.join(workdir, "slapd.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        subprocess.run(["slapadd", "-f", self.conf, "-l", os.path.join(FIXTURES, "example.ldif")],
                       check=True, capture_output=True)
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(["slapd", "-f", self.conf, "-h", f"{self.url}/", "-d", "0"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def up():
            if self.proc.poll() is not None:
                raise AssertionError("slapd exited")
            r = subprocess.run(["ldapsearch", "-x", "-H", self.url, "-D", SERVICE_DN, "-w", SERVICE_PASSWORD,
                                "-b", "dc=example,dc=com", "-s", "base", "(objectClass=*)", "dn"],
                               capture_output=True)
            return r.returncode == 0
        wait_for(up, what="slapd")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def add(self, ldif):
        subprocess.run(["ldapadd", "-x", "-H", self.url, "-D", "cn=admin,dc=example,dc=com", "-w", "admin-secret"],
                       input=ldif.encode(), check=True, capture_output=True)
