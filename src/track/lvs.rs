//! The load balancer's checkers: one probe of a real server each, with a
//! reason on failure. TCP_CHECK connects; HTTP_GET and SSL_GET fetch each
//! url and compare status, MD5 digest and regex; MISC_CHECK runs a script.
//!
//! Every probe ends within its timeout whatever the server does (an
//! endless body, a trickle, garbage), and holds bounded memory: the body
//! is hashed as it arrives, and at most [`REGEX_WINDOW`] bytes of it are
//! kept for a regex.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use md5::{Digest, Md5};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{timeout_at, Instant};

use crate::config::lvs::{HttpVersion, Url};

/// How much of a body a regex looks at.
pub const REGEX_WINDOW: usize = 64 * 1024;
/// The longest status line and headers accepted.
const MAX_HEAD: usize = 16 * 1024;

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub bind: Option<SocketAddr>,
    pub timeout: Duration,
}

/// A connection to the target, without a deadline of its own.
async fn open(t: &Target) -> Result<TcpStream, String> {
    let socket = if t.addr.is_ipv6() {
        TcpSocket::new_v6()
    } else {
        TcpSocket::new_v4()
    }
    .map_err(|e| format!("socket: {e}"))?;
    if let Some(b) = t.bind {
        socket.bind(b).map_err(|e| format!("cannot bind to {b}: {e}"))?;
    }
    socket
        .connect(t.addr)
        .await
        .map_err(|e| format!("connect to {}: {}", t.addr, short_io(&e)))
}

fn short_io(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        std::io::ErrorKind::ConnectionReset => "connection reset".into(),
        _ => e.to_string(),
    }
}

/// TCP_CHECK: a connection that completes within the timeout.
pub async fn tcp(t: &Target) -> Result<(), String> {
    match timeout_at(Instant::now() + t.timeout, open(t)).await {
        Ok(r) => r.map(drop),
        Err(_) => Err(format!("connect to {}: timed out after {:?}", t.addr, t.timeout)),
    }
}

/// What HTTP_GET needs besides the target.
#[derive(Debug, Clone)]
pub struct HttpProbe {
    pub tls: bool,
    pub sni: bool,
    pub version: HttpVersion,
    /// The Host header (virtualhost, else the address).
    pub host: Option<String>,
}

/// One url's fetch: status, MD5 of the body, a regex window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub status: u16,
    pub digest: [u8; 16],
    pub head_of_body: Vec<u8>,
}

/// One url, made ready once: its request bytes, its compiled regex and
/// its TLS server name do not change from one check to the next.
struct Get {
    url: Url,
    request: Vec<u8>,
    regex: Option<regex::bytes::Regex>,
    server_name: rustls::pki_types::ServerName<'static>,
}

/// HTTP_GET / SSL_GET for one checker: built once, run at every check,
/// so a check allocates little beyond its socket (1,000 checkers a second
/// make this matter).
pub struct HttpCheck {
    target: Target,
    tls: Option<tokio_rustls::TlsConnector>,
    gets: Vec<Get>,
    /// Read buffer and header bytes, kept from one check to the next.
    buf: Vec<u8>,
    head: Vec<u8>,
}

impl HttpCheck {
    pub fn new(target: Target, p: &HttpProbe, urls: &[Url]) -> Result<HttpCheck, String> {
        let (proto, close) = match p.version {
            HttpVersion::V10 => ("HTTP/1.0", false),
            HttpVersion::V10Close => ("HTTP/1.0", true),
            HttpVersion::V11 => ("HTTP/1.1", true),
        };
        let mut gets = Vec::with_capacity(urls.len());
        for u in urls {
            let host = u.virtualhost.clone().or_else(|| p.host.clone());
            let host_header = host.clone().unwrap_or_else(|| match target.addr {
                SocketAddr::V4(a) => a.ip().to_string(),
                SocketAddr::V6(a) => format!("[{}]", a.ip()),
            });
            let mut req = format!(
                "GET {} {proto}\r\nUser-Agent: KeepAliveClient\r\nHost: {host_header}\r\n",
                u.path
            );
            if close {
                req.push_str("Connection: close\r\n");
            }
            req.push_str("\r\n");
            let regex = match &u.regex {
                Some(r) => Some(regex::bytes::Regex::new(r).map_err(|e| format!("regex: {e}"))?),
                None => None,
            };
            let server_name = match host.filter(|_| p.sni) {
                Some(h) => rustls::pki_types::ServerName::try_from(h).map_err(|e| format!("TLS name: {e}"))?,
                None => rustls::pki_types::ServerName::IpAddress(target.addr.ip().into()),
            };
            gets.push(Get {
                url: u.clone(),
                request: req.into_bytes(),
                regex,
                server_name,
            });
        }
        let tls = if p.tls { Some(tls_connector(p.sni)?) } else { None };
        Ok(HttpCheck {
            target,
            tls,
            gets,
            buf: vec![0u8; 2048],
            head: Vec::with_capacity(512),
        })
    }

    /// Every url must answer as configured.
    pub async fn run(&mut self) -> Result<(), String> {
        for i in 0..self.gets.len() {
            let got = self.fetch(i).await?;
            let g = &self.gets[i];
            judge(&g.url, g.regex.as_ref(), &got, self.target.addr)?;
        }
        Ok(())
    }

    async fn fetch(&mut self, i: usize) -> Result<Fetched, String> {
        let t = &self.target;
        let g = &self.gets[i];
        // One timer for the whole exchange, connect included.
        let deadline = Instant::now() + t.timeout;
        let connected = std::sync::atomic::AtomicBool::new(false);
        let (buf, head) = (&mut self.buf, &mut self.head);
        let keep_body = g.regex.is_some();
        let work = async {
            let tcp = open(t).await?;
            connected.store(true, std::sync::atomic::Ordering::Relaxed);
            match &self.tls {
                Some(c) => {
                    let stream = c
                        .connect(g.server_name.clone(), tcp)
                        .await
                        .map_err(|e| format!("TLS handshake: {e}"))?;
                    exchange(stream, &g.request, buf, head, keep_body).await
                }
                None => exchange(tcp, &g.request, buf, head, keep_body).await,
            }
        };
        match timeout_at(deadline, work).await {
            Ok(r) => r,
            Err(_) if !connected.load(std::sync::atomic::Ordering::Relaxed) => {
                Err(format!("connect to {}: timed out after {:?}", t.addr, t.timeout))
            }
            Err(_) => Err(format!(
                "no complete answer within {:?} at {}{}",
                t.timeout, t.addr, g.url.path
            )),
        }
    }
}

/// HTTP_GET / SSL_GET once (tests, and whoever checks one page).
pub async fn http(t: &Target, p: &HttpProbe, urls: &[Url]) -> Result<(), String> {
    HttpCheck::new(t.clone(), p, urls)?.run().await
}

/// The verdict on one fetched url, in keepalived's terms.
fn judge(u: &Url, regex: Option<&regex::bytes::Regex>, got: &Fetched, addr: SocketAddr) -> Result<(), String> {
    if !u.status_ok(got.status) {
        let want = if u.status.is_empty() {
            "200-299".to_string()
        } else {
            u.status
                .iter()
                .map(|(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") })
                .collect::<Vec<_>>()
                .join(" ")
        };
        return Err(format!("status {} (want {want}) at {addr}{}", got.status, u.path));
    }
    if let Some(d) = &u.digest {
        let hex = hex(&got.digest);
        if d.as_bytes() != hex {
            let hex = String::from_utf8_lossy(&hex);
            return Err(format!("digest {hex} (want {d}) at {addr}{}", u.path));
        }
    }
    if let Some(re) = regex {
        let found = re.is_match(&got.head_of_body);
        if found == u.regex_no_match {
            let what = if found { "matches" } else { "does not match" };
            return Err(format!("body {what} regex at {addr}{}", u.path));
        }
    }
    Ok(())
}

#[cfg(test)]
async fn fetch(t: &Target, p: &HttpProbe, path: &str, host: Option<&str>) -> Result<Fetched, String> {
    let u = Url {
        path: path.into(),
        virtualhost: host.map(str::to_string),
        ..Url::default()
    };
    HttpCheck::new(t.clone(), p, &[u])?.fetch(0).await
}

/// Sends the request and reads the answer to its end, hashing the body.
/// The first [`REGEX_WINDOW`] bytes of the body are kept only with `keep_body`.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    req: &[u8],
    buf: &mut [u8],
    head: &mut Vec<u8>,
    keep_body: bool,
) -> Result<Fetched, String> {
    s.write_all(req).await.map_err(|e| format!("send: {e}"))?;
    head.clear();
    let mut md5 = Md5::new();
    let mut window = Vec::new();
    let mut status = None;
    loop {
        let n = match s.read(buf).await {
            Ok(0) => break,
            Ok(n) => n,
            // A TLS peer that closes without close_notify has still sent it all.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(format!("read: {}", short_io(&e))),
        };
        let mut chunk = &buf[..n];
        if status.is_none() {
            head.extend_from_slice(chunk);
            let Some(end) = find(head, b"\r\n\r\n") else {
                if head.len() > MAX_HEAD {
                    return Err("no HTTP header end within 16 KiB".into());
                }
                continue;
            };
            status = Some(parse_status(&head[..end])?);
            chunk = &head[end + 4..];
        }
        md5.update(chunk);
        if keep_body {
            keep(&mut window, chunk);
        }
    }
    let status = match status {
        Some(s) => s,
        None if head.is_empty() => return Err("connection closed without an answer".into()),
        None => parse_status(head)?,
    };
    Ok(Fetched {
        status,
        digest: md5.finalize().into(),
        head_of_body: window,
    })
}

fn keep(window: &mut Vec<u8>, data: &[u8]) {
    let room = REGEX_WINDOW.saturating_sub(window.len());
    window.extend_from_slice(&data[..data.len().min(room)]);
}

fn find(h: &[u8], pat: &[u8]) -> Option<usize> {
    h.windows(pat.len()).position(|w| w == pat)
}

/// `HTTP/1.x NNN ...` of the first line.
pub fn parse_status(head: &[u8]) -> Result<u16, String> {
    let line = head.split(|c| *c == b'\n').next().unwrap_or(head);
    let text = String::from_utf8_lossy(line);
    let mut parts = text.split_whitespace();
    match (parts.next(), parts.next().and_then(|c| c.parse::<u16>().ok())) {
        (Some(v), Some(code)) if v.starts_with("HTTP/") && (100..=599).contains(&code) => Ok(code),
        _ => Err(format!(
            "not an HTTP answer: {:?}",
            text.chars().take(40).collect::<String>()
        )),
    }
}

/// Lower-case hex, as genhash prints a digest.
fn hex(b: &[u8; 16]) -> [u8; 32] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 32];
    for (i, x) in b.iter().enumerate() {
        out[2 * i] = DIGITS[usize::from(x >> 4)];
        out[2 * i + 1] = DIGITS[usize::from(x & 15)];
    }
    out
}

/// keepalived checks a real server's TLS, not its identity: any
/// certificate is accepted.
#[derive(Debug)]
struct AnyCert(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &rustls::pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &rustls::pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// keepalived's SSL_GET: any certificate, the configured SNI or none.
fn tls_connector(sni: bool) -> Result<tokio_rustls::TlsConnector, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
        .with_no_client_auth();
    config.enable_sni = sni;
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    async fn serve(answer: &'static [u8], endless: bool) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut b = [0u8; 1024];
                    let _ = s.read(&mut b).await;
                    let _ = s.write_all(answer).await;
                    if endless {
                        while s.write_all(&[b'x'; 4096]).await.is_ok() {}
                    }
                });
            }
        });
        a
    }

    fn target(addr: SocketAddr) -> Target {
        Target {
            addr,
            bind: None,
            timeout: Duration::from_millis(500),
        }
    }
    fn probe() -> HttpProbe {
        HttpProbe {
            tls: false,
            sni: false,
            version: HttpVersion::V10,
            host: None,
        }
    }
    fn url(path: &str) -> Url {
        Url {
            path: path.into(),
            ..Url::default()
        }
    }

    #[tokio::test]
    async fn a_good_page_passes_and_its_digest_is_genhash_s() {
        let a = serve(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello\n", false).await;
        let got = fetch(&target(a), &probe(), "/", None).await.unwrap();
        assert_eq!(got.status, 200);
        // md5sum of "hello\n"
        assert_eq!(&hex(&got.digest), b"b1946ac92492d2347c6235b4d2611184");
        let mut u = url("/");
        u.digest = Some("b1946ac92492d2347c6235b4d2611184".into());
        assert!(http(&target(a), &probe(), &[u.clone()]).await.is_ok());
        u.digest = Some("00000000000000000000000000000000".into());
        let e = http(&target(a), &probe(), &[u]).await.unwrap_err();
        assert!(e.starts_with("digest b1946ac"), "{e}");
    }

    #[tokio::test]
    async fn a_500_fails_with_the_status_in_the_reason() {
        let a = serve(b"HTTP/1.0 500 Oops\r\n\r\n", false).await;
        let e = http(&target(a), &probe(), &[url("/health")]).await.unwrap_err();
        assert_eq!(e, format!("status 500 (want 200-299) at {a}/health"));
    }

    #[tokio::test]
    async fn an_endless_body_fails_within_the_timeout() {
        let a = serve(b"HTTP/1.0 200 OK\r\n\r\n", true).await;
        let t0 = std::time::Instant::now();
        let e = http(&target(a), &probe(), &[url("/")]).await.unwrap_err();
        assert!(e.contains("no complete answer"), "{e}");
        assert!(t0.elapsed() < Duration::from_millis(1500), "{:?}", t0.elapsed());
    }

    #[tokio::test]
    async fn garbage_is_not_an_http_answer() {
        let a = serve(b"\x00\x01garbage\r\n\r\n", false).await;
        let e = http(&target(a), &probe(), &[url("/")]).await.unwrap_err();
        assert!(e.contains("not an HTTP answer"), "{e}");
    }

    #[tokio::test]
    async fn tcp_refused_and_regex() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let a = l.local_addr().unwrap();
        drop(l);
        assert!(tcp(&target(a)).await.unwrap_err().contains("connection refused"));
        let a = serve(b"HTTP/1.0 200 OK\r\n\r\nstatus: degraded", false).await;
        let mut u = url("/");
        u.regex = Some("status: (ok|up)".into());
        assert!(http(&target(a), &probe(), &[u.clone()])
            .await
            .unwrap_err()
            .contains("does not match"));
        u.regex_no_match = true;
        assert!(http(&target(a), &probe(), &[u]).await.is_ok());
    }
}
