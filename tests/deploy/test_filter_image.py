#!/usr/bin/env python3
"""The content-filter image (deploy/filter: rspamd, redis, clamd, clamav-milter from Debian's
packages) with the shipped configuration of deploy/config/{rspamd,clamav}, in front of the
host's smtp-mta: GTUBE is rejected by rspamd, EICAR by ClamAV, clean mail arrives with the
filters' headers.

The containers run on a Docker network of their own with no way out (`--internal`), named as
in deploy/docker-compose.yml (`rspamd-redis`, `clamd`) so the shipped configs work unchanged;
the host's smtp-mta reaches the milters at their addresses on that bridge (an internal network
publishes no ports). rspamd's DNS lookups (RBLs) fail at once: the network has no way out. clamd gets a signature database made here
(EICAR as an `.ndb` signature) instead of freshclam's download. The image is built by
deploy/filter/build (reused when deploy/filter/ did not change).

Run: /usr/bin/python3 tests/deploy/test_filter_image.py   (MAILSTACK_BIN: the binaries' folder)
Closing line: `filter image: N passed, N failed`."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

from filters import EICAR, GTUBE  # noqa: E402
from harness import Stack, wait_for  # noqa: E402

CONFIG = os.path.join(ROOT, "deploy", "config")
IMAGE = "mailstack-filter:local"


def docker(*args, check=True):
    r = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=600)
    if check and r.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {r.stderr}")
    return r.stdout.strip()


class FilterImageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        subprocess.run([os.path.join(ROOT, "deploy", "filter", "build")], check=True,
                       stdout=subprocess.DEVNULL)
        cls.tmp = tempfile.mkdtemp(prefix="mailstack-filter-image-")
        cls.db = os.path.join(cls.tmp, "clamav")
        os.makedirs(cls.db)
        with open(os.path.join(cls.db, "mailstack-test.ndb"), "w") as f:
            f.write(f"Mailstack.Test.EICAR:0:*:{EICAR.encode().hex()}\n")
        os.chmod(cls.tmp, 0o755)
        os.chmod(cls.db, 0o755)
        cls.suffix = uuid.uuid4().hex[:8]
        cls.net = f"mailstack-filter-test-{cls.suffix}"
        cls.containers = []
        docker("network", "create", "--internal", cls.net)
        common = ["--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges:true",
                  "--tmpfs", "/tmp", "--network", cls.net]
        try:
            cls.start_container("rspamd-redis", common + ["--user", "913:913", "--tmpfs",
                                              "/var/lib/redis:uid=913,gid=913"], "redis")
            cls.start_container("clamd", common + ["--user", "912:912",
                                       "-v", f"{CONFIG}/clamav:/etc/clamav-mailstack:ro",
                                       "-v", f"{cls.db}:/var/lib/clamav:ro"], "clamd")
            cls.start_container("clamav-milter", common + ["--user", "912:912",
                                               "-v", f"{CONFIG}/clamav:/etc/clamav-mailstack:ro"],
                    "clamav-milter")
            cls.start_container("rspamd", common + [
                "--user", "911:911", "--tmpfs", "/run/rspamd:uid=911,gid=911,mode=0750",
                "--tmpfs", "/var/lib/rspamd:uid=911,gid=911", "-e", "RSPAMD_PASSWORD=test-pw",
                "-v", f"{CONFIG}/rspamd/local.d:/etc/rspamd/local.d:ro",
                "-v", f"{CONFIG}/rspamd/override.d:/etc/rspamd/override.d:ro"], "rspamd")
            for name, prog in (("rspamd-redis", "redis"), ("clamd", "clamd"),
                               ("clamav-milter", "clamav-milter"), ("rspamd", "rspamd")):
                wait_for(lambda: cls.healthy(name, prog), timeout=240, what=f"{name} healthy")
        except BaseException:
            cls.tearDownClass()
            raise
        cls.rspamd_milter = f"inet:{cls.address('rspamd')}:11332"
        cls.clamav_milter = f"inet:{cls.address('clamav-milter')}:7357"

    @classmethod
    def address(cls, alias):
        return docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                      f"{alias}-{cls.suffix}")

    @classmethod
    def start_container(cls, alias, args, program):
        name = f"{alias}-{cls.suffix}"
        docker("run", "-d", "--name", name, "--network-alias", alias, *args, IMAGE, program)
        cls.containers.append(name)

    @classmethod
    def healthy(cls, alias, program):
        name = f"{alias}-{cls.suffix}"
        if docker("inspect", "-f", "{{.State.Running}}", name) != "true":
            raise AssertionError(f"{name} stopped:\n{docker('logs', name, check=False)}")
        return subprocess.run(["docker", "exec", name, "/usr/local/bin/healthcheck", program],
                              capture_output=True).returncode == 0

    @classmethod
    def tearDownClass(cls):
        for name in reversed(cls.containers):
            docker("rm", "-f", name, check=False)
        docker("network", "rm", cls.net, check=False)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="mailstack-filter-image-stack-")
        self.stack = Stack(self.dir, extra={"smtp_mta": {"milters": [
            self.clamav_milter, self.rspamd_milter]}})
        self.stack.add_user("alice@example.com")
        self.stack.start("lmtp-mda")
        self.stack.start("smtp-mta")

    def tearDown(self):
        self.stack.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def swaks(self, *args, stdin=None):
        r = subprocess.run(["swaks", "--server", f"127.0.0.1:{self.stack.smtp_port}",
                            "--from", "sender@remote.test", "--to", "alice@example.com",
                            "--timeout", "60", *args],
                           input=stdin, capture_output=True, text=True, timeout=120)
        return r.stdout

    def test_gtube_eicar_and_clean_mail(self):
        out = self.swaks("--body", f"Test\n{GTUBE}\n")
        self.assertRegex(out, r"<\*\* 554 5\.7\.1 .*Gtube pattern", out)
        out = self.swaks("--body", "See attached.", "--attach", "-", stdin=EICAR)
        self.assertRegex(out, r"<\*\* 550 5\.7\.1 Virus found: Mailstack\.Test\.EICAR", out)
        out = self.swaks("--header", "Subject: minutes", "--body",
                         "The minutes of the meeting are below, as agreed yesterday.")
        self.assertIn("<-  250 ", out)
        msgs = wait_for(lambda: self.stack.messages("alice@example.com"), timeout=30,
                        what="the clean message")
        text = msgs[0].decode()
        for h in ("X-Virus-Status: Clean", "X-Spamd-Result:", "X-Rspamd-Queue-Id:",
                  "X-Spam-Status: No"):
            self.assertIn(h, text)
        self.assertEqual(len(msgs), 1)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    print(f"filter image: {result.testsRun - failed} passed, {failed} failed")
    sys.exit(1 if failed or not result.testsRun else 0)
