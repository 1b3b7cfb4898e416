"""`mailctl web`: Thunderbird autoconfig, Outlook autodiscover and the MTA-STS policy, fetched
over HTTP like the clients do; the policy id `mailctl dns` prints matches the served policy."""
import hashlib
import re
import subprocess
import urllib.request
import xml.etree.ElementTree as ET

from harness import StackTest, binary, free_port, http_get, wait_for


class WebTests(StackTest):
    def setUp(self):
        self.port = free_port()
        self.stack_extra = {"web": {"listen": [f"127.0.0.1:{self.port}"],
                                    "mail_host": "mail.example.com"}}
        super().setUp()
        log = open(f"{self.tmp}/web.log", "wb")
        self.proc = subprocess.Popen([binary("mailctl"), "--config", self.stack.config, "web"],
                                     stdout=log, stderr=log)
        self.addCleanup(lambda: (self.proc.poll() is None and self.proc.kill(), log.close()))
        wait_for(lambda: http_get(self.url("/healthz"))[0] == 200, what="mailctl web")

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def test_thunderbird_autoconfig(self):
        for path in ("/mail/config-v1.1.xml?emailaddress=alice%40example.com",
                     "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=alice@example.com"):
            status, body = http_get(self.url(path))
            self.assertEqual(status, 200, body)
            provider = ET.fromstring(body).find("emailProvider")
            self.assertEqual(provider.get("id"), "example.com")
            servers = [(s.get("type"), s.findtext("hostname"), s.findtext("port"),
                        s.findtext("socketType"))
                       for s in provider if s.tag in ("incomingServer", "outgoingServer")]
            self.assertEqual(servers, [
                ("imap", "mail.example.com", "993", "SSL"),
                ("imap", "mail.example.com", "143", "STARTTLS"),
                ("smtp", "mail.example.com", "465", "SSL"),
                ("smtp", "mail.example.com", "587", "STARTTLS"),
            ])
        # By host name (autoconfig.DOMAIN), as Thunderbird asks first.
        req = urllib.request.Request(self.url("/mail/config-v1.1.xml"),
                                     headers={"Host": "autoconfig.example.org"})
        with urllib.request.urlopen(req, timeout=5) as r:
            self.assertIn('<emailProvider id="example.org">', r.read().decode())
        # Nothing to go by, or something that is not an address: 400, nothing echoed.
        status, body = http_get(self.url("/mail/config-v1.1.xml?emailaddress=%3Cx%3E%40a"))
        self.assertEqual(status, 400)
        self.assertNotIn("<x>", body)

    def test_outlook_autodiscover(self):
        request = (b'<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.'
                   b'microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request>'
                   b'<EMailAddress>bob@example.com</EMailAddress><AcceptableResponseSchema>http://'
                   b'schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a'
                   b'</AcceptableResponseSchema></Request></Autodiscover>')
        for path in ("/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml"):
            req = urllib.request.Request(self.url(path), data=request, method="POST",
                                         headers={"Content-Type": "text/xml"})
            with urllib.request.urlopen(req, timeout=5) as r:
                body = r.read().decode()
            ns = {"r": "http://schemas.microsoft.com/exchange/autodiscover/outlook/"
                       "responseschema/2006a"}
            protocols = ET.fromstring(body).findall(".//r:Protocol", ns)
            self.assertEqual([(p.findtext("r:Type", namespaces=ns), p.findtext("r:Port", namespaces=ns),
                               p.findtext("r:LoginName", namespaces=ns)) for p in protocols],
                             [("IMAP", "993", "bob@example.com"), ("SMTP", "465", "bob@example.com")])
        self.assertEqual(http_get(self.url("/autodiscover/autodiscover.xml"))[0], 405)

    def test_mta_sts_policy_matches_the_dns_record(self):
        status, policy = http_get(self.url("/.well-known/mta-sts.txt"))
        self.assertEqual(status, 200)
        self.assertEqual(policy, "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n"
                                 "max_age: 604800\r\n")
        out = self.stack.mailctl("dns", "example.com", "--mx", "mail.example.com").stdout
        record_id = re.search(r'_mta-sts\.example\.com\. IN TXT "v=STSv1; id=(\w+)"', out).group(1)
        self.assertEqual(record_id, hashlib.sha256(policy.encode()).hexdigest()[:20])
        self.assertEqual(http_get(self.url("/nothing"))[0], 404)
