//! TLS for the tests: a throw-away certificate authority, servers that
//! present a certificate it signed, and a Redis that speaks only TLS.
//!
//! [`TestCa::new`] makes a CA in memory (rcgen); [`TestCa::server_cert`]
//! issues a certificate for `localhost` and `127.0.0.1` signed by it. The
//! app under test is told to trust the CA through its own settings
//! (`queue.redis_ca_file`, `outbound.ca_file`) pointed at the file
//! [`TestCa::write_pem`] writes; nothing is added to the machine's trust
//! store, so a test that does not configure the CA sees the handshake fail.
//!
//! * [`TlsListener`] serves an axum router over TLS (the HTTPS receiver,
//!   `crate::receiver::ReceiverBuilder::tls`).
//! * [`TlsRedis`] runs `redis-server --port 0 --tls-port N` with the
//!   certificate, killed when dropped.

use std::{
    io,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::Duration,
};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, server::TlsStream};

/// A certificate authority that exists for one test.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A server certificate signed by a [`TestCa`], with its key.
pub struct ServerCert {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// Its private key, PKCS#8 PEM.
    pub key_pem: String,
    cert_der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl TestCa {
    /// A new CA named `name`.
    ///
    /// # Panics
    /// If rcgen cannot make the key or the certificate.
    pub fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("CA key");
        let issuer = CertifiedIssuer::self_signed(params, key).expect("self-signed CA");
        TestCa { issuer }
    }

    /// The CA certificate, PEM: what a client is told to trust.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// Writes the CA certificate to `dir/ca.pem` and returns the path.
    ///
    /// # Panics
    /// If the file cannot be written.
    pub fn write_pem(&self, dir: &Path) -> PathBuf {
        let path = dir.join("ca.pem");
        std::fs::write(&path, self.pem()).expect("write the CA certificate");
        path
    }

    /// A certificate for `localhost` and `127.0.0.1`, signed by this CA.
    ///
    /// # Panics
    /// If rcgen cannot make it.
    pub fn server_cert(&self) -> ServerCert {
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("server parameters");
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().expect("server key");
        let cert = params.signed_by(&key, &*self.issuer).expect("sign");
        ServerCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().clone(),
            key_der: key.serialize_der(),
        }
    }
}

impl ServerCert {
    /// A TLS acceptor presenting this certificate (ring, no client auth).
    ///
    /// # Panics
    /// If rustls refuses the certificate or key.
    pub fn acceptor(&self) -> TlsAcceptor {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()));
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(vec![self.cert_der.clone()], key)
            .expect("server certificate and key");
        TlsAcceptor::from(Arc::new(config))
    }

    /// Writes `server.pem` and `server.key` into `dir`; returns both paths.
    ///
    /// # Panics
    /// If the files cannot be written.
    pub fn write(&self, dir: &Path) -> (PathBuf, PathBuf) {
        let cert = dir.join("server.pem");
        let key = dir.join("server.key");
        std::fs::write(&cert, &self.cert_pem).expect("write the server certificate");
        std::fs::write(&key, &self.key_pem).expect("write the server key");
        (cert, key)
    }
}

/// A TCP listener whose connections are TLS, for `axum::serve`. A failed
/// handshake (a client that does not trust the certificate) is dropped and
/// the listener waits for the next connection.
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl TlsListener {
    /// Wraps a bound listener.
    pub fn new(tcp: TcpListener, acceptor: TlsAcceptor) -> TlsListener {
        TlsListener { tcp, acceptor }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (tcp, addr) = match self.tcp.accept().await {
                Ok(accepted) => accepted,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

/// A `redis-server` that accepts only TLS connections, on a free port,
/// with a certificate from a [`TestCa`]; killed when dropped.
pub struct TlsRedis {
    /// Its TLS port on 127.0.0.1.
    pub port: u16,
    child: Child,
    dir: PathBuf,
}

impl TlsRedis {
    /// Starts `redis-server --port 0 --tls-port N` (no plain-text port, no
    /// client certificates asked for, nothing saved) and waits until it
    /// accepts connections.
    ///
    /// # Panics
    /// If `redis-server` is not on the PATH or does not come up within
    /// 10 s.
    pub async fn start(ca: &TestCa) -> TlsRedis {
        let dir = std::env::temp_dir().join(format!("rw-tls-redis-{}", ulid::Ulid::generate()));
        std::fs::create_dir_all(&dir).expect("create the Redis directory");
        let (cert, key) = ca.server_cert().write(&dir);
        let ca_file = ca.write_pem(&dir);
        let port = crate::app::closed_port();
        let child = Command::new("redis-server")
            .args(["--port", "0", "--tls-port", &port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .arg("--tls-cert-file")
            .arg(&cert)
            .arg("--tls-key-file")
            .arg(&key)
            .arg("--tls-ca-cert-file")
            .arg(&ca_file)
            .args(["--tls-auth-clients", "no"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server (is it installed? scripts/test installs it)");
        let redis = TlsRedis { port, child, dir };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "redis-server --tls-port {port} did not come up within 10s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        redis
    }

    /// `rediss://localhost:<port>`.
    pub fn url(&self) -> String {
        format!("rediss://localhost:{}", self.port)
    }

    /// The directory its files are in (the CA is `ca.pem` there).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
