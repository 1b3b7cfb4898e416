//! Test harness: a real OpenLDAP `slapd` per test, on 127.0.0.1 and a free port, loaded with
//! `tests/fixtures/ldap/example.ldif` through `slapadd`, configured from
//! `tests/fixtures/ldap/slapd.conf.in`. Needs Debian's `slapd` package (scripts/test installs
//! it). The server can be stopped and restarted on the same port with the same data.

#![allow(dead_code)] // each test binary uses a different part of the harness

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ldap3::{Ldap, LdapConnAsync, Mod};
use mailstack_directory::ldap::{LdapOptions, escape_dn_value, ssha};

pub const BASE: &str = "dc=example,dc=com";
pub const ADMIN_DN: &str = "cn=admin,dc=example,dc=com";
pub const ADMIN_PW: &str = "admin-secret";
pub const SERVICE_DN: &str = "cn=mailstack,ou=services,dc=example,dc=com";
pub const SERVICE_PW: &str = "service-secret";

const SLAPD: &str = "/usr/sbin/slapd";
const SLAPADD: &str = "/usr/sbin/slapadd";
const READY_WITHIN: Duration = Duration::from_secs(15);

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ldap")
}

/// A running (or stopped) slapd with its own data directory and port.
pub struct Slapd {
    dir: tempfile::TempDir,
    port: u16,
    /// With TLS: the `ldaps://` port (the `ldap://` port then also offers StartTLS).
    tls_port: Option<u16>,
    child: Option<Child>,
}

impl Slapd {
    /// Load the fixture into a fresh database and start the server.
    pub async fn start() -> Slapd {
        Slapd::start_with(false).await
    }

    /// Like [`Slapd::start`], with a certificate for 127.0.0.1 signed by a fresh test CA
    /// ([`Slapd::ca_file`]): StartTLS on [`Slapd::url`], implicit TLS on [`Slapd::ldaps_url`].
    pub async fn start_tls() -> Slapd {
        Slapd::start_with(true).await
    }

    async fn start_with(tls: bool) -> Slapd {
        assert!(
            Path::new(SLAPD).exists(),
            "{SLAPD} missing: apt-get install slapd ldap-utils (see crates/directory/src/ldap)"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("db")).unwrap();
        let mut conf = std::fs::read_to_string(fixtures().join("slapd.conf.in"))
            .unwrap()
            .replace("@DIR@", dir.path().to_str().unwrap())
            .replace("@FIXTURES@", fixtures().to_str().unwrap());
        if tls {
            write_test_pki(dir.path());
            let d = dir.path().display();
            // TLS directives are global: before the first `database`.
            conf = conf.replacen(
                "\ndatabase ",
                &format!(
                    "\nTLSCACertificateFile {d}/ca.pem\nTLSCertificateFile {d}/server.pem\n\
                     TLSCertificateKeyFile {d}/server.key\n\ndatabase "
                ),
                1,
            );
        }
        std::fs::write(dir.path().join("slapd.conf"), conf).unwrap();
        let out = Command::new(SLAPADD)
            .arg("-f")
            .arg(dir.path().join("slapd.conf"))
            .arg("-l")
            .arg(fixtures().join("example.ldif"))
            .output()
            .expect("run slapadd");
        assert!(
            out.status.success(),
            "slapadd failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut s = Slapd {
            dir,
            port: free_port(),
            tls_port: tls.then(free_port),
            child: None,
        };
        s.run().await;
        s
    }

    /// Start the server again (same data, same port) after [`Slapd::stop`].
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        self.run().await;
    }

    async fn run(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("slapd.log")).unwrap();
        let child = Command::new(SLAPD)
            .arg("-f")
            .arg(self.dir.path().join("slapd.conf"))
            .arg("-h")
            .arg(match self.ldaps_url() {
                Some(l) => format!("{}/ {l}/", self.url()),
                None => self.url() + "/",
            })
            .args(["-d", "0"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn slapd");
        self.child = Some(child);
        self.wait_ready().await;
    }

    /// Wait until an LDAP bind as the admin succeeds.
    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("slapd exited with {status}: {}", self.log());
            }
            if self.admin_checked().await.is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "slapd not ready within {READY_WITHIN:?}: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Kill the server and wait until it is gone (the port then refuses connections).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// The `ldaps://` URL of a server started with [`Slapd::start_tls`].
    pub fn ldaps_url(&self) -> Option<String> {
        self.tls_port.map(|p| format!("ldaps://127.0.0.1:{p}"))
    }

    /// The test CA's certificate (PEM) of a server started with [`Slapd::start_tls`].
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("slapd.log")).unwrap_or_default()
    }

    async fn admin_checked(&self) -> Result<Ldap, ldap3::LdapError> {
        let (conn, mut ldap) = LdapConnAsync::new(&self.url()).await?;
        tokio::spawn(async move {
            let _ = conn.drive().await;
        });
        ldap.simple_bind(ADMIN_DN, ADMIN_PW).await?.success()?;
        Ok(ldap)
    }

    /// A connection bound as the rootdn, for changing the data during a test.
    pub async fn admin(&self) -> Ldap {
        self.admin_checked().await.expect("admin bind")
    }

    /// Add a plain user `uid=<uid>,ou=people` with `mail` and an `{SSHA}` password.
    pub async fn add_user(&self, uid: &str, mail: &str, password: &str) {
        let dn = format!("uid={},ou=people,{BASE}", escape_dn_value(uid));
        let pw = ssha(password, b"testsalt");
        let attrs = vec![
            ("objectClass", HashSet::from(["inetOrgPerson"])),
            ("uid", HashSet::from([uid])),
            ("cn", HashSet::from([uid])),
            ("sn", HashSet::from([uid])),
            ("mail", HashSet::from([mail])),
            ("userPassword", HashSet::from([pw.as_str()])),
        ];
        self.admin()
            .await
            .add(&dn, attrs)
            .await
            .unwrap()
            .success()
            .unwrap();
    }

    /// Replace one attribute of `dn`.
    pub async fn replace(&self, dn: &str, attr: &str, value: &str) {
        self.admin()
            .await
            .modify(dn, vec![Mod::Replace(attr, HashSet::from([value]))])
            .await
            .unwrap()
            .success()
            .unwrap();
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A test CA (`ca.pem`) and a server certificate for 127.0.0.1 and localhost signed by it
/// (`server.pem`, `server.key`), written into `dir`.
fn write_test_pki(dir: &Path) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "mailstack test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    params
        .distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    let cert = params
        .signed_by(&key, &Issuer::from_params(&ca_params, &ca_key))
        .unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("server.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("server.key"), key.serialize_pem()).unwrap();
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Options for the fixture directory at `urls`: service account, OpenLDAP preset, short
/// timeout, no cache (tests that test the cache set TTLs themselves).
pub fn options(urls: &[String]) -> LdapOptions {
    LdapOptions {
        urls: urls.to_vec(),
        bind_dn: SERVICE_DN.into(),
        bind_password: SERVICE_PW.into(),
        base_dn: BASE.into(),
        timeout: Duration::from_secs(3),
        pool_size: 2,
        cache_ttl: Duration::ZERO,
        negative_cache_ttl: Duration::ZERO,
        ..LdapOptions::default()
    }
}
