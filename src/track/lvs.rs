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

async fn connect(t: &Target, deadline: Instant) -> Result<TcpStream, String> {
    let socket = if t.addr.is_ipv6() {
        TcpSocket::new_v6()
    } else {
        TcpSocket::new_v4()
    }
    .map_err(|e| format!("socket: {e}"))?;
    if let Some(b) = t.bind {
        socket.bind(b).map_err(|e| format!("cannot bind to {b}: {e}"))?;
    }
    match timeout_at(deadline, socket.connect(t.addr)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(format!("connect to {}: {}", t.addr, short_io(&e))),
        Err(_) => Err(format!("connect to {}: timed out after {:?}", t.addr, t.timeout)),
    }
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
    let deadline = Instant::now() + t.timeout;
    let s = connect(t, deadline).await?;
    drop(s);
    Ok(())
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
    pub digest: String,
    pub head_of_body: Vec<u8>,
}

/// HTTP_GET / SSL_GET: every url must answer as configured.
pub async fn http(t: &Target, p: &HttpProbe, urls: &[Url]) -> Result<(), String> {
    for u in urls {
        let host = u.virtualhost.clone().or_else(|| p.host.clone());
        let got = fetch(t, p, &u.path, host.as_deref()).await?;
        judge(u, &got, t.addr)?;
    }
    Ok(())
}

/// The verdict on one fetched url, in keepalived's terms.
pub fn judge(u: &Url, got: &Fetched, addr: SocketAddr) -> Result<(), String> {
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
        if *d != got.digest {
            return Err(format!("digest {} (want {d}) at {addr}{}", got.digest, u.path));
        }
    }
    if let Some(re) = &u.regex {
        let re = regex::bytes::Regex::new(re).map_err(|e| format!("regex: {e}"))?;
        let found = re.is_match(&got.head_of_body);
        if found == u.regex_no_match {
            let what = if found { "matches" } else { "does not match" };
            return Err(format!("body {what} regex at {addr}{}", u.path));
        }
    }
    Ok(())
}

async fn fetch(t: &Target, p: &HttpProbe, path: &str, host: Option<&str>) -> Result<Fetched, String> {
    let deadline = Instant::now() + t.timeout;
    let tcp = connect(t, deadline).await?;
    let host_header = host.map(str::to_string).unwrap_or_else(|| match t.addr {
        SocketAddr::V4(a) => a.ip().to_string(),
        SocketAddr::V6(a) => format!("[{}]", a.ip()),
    });
    let (proto, close) = match p.version {
        HttpVersion::V10 => ("HTTP/1.0", false),
        HttpVersion::V10Close => ("HTTP/1.0", true),
        HttpVersion::V11 => ("HTTP/1.1", true),
    };
    let mut req = format!("GET {path} {proto}\r\nUser-Agent: KeepAliveClient\r\nHost: {host_header}\r\n");
    if close {
        req.push_str("Connection: close\r\n");
    }
    req.push_str("\r\n");
    let work = async {
        if p.tls {
            let name = if p.sni { host.map(str::to_string) } else { None };
            let stream = tls_connect(tcp, name, t.addr).await?;
            exchange(stream, req.as_bytes()).await
        } else {
            exchange(tcp, req.as_bytes()).await
        }
    };
    match timeout_at(deadline, work).await {
        Ok(r) => r.map_err(|e| format!("{e} at {}{path}", t.addr)),
        Err(_) => Err(format!("no complete answer within {:?} at {}{path}", t.timeout, t.addr)),
    }
}

/// Sends the request and reads the answer to its end, hashing the body.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, req: &[u8]) -> Result<Fetched, String> {
    s.write_all(req).await.map_err(|e| format!("send: {e}"))?;
    // Health pages are small: a 2 KiB buffer per exchange, not zeroed per
    // read beyond it (1,000 checkers a second make this matter).
    let mut buf = vec![0u8; 2048];
    let mut head: Vec<u8> = Vec::new();
    let mut md5 = Md5::new();
    let mut window = Vec::new();
    let mut status = None;
    loop {
        let n = match s.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            // A TLS peer that closes without close_notify has still sent it all.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(format!("read: {}", short_io(&e))),
        };
        let mut chunk = &buf[..n];
        if status.is_none() {
            head.extend_from_slice(chunk);
            let Some(end) = find(&head, b"\r\n\r\n") else {
                if head.len() > MAX_HEAD {
                    return Err("no HTTP header end within 16 KiB".into());
                }
                continue;
            };
            status = Some(parse_status(&head[..end])?);
            let body = head.split_off(end + 4);
            md5.update(&body);
            keep(&mut window, &body);
            chunk = &[];
        }
        md5.update(chunk);
        keep(&mut window, chunk);
    }
    let status = match status {
        Some(s) => s,
        None if head.is_empty() => return Err("connection closed without an answer".into()),
        None => parse_status(&head)?,
    };
    Ok(Fetched {
        status,
        digest: hex(&md5.finalize()),
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

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
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

async fn tls_connect(
    tcp: TcpStream,
    sni: Option<String>,
    addr: SocketAddr,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
        .with_no_client_auth();
    config.enable_sni = sni.is_some();
    let name = match sni {
        Some(h) => rustls::pki_types::ServerName::try_from(h).map_err(|e| format!("TLS name: {e}"))?,
        None => rustls::pki_types::ServerName::IpAddress(addr.ip().into()),
    };
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS handshake: {e}"))
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
        assert_eq!(got.digest, "b1946ac92492d2347c6235b4d2611184");
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
