//! HTTP_GET and SSL_GET, and [`genhash`].
//!
//! Behaviour (keepalived.conf(5)):
//! - each `url` is fetched on its own connection with `GET path`, HTTP/1.0 by default
//!   (`http_protocol 1.0C` adds `Connection: close`, `1.1` is HTTP/1.1 with it too), a
//!   `User-Agent: KeepAliveClient` and a `Host` of the url's virtualhost, else the
//!   checker's, the real server's or the virtual server's, else the address (with the
//!   port when it is not the scheme's default);
//! - the status must fall in a `status_code` range (default 200-299), the MD5 of the body
//!   must equal `digest` (hex, as genhash prints it), and `regex` must match (or, with
//!   `regex_no_match`, must not) the first [`REGEX_WINDOW`] bytes of the body;
//! - `connect_timeout` bounds each url's whole transaction (connect, TLS, request, body);
//! - SSL_GET does not verify the server certificate: keepalived sets no peer
//!   verification either, so a checker accepts self-signed and expired certificates as
//!   keepalived does. SNI is sent only with `enable_sni` (`sni_name`, else the virtualhost).
//!
//! The body is streamed: the digest is computed chunk by chunk and only the regex window
//! is kept, so a huge body costs no memory (only time, within the timeout).

use crate::{net, BoxFuture, BuildContext, Check, Outcome, Target};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::header::{CONNECTION, HOST, USER_AGENT};
use hyper::{Request, Version};
use hyper_util::rt::TokioIo;
use keepalived_config::model::{Checker, RealServer, Ssl, VirtualServer};
use md5::{Digest, Md5};
use regex::bytes::{Regex, RegexBuilder};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};

/// How much of the body a regex is matched against.
pub const REGEX_WINDOW: usize = 1 << 20;

/// Why an HTTP transaction failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The transaction did not finish within the timeout.
    #[error("timed out")]
    Timeout,
    /// The TCP connection failed.
    #[error("connect: {0}")]
    Connect(#[from] std::io::Error),
    /// The TLS handshake failed.
    #[error("TLS: {0}")]
    Tls(String),
    /// The HTTP exchange failed.
    #[error("HTTP: {0}")]
    Http(String),
}

/// `http_protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpVersion {
    /// `1.0` (default): HTTP/1.0 without a Connection header.
    #[default]
    V10,
    /// `1.0C`: HTTP/1.0 with `Connection: close`.
    V10C,
    /// `1.1`: HTTP/1.1 with `Connection: close`.
    V11,
}

/// One `url { … }`.
#[derive(Debug, Clone)]
pub struct UrlCheck {
    /// Request path.
    pub path: String,
    /// Expected MD5 of the body, lower-case hex.
    pub digest: Option<String>,
    /// Accepted status ranges, inclusive.
    pub status: Vec<(u16, u16)>,
    /// Host header (None: the address).
    pub host: Option<String>,
    /// Body regex.
    pub regex: Option<Regex>,
    /// Fail when the regex matches.
    pub regex_no_match: bool,
    /// Offset in the body where matching starts.
    pub regex_min_offset: usize,
    /// Latest offset where a match may start.
    pub regex_max_offset: Option<usize>,
}

impl UrlCheck {
    /// A url accepting 200-299, with nothing else checked.
    pub fn new(path: impl Into<String>) -> UrlCheck {
        UrlCheck {
            path: path.into(),
            digest: None,
            status: vec![(200, 299)],
            host: None,
            regex: None,
            regex_no_match: false,
            regex_min_offset: 0,
            regex_max_offset: None,
        }
    }

    fn wants_body(&self) -> bool {
        self.digest.is_some() || self.regex.is_some()
    }

    /// Checks a fetched response.
    fn judge(&self, f: &Fetched) -> Result<String, String> {
        if !self
            .status
            .iter()
            .any(|&(lo, hi)| (lo..=hi).contains(&f.status))
        {
            return Err(format!("{}: status {}", self.path, f.status));
        }
        if let Some(want) = &self.digest {
            if !f.md5.eq_ignore_ascii_case(want) {
                return Err(format!("{}: digest {} != {want}", self.path, f.md5));
            }
        }
        if let Some(re) = &self.regex {
            let hay = f.kept.get(self.regex_min_offset..).unwrap_or_default();
            let found = re.find(hay).is_some_and(|m| {
                self.regex_max_offset
                    .is_none_or(|max| self.regex_min_offset + m.start() <= max)
            });
            if found == self.regex_no_match {
                return Err(format!(
                    "{}: regex {}",
                    self.path,
                    if found { "matched" } else { "did not match" }
                ));
            }
        }
        Ok(format!("{}: status {}", self.path, f.status))
    }
}

/// HTTP_GET or SSL_GET.
#[derive(Clone)]
pub struct HttpCheck {
    /// TLS client configuration (SSL_GET).
    pub tls: Option<Arc<ClientConfig>>,
    /// Name to send as SNI (SSL_GET with `enable_sni`).
    pub sni: Option<String>,
    /// `http_protocol`.
    pub version: HttpVersion,
    /// The urls, all of which must pass.
    pub urls: Vec<UrlCheck>,
}

impl std::fmt::Debug for HttpCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpCheck")
            .field("tls", &self.tls.is_some())
            .field("sni", &self.sni)
            .field("version", &self.version)
            .field("urls", &self.urls)
            .finish()
    }
}

/// Builds a `regex` with `regex_options` (PCRE2 names; those with no equivalent are ignored).
pub fn build_regex(pattern: &str, options: &[String]) -> Result<Regex, String> {
    let mut b = RegexBuilder::new(pattern);
    b.unicode(false);
    for o in options {
        match o.as_str() {
            "caseless" => b.case_insensitive(true),
            "multiline" => b.multi_line(true),
            "dotall" => b.dot_matches_new_line(true),
            "extended" => b.ignore_whitespace(true),
            "ungreedy" => b.swap_greed(true),
            "utf" | "ucp" => b.unicode(true),
            "never_utf" | "never_ucp" => b.unicode(false),
            _ => &mut b,
        };
    }
    b.size_limit(16 << 20)
        .build()
        .map_err(|e| format!("regex {pattern:?}: {e}"))
}

impl HttpCheck {
    /// From an HTTP_GET or SSL_GET block.
    pub fn from_model(
        c: &Checker,
        rs: &RealServer,
        vs: &VirtualServer,
        ctx: &BuildContext,
    ) -> Result<HttpCheck, String> {
        let default_host = c
            .virtualhost
            .clone()
            .or(rs.virtualhost.clone())
            .or(vs.virtualhost.clone());
        let version = match c.http_protocol.as_deref().map(str::trim) {
            None | Some("1.0") => HttpVersion::V10,
            Some("1.0C") | Some("1.0c") => HttpVersion::V10C,
            Some("1.1") => HttpVersion::V11,
            Some(p) => return Err(format!("unknown http_protocol {p}")),
        };
        if c.urls.is_empty() {
            return Err(format!("{} without url", c.kind));
        }
        let mut urls = Vec::new();
        for u in &c.urls {
            let regex = match &u.regex {
                Some(r) => Some(build_regex(r, u.regex_options.as_deref().unwrap_or(&[]))?),
                None => None,
            };
            urls.push(UrlCheck {
                path: u.path.clone().unwrap_or_else(|| "/".into()),
                digest: u.digest.as_ref().map(|d| d.to_ascii_lowercase()),
                status: if u.status_codes.is_empty() {
                    vec![(200, 299)]
                } else {
                    u.status_codes.clone()
                },
                host: u.virtualhost.clone().or(default_host.clone()),
                regex,
                regex_no_match: u.regex_no_match,
                regex_min_offset: u.regex_min_offset.unwrap_or(0) as usize,
                regex_max_offset: u.regex_max_offset.map(|m| m as usize),
            });
        }
        let tls = if c.kind == "SSL_GET" {
            Some(tls_config(ctx.ssl.as_ref())?)
        } else {
            None
        };
        let sni = if c.enable_sni.unwrap_or(false) {
            c.sni_name.clone().or(default_host)
        } else {
            None
        };
        Ok(HttpCheck {
            tls,
            sni,
            version,
            urls,
        })
    }

    async fn check_url(&self, t: &Target, u: &UrlCheck) -> Result<String, String> {
        let dest = t.addr_or_port(if self.tls.is_some() { 443 } else { 80 });
        let req = request(
            &u.path,
            u.host.as_deref(),
            dest,
            self.tls.is_some(),
            self.version,
        )?;
        let tls = self
            .tls
            .as_ref()
            .map(|c| (c, server_name(self.sni.as_deref(), dest)));
        let keep = if u.regex.is_some() { REGEX_WINDOW } else { 0 };
        let f = tokio::time::timeout(
            t.connect_timeout,
            exchange(t, dest, tls, req, u.wants_body(), keep),
        )
        .await
        .unwrap_or(Err(Error::Timeout))
        .map_err(|e| format!("{}: {e}", u.path))?;
        u.judge(&f)
    }
}

impl Check for HttpCheck {
    fn kind(&self) -> &'static str {
        if self.tls.is_some() {
            "SSL_GET"
        } else {
            "HTTP_GET"
        }
    }

    fn run<'a>(&'a self, t: &'a Target) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let start = Instant::now();
            let mut details = Vec::new();
            for u in &self.urls {
                match self.check_url(t, u).await {
                    Ok(d) => details.push(d),
                    Err(e) => return Outcome::down(e, start.elapsed()),
                }
            }
            Outcome::up(details.join(", "), start.elapsed())
        })
    }

    fn max_duration(&self, t: &Target) -> Duration {
        t.connect_timeout
            .saturating_mul(u32::try_from(self.urls.len().max(1)).unwrap_or(u32::MAX))
    }
}

/// The TLS name for `sni`, else the address (rustls sends no SNI for an address).
fn server_name(sni: Option<&str>, dest: SocketAddr) -> ServerName<'static> {
    sni.and_then(|n| ServerName::try_from(n.to_string()).ok())
        .unwrap_or_else(|| ServerName::IpAddress(dest.ip().into()))
}

/// The request keepalived sends.
fn request(
    path: &str,
    host: Option<&str>,
    dest: SocketAddr,
    tls: bool,
    version: HttpVersion,
) -> Result<Request<Empty<Bytes>>, String> {
    let host = match host {
        Some(h) => h.to_string(),
        None => {
            let ip = match dest {
                SocketAddr::V4(a) => a.ip().to_string(),
                SocketAddr::V6(a) => format!("[{}]", a.ip()),
            };
            if dest.port() == if tls { 443 } else { 80 } {
                ip
            } else {
                format!("{ip}:{}", dest.port())
            }
        }
    };
    let mut b = Request::get(path)
        .version(if version == HttpVersion::V11 {
            Version::HTTP_11
        } else {
            Version::HTTP_10
        })
        .header(USER_AGENT, "KeepAliveClient")
        .header(HOST, host);
    if version != HttpVersion::V10 {
        b = b.header(CONNECTION, "close");
    }
    b.body(Empty::new()).map_err(|e| format!("request: {e}"))
}

/// What was read of a response.
#[derive(Debug)]
struct Fetched {
    status: u16,
    /// MD5 of the body, lower-case hex (of nothing when the body was not read).
    md5: String,
    /// The first bytes of the body.
    kept: Vec<u8>,
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn exchange(
    t: &Target,
    dest: SocketAddr,
    tls: Option<(&Arc<ClientConfig>, ServerName<'static>)>,
    req: Request<Empty<Bytes>>,
    read_body: bool,
    keep: usize,
) -> Result<Fetched, Error> {
    let tcp = net::connect_tcp(t, dest).await?;
    match tls {
        None => fetch(tcp, req, read_body, keep).await,
        Some((cfg, name)) => {
            let s = tokio_rustls::TlsConnector::from(cfg.clone())
                .connect(name, tcp)
                .await
                .map_err(|e| Error::Tls(e.to_string()))?;
            fetch(s, req, read_body, keep).await
        }
    }
}

async fn fetch<IO>(
    io: IO,
    req: Request<Empty<Bytes>>,
    read_body: bool,
    keep: usize,
) -> Result<Fetched, Error>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let http = |e: hyper::Error| Error::Http(e.to_string());
    let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
        .max_buf_size(64 * 1024)
        .title_case_headers(true)
        .handshake(TokioIo::new(io))
        .await
        .map_err(http)?;
    let _conn = AbortOnDrop(tokio::spawn(async move {
        let _ = conn.await;
    }));
    let resp = sender.send_request(req).await.map_err(http)?;
    let status = resp.status().as_u16();
    let mut md5 = Md5::new();
    let mut kept = Vec::new();
    if read_body {
        let mut body = resp.into_body();
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.map_err(http)?.into_data() {
                md5.update(&data);
                let room = keep.saturating_sub(kept.len()).min(data.len());
                kept.extend_from_slice(&data[..room]);
            }
        }
    }
    Ok(Fetched {
        status,
        md5: hex(&md5.finalize()),
        kept,
    })
}

fn hex(b: &[u8]) -> String {
    use std::fmt::Write;
    b.iter()
        .fold(String::with_capacity(b.len() * 2), |mut s, x| {
            let _ = write!(s, "{x:02x}");
            s
        })
}

/// Accepts any server certificate, as keepalived's SSL_GET does (it sets no peer
/// verification): a health check tests that the service answers, and real servers behind a
/// load balancer commonly use self-signed certificates. Handshake signatures are still
/// checked, so the peer must hold the key of the certificate it sent.
#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The SSL_GET client configuration: no server verification (see the module docs), and
/// the `SSL { certificate key }` pair as client certificate when both are given.
/// (`ca` is not used: keepalived does not verify the server either way.)
pub fn tls_config(ssl: Option<&Ssl>) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let b = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)));
    let cfg = match ssl.and_then(|s| Some((s.certificate.as_deref()?, s.key.as_deref()?))) {
        Some((cert, key)) => {
            let certs = CertificateDer::pem_file_iter(cert)
                .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("SSL certificate {cert}: {e}"))?;
            let key =
                PrivateKeyDer::from_pem_file(key).map_err(|e| format!("SSL key {key}: {e}"))?;
            b.with_client_auth_cert(certs, key)
                .map_err(|e| format!("SSL certificate: {e}"))?
        }
        None => b.with_no_client_auth(),
    };
    Ok(Arc::new(cfg))
}

/// Fetches `path` from `addr` (over TLS when `tls`) as HTTP_GET/SSL_GET would, and returns
/// the status and the MD5 of the body, lower-case hex: the value for `digest`.
pub async fn genhash(
    addr: SocketAddr,
    tls: bool,
    path: &str,
    virtualhost: Option<&str>,
    timeout: Duration,
) -> Result<(u16, String), Error> {
    let t = Target::new(addr, timeout);
    let req = request(path, virtualhost, addr, tls, HttpVersion::V10).map_err(Error::Http)?;
    let cfg = if tls {
        Some(tls_config(None).map_err(Error::Tls)?)
    } else {
        None
    };
    let tls = cfg.as_ref().map(|c| (c, server_name(virtualhost, addr)));
    let f = tokio::time::timeout(timeout, exchange(&t, addr, tls, req, true, 0))
        .await
        .unwrap_or(Err(Error::Timeout))?;
    Ok((f.status, f.md5))
}
