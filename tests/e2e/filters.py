"""Real content filters for the end-to-end tests, from Debian's packages: rspamd (with its own
redis for Bayes) and ClamAV (clamd with a signature database the test writes, and clamav-milter),
each in a temporary directory on free loopback ports, with no system daemon, no default port and
no network access (rspamd's DNS points at a loopback port nobody listens on; no module that
downloads maps is configured; clamd gets no freshclam).

    redis = Redis(dir); redis.start()
    rspamd = Rspamd(dir, redis_port=redis.port); rspamd.start()   # milter on rspamd.milter_port
    clamd = Clamd(dir); clamd.start()                              # EICAR known
    milter = ClamavMilter(dir, clamd); milter.start()             # milter on milter.port

rspamd's thresholds here are the stock ones (`reject = 15`, `add_header = 6`; greylisting off).
GTUBE is rspamd 3.4's reject pattern (the add-header GTUBE variants need `enable_test_patterns`,
which is not for production). For the "add header, do not reject" band a test rule gives
`MAILSTACK_TEST_JUNK` (score 8) to a message whose Subject contains `mailstack-junk-test`.
"""
import json
import os
import shutil
import socket
import subprocess
import urllib.error
import urllib.request

from harness import free_port, wait_for

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
EICAR = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
JUNK_SUBJECT = "mailstack-junk-test"
CONTROLLER_PASSWORD = "learn-secret"
# Compiled hyperscan databases, shared by every rspamd the tests start (the first start compiles
# them for ~20 s; later ones load them).
HS_CACHE = "/tmp/mailstack-e2e-rspamd-hs"


def _privileged():
    return os.geteuid() == 0


def _give_to(path, user):
    """As root, hand a test directory to the daemon's own system user (rspamd refuses to run
    its workers as root)."""
    if _privileged():
        shutil.chown(path, user, user)
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                shutil.chown(os.path.join(root, name), user, user)


def _port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class _Daemon:
    name = "daemon"

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, self.name)
        os.makedirs(self.dir, exist_ok=True)
        self.proc = None
        self.log_path = os.path.join(self.dir, "stdout.log")

    def _spawn(self, cmd):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        log.close()

    def _check_alive(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.logs()}")

    def logs(self):
        out = []
        for root, _dirs, files in os.walk(self.dir):
            for f in files:
                if f.endswith(".log"):
                    with open(os.path.join(root, f), errors="replace") as fh:
                        out.append(f"--- {f}\n" + fh.read()[-4000:])
        return "\n".join(out)

    def stop(self):
        """SIGTERM (SIGKILL after 10 s) the daemon this object started, and wait for it."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Redis(_Daemon):
    """redis-server without persistence, for rspamd's Bayes statistics."""
    name = "redis"

    def __init__(self, workdir):
        super().__init__(workdir)
        self.port = free_port()

    def start(self):
        self._spawn(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                     "--save", "", "--appendonly", "no", "--dir", self.dir,
                     "--logfile", os.path.join(self.dir, "redis.log")])

        def up():
            self._check_alive()
            return _port_open(self.port)
        wait_for(up, what="redis")


class Rspamd(_Daemon):
    """rspamd with a normal worker, a controller (password-protected from everywhere: no secure
    IPs) and the proxy worker in milter mode, configured from scratch (only the modules named
    below; Debian's stock module list pulls maps from maps.rspamd.com)."""
    name = "rspamd"

    def __init__(self, workdir, redis_port, reject=15, add_header=6):
        super().__init__(workdir)
        self.milter_port = free_port()
        self.normal_port = free_port()
        self.controller_port = free_port()
        self.dns_port = free_port()  # nothing listens: lookups fail at once
        self.redis_port = redis_port
        for d in ("db", "run", "log"):
            os.makedirs(os.path.join(self.dir, d), exist_ok=True)
        with open(os.path.join(self.dir, "tld.dat"), "w") as f:
            f.write("com\nnet\norg\ntest\nexample\n")
        with open(os.path.join(self.dir, "junk-subject.map"), "w") as f:
            f.write(f"/{JUNK_SUBJECT}/i\n")
        with open(os.path.join(self.dir, "rspamd.conf"), "w") as f:
            f.write(RSPAMD_CONF.format(
                milter=self.milter_port, normal=self.normal_port,
                controller=self.controller_port, dns=self.dns_port, redis=redis_port,
                reject=reject, add_header=add_header, password=CONTROLLER_PASSWORD,
                hs_cache=HS_CACHE))
        self.controller_url = f"http://127.0.0.1:{self.controller_port}"

    def start(self):
        os.makedirs(HS_CACHE, exist_ok=True)
        _give_to(HS_CACHE, "_rspamd")
        _give_to(self.dir, "_rspamd")
        cmd = ["rspamd", "--no-fork", "--config", os.path.join(self.dir, "rspamd.conf")]
        for var, value in (("CONFDIR", "/etc/rspamd"), ("LOCAL_CONFDIR", self.dir),
                           ("DBDIR", os.path.join(self.dir, "db")),
                           ("RUNDIR", os.path.join(self.dir, "run")),
                           ("LOGDIR", os.path.join(self.dir, "log"))):
            cmd += ["--var", f"{var}={value}"]
        if _privileged():
            cmd += ["-u", "_rspamd", "-g", "_rspamd"]
        self._spawn(cmd)

        def up():
            self._check_alive()
            return (_port_open(self.milter_port) and _port_open(self.normal_port)
                    and self.controller("/ping")[0] == 200)
        wait_for(up, timeout=90, what="rspamd")

    def controller(self, path, data=None, password=CONTROLLER_PASSWORD):
        """(status, body) of a request to the controller."""
        req = urllib.request.Request(self.controller_url + path, data=data,
                                     headers={"Password": password} if password else {})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except OSError:
            return 0, ""

    def learned(self):
        """{"BAYES_SPAM": learns, "BAYES_HAM": learns} from the controller's /stat."""
        status, body = self.controller("/stat")
        if status != 200:
            raise AssertionError(f"/stat: {status} {body}")
        stat = json.loads(body)
        return {s["symbol"]: s.get("revision", 0) for s in stat.get("statfiles", [])}


RSPAMD_CONF = """
# Written by tests/e2e/filters.py. Stock symbols, scores and actions; only local modules.
.include "$CONFDIR/metrics.conf"
.include "$CONFDIR/actions.conf"
.include "$CONFDIR/groups.conf"
.include "$CONFDIR/composites.conf"
.include "$CONFDIR/statistic.conf"
lua = "$RULESDIR/rspamd.lua"
modules {{ path = "${{PLUGINSDIR}}"; }}

options {{
  pidfile = "$RUNDIR/rspamd.pid";
  cache_file = "$DBDIR/symbols.cache";
  dynamic_conf = "$DBDIR/rspamd_dynamic";
  history_file = "$DBDIR/rspamd.history";
  stats_file = "$DBDIR/stats.ucl";
  control_socket = "$DBDIR/rspamd.sock mode=0600";
  hs_cache_dir = "{hs_cache}";
  explicit_modules = ["settings", "bayes_expiry"];
  allow_raw_input = true;
  task_timeout = 8s;
  # A short public-suffix list: the stock one takes rspamd 20-40 s to compile at every start.
  url_tld = "$LOCAL_CONFDIR/tld.dat";
  dns {{ nameserver = ["127.0.0.1:{dns}"]; timeout = 0.3s; retransmits = 1; }}
}}
logging {{ type = "file"; filename = "$LOGDIR/rspamd.log"; level = "info"; }}

actions {{ reject = {reject}; add_header = {add_header}; greylist = null; }}

redis {{ servers = "127.0.0.1:{redis}"; }}

# Headers on every message (also from loopback and authenticated clients: the tests send from
# 127.0.0.1); spam headers that came with the message are removed first, so a sender cannot
# forge a verdict.
milter_headers {{
  extended_spam_headers = true;
  skip_local = false;
  skip_authenticated = false;
  use = ["x-spamd-result", "x-rspamd-server", "x-rspamd-queue-id", "x-spam-status",
         "x-spam-level", "remove-headers"];
  routines {{
    remove-headers {{
      headers {{
        "X-Spam" = 0; "X-Spam-Flag" = 0; "X-Spam-Status" = 0; "X-Spam-Level" = 0;
        "X-Spamd-Result" = 0; "X-Spamd-Bar" = 0; "X-Rspamd-Action" = 0; "X-Virus" = 0;
      }}
    }}
  }}
}}

multimap {{
  MAILSTACK_TEST_JUNK {{
    type = "header";
    header = "Subject";
    regexp = true;
    map = "$LOCAL_CONFDIR/junk-subject.map";
    score = 8.0;
    description = "mailstack e2e: a Subject in the add-header band";
  }}
}}

worker "normal" {{
  bind_socket = "127.0.0.1:{normal}";
  count = 1;
}}
worker "controller" {{
  bind_socket = "127.0.0.1:{controller}";
  count = 1;
  password = "{password}";
  enable_password = "{password}";
  secure_ip = "192.0.2.1";
}}
worker "rspamd_proxy" {{
  bind_socket = "127.0.0.1:{milter}";
  milter = yes;
  timeout = 120s;
  count = 1;
  upstream "local" {{ default = yes; hosts = "127.0.0.1:{normal}"; }}
  spam_header = "X-Spam";
  reject_message = "Spam message rejected";
}}
"""


class Clamd(_Daemon):
    """clamd on a loopback TCP port with one signature file made here: EICAR as an extended
    (`.ndb`) signature, which matches the string anywhere in any scanned file, MIME parts
    included."""
    name = "clamd"

    def __init__(self, workdir):
        super().__init__(workdir)
        self.port = free_port()
        self.db = os.path.join(self.dir, "db")
        os.makedirs(self.db, exist_ok=True)
        os.makedirs(os.path.join(self.dir, "tmp"), exist_ok=True)
        with open(os.path.join(self.db, "mailstack-test.ndb"), "w") as f:
            f.write(f"Mailstack.Test.EICAR:0:*:{EICAR.encode().hex()}\n")
        self.conf = os.path.join(self.dir, "clamd.conf")
        with open(self.conf, "w") as f:
            f.write(f"""Foreground yes
TCPSocket {self.port}
TCPAddr 127.0.0.1
DatabaseDirectory {self.db}
TemporaryDirectory {os.path.join(self.dir, "tmp")}
LogFile {os.path.join(self.dir, "clamd.log")}
PidFile {os.path.join(self.dir, "clamd.pid")}
LogVerbose yes
ScanMail yes
Bytecode no
""")

    def start(self):
        self._spawn(["clamd", "--config-file", self.conf])

        def up():
            self._check_alive()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"zPING\0")
                    return s.recv(16).startswith(b"PONG")
            except OSError:
                return False
        wait_for(up, timeout=60, what="clamd")


class ClamavMilter(_Daemon):
    """clamav-milter on a loopback port, asking `clamd`: infected mail is rejected, clean mail
    gets `X-Virus-Scanned` / `X-Virus-Status`, and clamd being down defers (4xx)."""
    name = "clamav-milter"

    def __init__(self, workdir, clamd):
        super().__init__(workdir)
        self.port = free_port()
        self.conf = os.path.join(self.dir, "clamav-milter.conf")
        with open(self.conf, "w") as f:
            f.write(f"""Foreground yes
MilterSocket inet:{self.port}@127.0.0.1
ClamdSocket tcp:127.0.0.1:{clamd.port}
PidFile {os.path.join(self.dir, "clamav-milter.pid")}
LogFile {os.path.join(self.dir, "clamav-milter.log")}
LogVerbose yes
LogInfected Basic
OnClean Accept
OnInfected Reject
OnFail Defer
RejectMsg Virus found: %v
AddHeader Replace
ReadTimeout 30
""")

    def start(self):
        self._spawn(["clamav-milter", "--config-file", self.conf])

        def up():
            self._check_alive()
            return _port_open(self.port)
        wait_for(up, timeout=30, what="clamav-milter")
