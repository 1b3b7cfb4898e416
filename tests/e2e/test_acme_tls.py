"""Certificates from Traefik's acme.json ([tls] acme_file), as dcape runs us: imap-server and
submission serve the certificate matching the name the client asks for (SNI), the host name's
to clients that ask for none, and pick up Traefik's renewal without a restart."""
import base64
import json
import os
import smtplib
import socket
import ssl
import subprocess

from harness import StackTest, wait_for


def make_cert(workdir, name, sans):
    """A self-signed certificate for `sans` (openssl): (PEM cert, PEM key, DER cert)."""
    key = os.path.join(workdir, f"{name}.key")
    crt = os.path.join(workdir, f"{name}.crt")
    san = ",".join(f"DNS:{s}" for s in sans)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", f"/CN={sans[0]}", "-addext", f"subjectAltName={san}",
                    "-keyout", key, "-out", crt], check=True, capture_output=True)
    pem = open(crt).read()
    return pem, open(key).read(), ssl.PEM_cert_to_DER_cert(pem)


def acme_json(path, entries):
    """Write Traefik's acme.json (v2/v3 layout) with `entries`: [(main, sans, cert, key)]."""
    certs = [{"domain": {"main": main, "sans": sans},
              "certificate": base64.b64encode(cert.encode()).decode(),
              "key": base64.b64encode(key.encode()).decode(), "Store": "default"}
             for main, sans, cert, key in entries]
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"letsencrypt": {"Account": {"Email": "admin@example.com"},
                                   "Certificates": certs}}, f)
    os.replace(tmp, path)


def served_cert(port, server_name):
    """The DER certificate a TLS server on 127.0.0.1:port presents for `server_name` (None:
    no SNI)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=server_name) as tls:
            return tls.getpeercert(binary_form=True)


class AcmeTlsTests(StackTest):
    def setUp(self):
        super().setUp()
        self.acme = os.path.join(self.tmp, "acme.json")
        # The test harness names the host mx.test.
        self.mx = make_cert(self.tmp, "mx", ["mx.test"])
        self.wild = make_cert(self.tmp, "wild", ["*.example.org"])
        acme_json(self.acme, [("mx.test", [], self.mx[0], self.mx[1]),
                              ("*.example.org", [], self.wild[0], self.wild[1])])
        cfg = open(self.stack.config).read().replace(
            "[tls]\n", f'[tls]\nacme_file = "{self.acme}"\n')
        with open(self.stack.config, "w") as f:
            f.write(cfg)
        # [tls] cert_file is an empty file (and keeps the harness from making one): everything
        # must come from acme.json.
        os.makedirs(os.path.join(self.tmp, "tls"), exist_ok=True)
        open(os.path.join(self.tmp, "tls", "cert.pem"), "w").close()
        self.stack.add_user("alice@example.com")
        for name in ("lmtp-mda", "smtp-mta", "imap-server", "submission"):
            self.stack.start(name)

    def test_certificates_by_sni_and_renewal_without_restart(self):
        s = self.stack
        for port in (s.imaps_port, s.submissions_port):
            self.assertEqual(served_cert(port, "mx.test"), self.mx[2])
            self.assertEqual(served_cert(port, "imap.example.org"), self.wild[2])
            self.assertEqual(served_cert(port, None), self.mx[2], "no SNI: the host name's")
        # STARTTLS on smtp-mta too (most MTAs send no SNI).
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with smtplib.SMTP("127.0.0.1", s.smtp_port, timeout=30) as c:
            c.starttls(context=ctx)
            self.assertEqual(c.sock.getpeercert(binary_form=True), self.mx[2])

        # Traefik renews: the new certificate is served by the running processes.
        renewed = make_cert(self.tmp, "mx2", ["mx.test"])
        acme_json(self.acme, [("mx.test", [], renewed[0], renewed[1]),
                              ("*.example.org", [], self.wild[0], self.wild[1])])
        for port in (s.imaps_port, s.submissions_port):
            wait_for(lambda: served_cert(port, "mx.test") == renewed[2], timeout=20,
                     what=f"the renewed certificate on port {port}")
        pids = {name: p.pid for name, p in s.procs.items()}
        self.assertTrue(all(p.poll() is None for p in s.procs.values()), "nothing restarted")
        self.assertEqual(pids, {name: p.pid for name, p in s.procs.items()})
