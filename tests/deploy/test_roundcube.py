#!/usr/bin/env python3
"""Roundcube webmail against mailstack, seen through a browser.

The mailstack services run on the host (tests/e2e/harness.py: lmtp-mda, smtp-mta, imap-server,
submission on free 127.0.0.1 ports, a self-signed certificate for mx.test). The Roundcube image
(deploy/roundcube/build: Debian's roundcube packages; reused when deploy/roundcube/ did not
change) runs with the host's network, listening on 127.0.0.1 only, and reaches IMAP over
implicit TLS and submission over STARTTLS, verifying the certificate against the mounted CA file.
Headless Chromium (Debian's chromium + chromium-driver, python3-selenium) logs in as a user,
opens the INBOX and finds a message delivered over SMTP: its subject must be in the page and,
read by OCR (tesseract) from the screenshot, in the picture. It then writes a message in
Roundcube's compose form, which must arrive through submission (and be kept in Sent).

Run: /usr/bin/python3 tests/deploy/test_roundcube.py   (MAILSTACK_BIN: the binaries' folder)
Closing line: `roundcube: N passed, N failed`. Screenshots are kept; their paths are printed."""
import atexit
import os
import random
import re
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

from harness import Stack, free_port, http_get, wait_for  # noqa: E402

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.chrome.service import Service as ChromeService  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

IMAGE = "mailstack-roundcube:local"
ALICE = "alice@example.com"
BOB = "bob@example.com"
PASSWORD = "secret-pw"
# Plain words and a number: OCR reads them reliably at the elastic skin's sizes.
WORDS = ["Harbor", "Meadow", "Copper", "Lantern", "Orchard", "Granite"]


def docker(*args, check=True, timeout=120):
    r = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


FORWARDED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None


def http_login(url, user, password=PASSWORD, headers=None):
    """Roundcube's login form without a browser (its token and session cookie; the cookie is
    sent back as a browser talking HTTPS to the proxy would, Secure or not): the status (302
    when logged in), the Set-Cookie headers of the answer and the message shown, if any."""
    opener = urllib.request.build_opener(NoRedirect)
    with opener.open(urllib.request.Request(url, headers=headers or {}), timeout=30) as r:
        page = r.read().decode()
        cookies = r.headers.get_all("Set-Cookie") or []
    token = re.search(r'name="_token" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"_token": token, "_task": "login", "_action": "login",
                                   "_timezone": "UTC", "_url": "", "_user": user,
                                   "_pass": password}).encode()
    cookie = "; ".join(c.split(";")[0] for c in cookies)
    try:
        r = opener.open(urllib.request.Request(url + "?_task=login", data=form,
                                               headers={**(headers or {}), "Cookie": cookie}),
                        timeout=30)
    except urllib.error.HTTPError as e:
        r = e
    shown = re.findall(r'display_message\("([^"]*)"', r.read().decode(errors="replace"))
    return r.status, r.headers.get_all("Set-Cookie") or [], shown


def ocr(png):
    """The text tesseract reads in a PNG."""
    r = subprocess.run(["tesseract", png, "stdout"], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError(f"tesseract failed: {r.stderr}")
    return r.stdout


class RoundcubeTest(unittest.TestCase):
    """One stack, one Roundcube container and one browser for all tests (they take seconds each;
    starting them takes longer). Each test logs in as its own user on a fresh browser session."""

    tmp = None
    extra_containers = set()

    @classmethod
    def setUpClass(cls):
        atexit.register(cls._cleanup)
        cls.tmp = tempfile.mkdtemp(prefix="mailstack-roundcube-")
        cls.shots = os.path.join(cls.tmp, "screenshots")
        os.makedirs(cls.shots)
        cls.container = None
        cls.driver = None
        cls.stack = None
        try:
            cls._start()
        except BaseException:
            cls._cleanup()
            raise

    @classmethod
    def _start(cls):
        t = time.monotonic()
        r = subprocess.run([os.path.join(ROOT, "deploy", "roundcube", "build")],
                           capture_output=True, text=True, timeout=1200)
        if r.returncode != 0:
            raise AssertionError(f"deploy/roundcube/build failed:\n{r.stdout}\n{r.stderr[-4000:]}")
        print(f"\nimage {IMAGE} ready in {time.monotonic() - t:.1f}s "
              f"({r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ''})", flush=True)

        workdir = os.path.join(cls.tmp, "stack")
        os.makedirs(workdir)
        s = cls.stack = Stack(workdir)
        for user in (ALICE, BOB, "carol@example.com"):
            s.add_user(user, PASSWORD)
        for name in ("lmtp-mda", "smtp-mta", "imap-server", "submission"):
            s.start(name)

        # The CA file is the stack's self-signed certificate (CN=mx.test), mounted read-only.
        cls.port = free_port()
        cls.name = f"mailstack-roundcube-test-{uuid.uuid4().hex[:10]}"
        ca = os.path.join(s.dir, "tls", "cert.pem")
        os.chmod(ca, 0o644)  # read by www-data in the container
        cls.env = {
            "ROUNDCUBE_LISTEN": f"127.0.0.1:{cls.port}",
            "ROUNDCUBE_IMAP_HOST": f"ssl://127.0.0.1:{s.imaps_port}",
            "ROUNDCUBE_SMTP_HOST": f"tls://127.0.0.1:{s.submission_port}",
            "ROUNDCUBE_MANAGESIEVE_HOST": f"tls://127.0.0.1:{s.sieve_port}",
            "ROUNDCUBE_TLS_CA_FILE": "/etc/mailstack-ca.pem",
            "ROUNDCUBE_TLS_PEER_NAME": "mx.test",
            "ROUNDCUBE_DES_KEY": uuid.uuid4().hex[:24],
            "ROUNDCUBE_PRODUCT_NAME": "Mailstack Webmail",
            "ROUNDCUBE_USERNAME_DOMAIN": "example.com",
            # As behind Traefik: this peer's X-Forwarded-For/-Proto are believed.
            "ROUNDCUBE_TRUSTED_PROXIES": "127.0.0.0/8",
        }
        args = ["run", "-d", "--name", cls.name, "--network", "host",
                "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL",
                "--security-opt", "no-new-privileges",
                "-v", f"{ca}:/etc/mailstack-ca.pem:ro"]
        for k, v in cls.env.items():
            args += ["-e", f"{k}={v}"]
        docker(*args, IMAGE)
        cls.container = cls.name
        cls.url = f"http://127.0.0.1:{cls.port}/"
        cls.wait_up(cls.name, cls.url)

        opts = webdriver.ChromeOptions()
        opts.binary_location = "/usr/bin/chromium"
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--window-size=1280,900", "--force-device-scale-factor=2",
                  "--no-first-run", "--disable-extensions", "--disable-background-networking",
                  "--disable-sync", "--disable-component-update", "--lang=en-US",
                  f"--user-data-dir={os.path.join(cls.tmp, 'chromium')}"):
            opts.add_argument(a)
        service = ChromeService(executable_path="/usr/bin/chromedriver")
        cls.driver = webdriver.Chrome(options=opts, service=service)
        cls.driver.set_page_load_timeout(60)

    @classmethod
    def wait_up(cls, name, url):
        def up():
            state = docker("inspect", "-f", "{{.State.Running}}", name, check=False).stdout
            if state.strip() != "true":
                raise AssertionError(f"roundcube container stopped:\n{cls.logs(name)}")
            return http_get(url)[0] == 200
        wait_for(up, timeout=60, what=f"Roundcube's login page at {url}")

    @classmethod
    def logs(cls, name=None, tail="all"):
        name = name or cls.container
        if not name:
            return ""
        r = docker("logs", "--tail", tail, name, check=False)
        return r.stdout + r.stderr

    @classmethod
    def _cleanup(cls):
        """Browser, containers and services go, even after a failure or an interrupt (it also
        runs at exit); the screenshots stay (their paths are printed)."""
        if getattr(cls, "tmp", None) is None:
            return
        if cls.driver:
            try:
                cls.driver.quit()
            except Exception:
                pass
            cls.driver = None
        if cls.container:
            docker("rm", "-f", "-v", cls.container, check=False)
            cls.container = None
        for name in list(cls.extra_containers):
            docker("rm", "-f", "-v", name, check=False)
            cls.extra_containers.discard(name)
        if cls.stack:
            cls.stack.close()
            cls.stack = None
        for sub in ("stack", "chromium"):
            shutil.rmtree(os.path.join(cls.tmp, sub), ignore_errors=True)
        print(f"\nscreenshots kept in {cls.shots}", flush=True)
        cls.tmp = None

    @classmethod
    def tearDownClass(cls):
        cls._cleanup()

    def tearDown(self):
        # A failed test leaves a screenshot and the container's log (failures are added to the
        # result as they happen, before tearDown).
        result = self._outcome.result
        if self.driver and any(t is self for t, _ in result.failures + result.errors):
            self.screenshot("failure")
            print(f"\n--- roundcube container log ---\n{self.logs(tail='200')}", flush=True)

    # --- helpers -------------------------------------------------------------------------------
    def wait(self, timeout=30):
        return WebDriverWait(self.driver, timeout)

    def screenshot(self, label):
        path = os.path.join(self.shots, f"{self._testMethodName}-{label}.png")
        self.driver.save_screenshot(path)
        print(f"\nscreenshot: {path}", flush=True)
        return path

    def login(self, user, password=PASSWORD, url=None):
        d = self.driver
        d.get(url or self.url)
        d.delete_all_cookies()
        d.get(url or self.url)
        self.wait().until(EC.visibility_of_element_located((By.ID, "rcmloginuser")))
        d.find_element(By.ID, "rcmloginuser").send_keys(user)
        d.find_element(By.ID, "rcmloginpwd").send_keys(password)
        d.find_element(By.ID, "rcmloginsubmit").click()

    def login_ok(self, user, url=None):
        self.login(user, url=url)
        self.wait().until(EC.visibility_of_element_located((By.ID, "messagelist")))
        self.wait().until(lambda d: d.execute_script(
            "return window.rcmail && !rcmail.busy && rcmail.env.mailbox == 'INBOX'"))

    def subject(self):
        return f"{random.choice(WORDS)} {random.randint(10000, 99999)}"

    def deliver(self, to, subject):
        """A message from outside, to port 25 (smtp-mta), delivered through lmtp-mda."""
        with smtplib.SMTP("127.0.0.1", self.stack.smtp_port, timeout=30) as c:
            c.ehlo("sender.test")
            c.sendmail("someone@sender.test", [to],
                       f"From: Someone <someone@sender.test>\r\nTo: <{to}>\r\n"
                       f"Subject: {subject}\r\n\r\nHello from outside.\r\n")
        wait_for(lambda: any(subject.encode() in m for m in self.stack.messages(to)),
                 what=f"delivery of {subject!r} to {to}")

    def row_with(self, subject):
        return self.wait().until(EC.visibility_of_element_located(
            (By.XPATH, f"//table[@id='messagelist']//tr[.//*[contains(text(), '{subject}')]]")))

    # --- tests ---------------------------------------------------------------------------------
    def test_inbox_shows_a_delivered_message_in_the_page_and_the_screenshot(self):
        subject = self.subject()
        self.deliver(BOB, subject)
        self.login_ok(BOB)
        row = self.row_with(subject)
        self.assertIn("someone@sender.test", row.get_attribute("innerHTML") + row.text)
        self.assertRegex(self.driver.title, r"^(\(\d+\) )?Mailstack Webmail :: Inbox$")
        png = self.screenshot("inbox")
        text = ocr(png)
        word, number = subject.split()
        self.assertIn(word, text, f"OCR of {png} lacks {word!r}:\n{text}")
        self.assertIn(number, text, f"OCR of {png} lacks {number!r}:\n{text}")
        # Opening it shows the body, fetched over IMAP.
        row.click()
        self.wait().until(EC.frame_to_be_available_and_switch_to_it((By.ID, "messagecontframe")))
        try:
            body = self.wait().until(EC.visibility_of_element_located((By.ID, "messagebody")))
            self.assertIn("Hello from outside.", body.text)
        finally:
            self.driver.switch_to.default_content()
        self.screenshot("message")
        # Roundcube logged the login and no PHP error (e.g. a plugin's missing PHP extension).
        log = self.logs()
        self.assertRegex(log, r"Successful login for bob@example\.com")
        self.assertNotIn("PHP Error", log)
        self.assertNotIn("PHP Warning", log)

    def login_error(self, user, password=PASSWORD, url=None):
        """The error Roundcube shows after a failed login (not its "Loading..." message, which
        is shown while the form is sent)."""
        self.login(user, password, url=url)

        def shown(d):
            try:
                return " ".join(e.text for e in d.find_elements(
                    By.CSS_SELECTOR, "#messagestack div.error, #messagestack div.warning")
                    if e.is_displayed() and e.text)
            except StaleElementReferenceException:
                return ""
        text = self.wait().until(shown)
        self.assertEqual(self.driver.find_elements(By.ID, "messagelist"), [])
        self.assertTrue(self.driver.find_element(By.ID, "rcmloginuser").is_displayed())
        return text

    def test_wrong_password_is_refused(self):
        self.assertIn("Login failed", self.login_error("carol@example.com", "not-the-password"))

    def test_tls_certificates_are_verified_unless_turned_off(self):
        # Without the CA file the self-signed certificate is refused; with verification off it
        # is accepted; the des_key may come from a file (ROUNDCUBE_DES_KEY_FILE).
        keyfile = os.path.join(self.tmp, "des_key")
        with open(keyfile, "w") as f:
            f.write(uuid.uuid4().hex[:24] + "\n")
        os.chmod(keyfile, 0o644)
        base = {k: v for k, v in self.env.items() if k not in (
            "ROUNDCUBE_TLS_CA_FILE", "ROUNDCUBE_DES_KEY", "ROUNDCUBE_TRUSTED_PROXIES")}
        for verify in ("true", "false"):
            port = free_port()
            name = f"{self.name}-verify-{verify}"
            env = {**base, "ROUNDCUBE_LISTEN": f"127.0.0.1:{port}", "ROUNDCUBE_TLS_VERIFY": verify,
                   "ROUNDCUBE_DES_KEY_FILE": "/run/des_key"}
            args = ["run", "-d", "--name", name, "--network", "host", "--read-only",
                    "--tmpfs", "/tmp", "-v", f"{keyfile}:/run/des_key:ro"]
            for k, v in env.items():
                args += ["-e", f"{k}={v}"]
            self.extra_containers.add(name)
            docker(*args, IMAGE)
            try:
                url = f"http://127.0.0.1:{port}/"
                self.wait_up(name, url)
                if verify == "true":
                    self.assertIn("Connection to storage server failed",
                                  self.login_error(BOB, url=url))
                    self.assertIn("certificate verify failed", self.logs(name))
                else:
                    self.login_ok(BOB, url=url)
                    # No ROUNDCUBE_TRUSTED_PROXIES here: forwarded headers are not believed.
                    status, cookies, shown = http_login(url, BOB, headers=FORWARDED)
                    self.assertEqual(status, 302, shown)
                    self.assertFalse(any("secure" in c.lower() for c in cookies), cookies)
                    self.assertRegex(self.logs(name), r"Successful login for bob@example\.com "
                                                      r"\(ID: \d+\) from 127\.0\.0\.1 ")
                    self.assertRegex(self.logs(name), r"\n127\.0\.0\.1 127\.0\.0\.1 - - \[[^]]+\] "
                                                      r"\"POST /\?_task=login ")
            finally:
                docker("rm", "-f", "-v", name, check=False)
                self.extra_containers.discard(name)

    def test_compose_form_sends_through_submission(self):
        subject = self.subject()
        # A login without the domain: ROUNDCUBE_USERNAME_DOMAIN completes it, for IMAP and for
        # submission (smtp_user '%u').
        self.login_ok("alice")
        d = self.driver
        d.get(self.url + "?_task=mail&_action=compose")
        to = self.wait().until(EC.visibility_of_element_located(
            (By.CSS_SELECTOR, "#compose_to .recipient-input input")))
        to.send_keys(BOB + ",")
        d.find_element(By.ID, "compose-subject").send_keys(subject)
        d.find_element(By.ID, "composebody").send_keys("Written in Roundcube.\n")
        self.screenshot("compose")
        d.find_element(By.CSS_SELECTOR, "#compose-content .formbuttons button.send, "
                                        "button.btn.send").click()
        msgs = wait_for(lambda: [m for m in self.stack.messages(BOB) if subject.encode() in m],
                        timeout=30, what="the composed message in Bob's INBOX")
        msg = msgs[0].decode(errors="replace")
        self.assertIn(f"From: {ALICE}", msg)
        self.assertIn("Written in Roundcube.", msg)
        # Authenticated through submission as Alice (Received: ... with ESMTPSA).
        self.assertRegex(msg, r"with ESMTPSA id ")
        # Roundcube keeps a copy in Sent (IMAP APPEND to the store's .Sent folder).
        wait_for(lambda: any(subject.encode() in m for m in self.stack.messages(ALICE, "Sent")),
                 what="the copy in Alice's Sent folder")

    def test_vacation_rule_from_the_managesieve_plugin_is_stored_and_replies(self):
        # Settings -> Out of Office (managesieve plugin, talking ManageSieve to imap-server):
        # the rule is saved as the active script in Dovecot's layout and lmtp-mda answers with
        # it (the reply to a local sender goes through smtp-mta's relay listener back to her).
        carol = "carol@example.com"
        subject = self.subject()
        self.login_ok(carol)
        d = self.driver
        d.get(self.url + "?_task=settings&_action=plugin.managesieve-vacation")
        reason = self.wait().until(EC.visibility_of_element_located((By.ID, "vacation_reason")))
        d.find_element(By.ID, "vacation_subject").send_keys(f"Away {subject}")
        reason.send_keys("I am out of the office this week.")
        d.execute_script("var s = document.getElementById('vacation_status'); s.value = 'on';"
                         "s.dispatchEvent(new Event('change'));")
        self.screenshot("vacation-form")
        d.execute_script("rcmail.command('plugin.managesieve-save')")
        home = os.path.join(self.stack.store, "example.com", "carol")
        link = os.path.join(home, ".dovecot.sieve")
        # The plugin creates and activates an empty script at its first visit; the rule comes
        # with the save.
        def active_script():
            if not os.path.islink(link):
                return None
            with open(os.path.join(home, os.readlink(link))) as f:
                text = f.read()
            return text if "vacation" in text else None
        wait_for(active_script, what="the vacation rule in the active script")
        self.assertRegex(os.readlink(link), r"^sieve/[^/]+\.sieve$")
        script = active_script()
        self.assertIn("vacation", script)
        self.assertIn(f"Away {subject}", script)
        self.assertIn("I am out of the office this week.", script)
        log = self.logs()
        self.assertNotIn("PHP Error", log)
        # A message from a local sender gets the reply, with the RFC 3834 header.
        with smtplib.SMTP("127.0.0.1", self.stack.smtp_port, timeout=30) as c:
            c.ehlo("sender.test")
            c.sendmail(ALICE, [carol], f"From: <{ALICE}>\r\nTo: <{carol}>\r\n"
                                       f"Subject: question {subject}\r\n\r\nAre you there?\r\n")
        wait_for(lambda: any(f"Away {subject}".encode() in m for m in self.stack.messages(ALICE)),
                 timeout=60, what="the vacation reply in alice's INBOX")
        reply = next(m for m in self.stack.messages(ALICE) if f"Away {subject}".encode() in m)
        self.assertIn(b"Auto-Submitted: auto-replied", reply)
        self.assertIn(b"Return-Path: <>", reply)

    def test_container_runs_as_www_data_with_a_read_only_root(self):
        uid = docker("exec", self.container, "id", "-u").stdout.strip()
        self.assertEqual(uid, "33")  # www-data
        r = docker("exec", self.container, "sh", "-c", "touch /etc/x", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Read-only file system", r.stderr)
        self.assertEqual(docker("exec", self.container, "healthcheck", check=False).returncode, 0)
        # nginx started after php-fpm listened: no 502 at start-up.
        self.assertNotIn('" 502 ', self.logs())
        # The ManageSieve plugin is on; its host comes from the environment.
        php = ("define('INSTALL_PATH', '/usr/share/roundcube/'); $config = [];"
               "include '/etc/roundcube/config.inc.php';"
               "echo implode(',', $config['plugins']), '|', $config['imap_host'], '|';"
               "include '/etc/roundcube/plugins/managesieve/config.inc.php';"
               "echo $config['managesieve_host'];")
        out = docker("exec", "-e", "ROUNDCUBE_MANAGESIEVE_HOST=tls://sieve.test:4190",
                     self.container, "php", "-r", php).stdout
        self.assertEqual(out, f"archive,zipdownload,managesieve|{self.env['ROUNDCUBE_IMAP_HOST']}"
                              "|tls://sieve.test:4190")

    def test_a_trusted_proxy_gives_the_client_address_and_https(self):
        status, cookies, shown = http_login(self.url, "carol@example.com", headers=FORWARDED)
        self.assertEqual(status, 302, shown)
        session = [c for c in cookies if c.startswith("roundcube_sessid=")]
        self.assertTrue(session and all("; secure" in c.lower() for c in session), cookies)
        log = self.logs()
        self.assertRegex(log, r"Successful login for carol@example\.com \(ID: \d+\) "
                              r"from 203\.0\.113\.7 ")
        self.assertRegex(log, r"\n127\.0\.0\.1 203\.0\.113\.7 - - \[[^]]+\] \"POST /\?_task=login ")

    def test_code_configuration_and_database_files_are_not_served(self):
        for path in ("config/config.inc.php", "plugins/managesieve/config.inc.php",
                     "plugins/archive/archive.php", "program/lib/Roundcube/rcube.php",
                     "SQL/sqlite.initial.sql", "bin/update.sh", "composer.json", ".htaccess",
                     "plugins/managesieve/localization/en_US.inc"):
            self.assertEqual(http_get(self.url + path)[0], 403, path)
        status, body = http_get(self.url + "skins/elastic/ui.min.js")
        self.assertEqual(status, 200)
        self.assertIn("function", body)

    def test_sigterm_stops_gracefully_and_a_dead_php_fpm_stops_the_container(self):
        env = ["-e", "ROUNDCUBE_DES_KEY=" + "k" * 24]
        for how in ("sigterm", "php-fpm"):
            name = f"{self.name}-{how}"
            self.extra_containers.add(name)
            docker("run", "-d", "--name", name, "--network", "none", "--read-only",
                   "--tmpfs", "/tmp", *env, IMAGE)
            try:
                wait_for(lambda: docker("exec", name, "healthcheck", check=False).returncode == 0,
                         timeout=30, what=f"{name} healthy")
                if how == "sigterm":
                    t = time.monotonic()
                    docker("stop", "-t", "20", name)
                    self.assertLess(time.monotonic() - t, 10)
                    self.assertEqual(docker("inspect", "-f", "{{.State.ExitCode}}", name)
                                     .stdout.strip(), "0")
                    # Started again, it keeps (and upgrades if needed) its database.
                    docker("start", name)
                    wait_for(lambda: docker("exec", name, "healthcheck", check=False)
                             .returncode == 0, timeout=30, what=f"{name} healthy again")
                    self.assertEqual(docker("logs", name).stderr.count("creating the database"), 1)
                    docker("stop", "-t", "20", name)
                    code = "0"
                else:
                    docker("exec", name, "sh", "-c",
                           "kill -KILL $(cat /tmp/php-fpm/php-fpm.pid)")
                    wait_for(lambda: docker("inspect", "-f", "{{.State.Running}}", name)
                             .stdout.strip() == "false", timeout=30, what=f"{name} to stop")
                    code = "137"
                    self.assertIn("php-fpm exited (137); stopping", docker("logs", name).stderr)
                self.assertEqual(docker("inspect", "-f", "{{.State.ExitCode}}", name)
                                 .stdout.strip(), code)
            finally:
                docker("rm", "-f", "-v", name, check=False)
                self.extra_containers.discard(name)

    def test_missing_or_short_des_key_stops_the_container_with_a_message(self):
        r = docker("run", "--rm", "--network", "none", IMAGE, check=False)
        self.assertEqual(r.returncode, 64)
        self.assertIn("ROUNDCUBE_DES_KEY (or ROUNDCUBE_DES_KEY_FILE) is required", r.stderr)
        r = docker("run", "--rm", "--network", "none", "-e", "ROUNDCUBE_DES_KEY=short", IMAGE,
                   check=False)
        self.assertEqual(r.returncode, 64)
        self.assertIn("must be exactly 24 characters (it has 5)", r.stderr)


def interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main():
    # SIGTERM (a CI time-out) ends the run like Ctrl-C: the atexit cleanup removes containers.
    signal.signal(signal.SIGTERM, interrupt)
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(RoundcubeTest)
    t = time.monotonic()
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    passed = max(0, result.testsRun - failed - len(result.skipped))
    print(f"roundcube run time {time.monotonic() - t:.1f}s")
    print(f"roundcube: {passed} passed, {failed} failed")
    sys.exit(0 if failed == 0 and result.testsRun > 0 else 1)


if __name__ == "__main__":
    main()
