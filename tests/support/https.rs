//! A real HTTPS server on loopback for the policy and logo fetches'
//! tests: each path gets its configured answer (status, content type,
//! body), or one answer for every path.

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::smtp_support::{Server, Tls};

#[derive(Clone)]
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

/// One answer for every path.
pub async fn start(tls: Tls, answer: Answer) -> Server {
    start_routes(tls, vec![("/", answer)]).await
}

/// The answer of the first route whose path prefix matches; 404 if none.
pub async fn start_routes(tls: Tls, routes: Vec<(&'static str, Answer)>) -> Server {
    let Tls::Cert(chain, key) = tls else {
        panic!("an HTTPS server needs a certificate");
    };
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key.clone_key())
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let routes = Arc::new(routes);
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, routes) = (acceptor.clone(), Arc::clone(&routes));
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                // The request head, up to the blank line.
                let mut head = Vec::new();
                let mut b = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 16_384 {
                    if tls.read(&mut b).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(b[0]);
                }
                let head = String::from_utf8_lossy(&head);
                let path = head.split_whitespace().nth(1).unwrap_or("/");
                let missing = Answer {
                    status: 404,
                    content_type: "text/plain",
                    body: "not found".into(),
                };
                let answer = routes
                    .iter()
                    .find(|(prefix, _)| path.starts_with(prefix))
                    .map_or(&missing, |(_, a)| a);
                let reply = format!(
                    "HTTP/1.1 {} X\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                    answer.status,
                    answer.content_type,
                    answer.body.len(),
                    answer.body
                );
                let _ = tls.write_all(reply.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    Server { addr, task }
}
