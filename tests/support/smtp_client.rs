//! A real SMTP client for the test addresses' tests: EHLO, STARTTLS
//! (trusting the certificate the test made), MAIL, RCPT, DATA with dot
//! stuffing; and a relay that takes a message, adds its Received field and
//! hands it on, as a sender's outbound server does.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub struct Client {
    io: BufReader<Box<dyn Io>>,
}

/// A reply: its code and its text (lines joined by newlines).
pub type Reply = (u16, String);

impl Client {
    /// Connects and reads the greeting.
    pub async fn connect(addr: SocketAddr) -> (Client, Reply) {
        let stream = TcpStream::connect(addr).await.expect("connects");
        let mut c = Client {
            io: BufReader::new(Box::new(stream)),
        };
        let greeting = c.reply().await;
        (c, greeting)
    }

    /// Reads one reply (all its lines); (0, "") when the server closed.
    pub async fn reply(&mut self) -> Reply {
        let mut text = Vec::new();
        loop {
            let mut line = String::new();
            match tokio::time::timeout(Duration::from_secs(30), self.io.read_line(&mut line)).await
            {
                Ok(Ok(0)) | Ok(Err(_)) => return (0, text.join("\n")),
                Ok(Ok(_)) => {}
                Err(_) => panic!("no reply within 30 s"),
            }
            let line = line.trim_end();
            let code = line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
            text.push(line.get(4..).unwrap_or("").to_string());
            if line.as_bytes().get(3) != Some(&b'-') {
                return (code, text.join("\n"));
            }
        }
    }

    pub async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let io = self.io.get_mut();
        io.write_all(bytes).await?;
        io.flush().await
    }

    pub async fn command(&mut self, line: &str) -> Reply {
        if self.write(format!("{line}\r\n").as_bytes()).await.is_err() {
            return (0, String::new());
        }
        self.reply().await
    }

    /// STARTTLS, trusting `cert` for `name`; the new EHLO's reply.
    pub async fn starttls(
        self,
        cert: &CertificateDer<'static>,
        name: &str,
        helo: &str,
    ) -> (Client, Reply) {
        let mut c = self;
        let (code, text) = c.command("STARTTLS").await;
        assert_eq!(code, 220, "STARTTLS: {text}");
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert.clone()).expect("the test certificate");
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let plain = c.io.into_inner();
        let tls = connector
            .connect(
                ServerName::try_from(name.to_string()).expect("a name"),
                plain,
            )
            .await
            .expect("the TLS handshake");
        let mut c = Client {
            io: BufReader::new(Box::new(tls)),
        };
        let ehlo = c.command(&format!("EHLO {helo}")).await;
        (c, ehlo)
    }

    /// MAIL, each RCPT, DATA and the message: every reply, in order.
    pub async fn send(&mut self, from: &str, to: &[&str], message: &[u8]) -> Vec<Reply> {
        let mut replies = vec![self.command(&format!("MAIL FROM:<{from}>")).await];
        for rcpt in to {
            replies.push(self.command(&format!("RCPT TO:<{rcpt}>")).await);
        }
        let data = self.command("DATA").await;
        let go = data.0 == 354;
        replies.push(data);
        if go {
            let mut body = Vec::new();
            for line in message.split(|b| *b == b'\n') {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line.starts_with(b".") {
                    body.push(b'.');
                }
                body.extend_from_slice(line);
                body.extend_from_slice(b"\r\n");
            }
            body.extend_from_slice(b".\r\n");
            if self.write(&body).await.is_err() {
                replies.push((0, String::new()));
                return replies;
            }
            replies.push(self.reply().await);
        }
        replies
    }
}

/// A relay on loopback: it takes one message at a time (any recipient),
/// adds `Received: from HELO ([client]) by NAME with ESMTP; date` on top,
/// and delivers it to `next` from loopback, introducing itself as `name`.
/// Its own address is returned; it runs until the test ends.
pub async fn relay(name: &'static str, next: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let addr = listener.local_addr().expect("its address");
    tokio::spawn(async move {
        while let Ok((stream, peer)) = listener.accept().await {
            tokio::spawn(relay_one(stream, peer, name, next));
        }
    });
    addr
}

async fn relay_one(stream: TcpStream, peer: SocketAddr, name: &str, next: SocketAddr) {
    let mut io = BufReader::new(stream);
    let _ = io
        .get_mut()
        .write_all(format!("220 {name} ESMTP relay\r\n").as_bytes())
        .await;
    let (mut helo, mut from, mut to) = (String::new(), String::new(), Vec::new());
    loop {
        let mut line = String::new();
        if io.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end().to_string();
        let upper = line.to_ascii_uppercase();
        let reply = if upper.starts_with("EHLO ") || upper.starts_with("HELO ") {
            helo = line[5..].trim().to_string();
            format!("250 {name}")
        } else if upper.starts_with("MAIL FROM:") {
            from = line[10..].trim().trim_matches(['<', '>']).to_string();
            "250 OK".into()
        } else if upper.starts_with("RCPT TO:") {
            to.push(line[8..].trim().trim_matches(['<', '>']).to_string());
            "250 OK".into()
        } else if upper == "DATA" {
            let _ = io.get_mut().write_all(b"354 go on\r\n").await;
            let mut message = Vec::new();
            loop {
                let mut l = String::new();
                if io.read_line(&mut l).await.unwrap_or(0) == 0 {
                    return;
                }
                let l = l.trim_end_matches(['\r', '\n']);
                if l == "." {
                    break;
                }
                message.extend_from_slice(l.strip_prefix('.').unwrap_or(l).as_bytes());
                message.extend_from_slice(b"\r\n");
            }
            let date = time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc2822)
                .expect("a date");
            let mut relayed = format!(
                "Received: from {helo} ({helo} [{}])\r\n\tby {name} with ESMTP id R1\r\n\tfor <{}>; {date}\r\n",
                peer.ip(),
                to.first().cloned().unwrap_or_default()
            )
            .into_bytes();
            relayed.extend_from_slice(&message);
            let (mut out, _) = Client::connect(next).await;
            out.command(&format!("EHLO {name}")).await;
            let rcpts: Vec<&str> = to.iter().map(String::as_str).collect();
            let replies = out.send(&from, &rcpts, &relayed).await;
            let last = replies.last().cloned().unwrap_or((0, String::new()));
            to.clear();
            format!(
                "{} {}",
                if last.0 == 0 { 451 } else { last.0 },
                last.1.replace('\n', " ")
            )
        } else if upper == "QUIT" {
            let _ = io.get_mut().write_all(b"221 bye\r\n").await;
            return;
        } else {
            "250 OK".into()
        };
        let _ = io
            .get_mut()
            .write_all(format!("{reply}\r\n").as_bytes())
            .await;
    }
}
