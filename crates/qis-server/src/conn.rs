//! Connections, before and around HTTP: how many one peer address may hold open, the answer a
//! connection over that cap gets, and the JSON error body in place of the empty answers hyper
//! gives to requests it cannot parse.

use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::TcpStream;

use crate::error::{ApiError, Code};

/// What a peer's connections are counted by: its address, or for IPv6 its /64, the block one
/// host is usually given, so that it cannot pass its cap by changing addresses within it.
pub(crate) fn peer_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(std::net::Ipv6Addr::from(
            u128::from(v6) & !((1u128 << 64) - 1),
        )),
        v4 => v4,
    }
}

/// Answers a connection over its peer's cap with 429 `rate_limited` (the JSON error body,
/// `Retry-After`, `Connection: close`) and closes it. What the peer sent is read and dropped
/// (up to 64 KiB) after the answer, so that closing does not reset the connection before the
/// peer has read the answer. Gives up after a second: a peer cannot hold the task longer.
pub(crate) async fn refuse_over_cap(mut tcp: TcpStream, max: usize) {
    let body = ApiError::new(
        Code::RateLimited,
        format!(
            "this address holds {max} open connections to the node, its most; close some, or reuse them (keep-alive), and retry"
        ),
    )
    .retry_after(1)
    .json();
    let head = format!(
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        use tokio::io::AsyncReadExt as _;
        tcp.write_all(head.as_bytes()).await?;
        tcp.write_all(&body).await?;
        tcp.shutdown().await?;
        let mut sink = [0u8; 4096];
        let mut drained = 0;
        while drained < 64 * 1024 {
            match tcp.read(&mut sink).await? {
                0 => break,
                n => drained += n,
            }
        }
        std::io::Result::Ok(())
    })
    .await;
}

/// A connection's socket, on which hyper's own answers to requests it could not parse (400 for a
/// malformed request line or header, 414 for a target over 64 KiB, 431 for over 100 headers or
/// too many header bytes: a head with `content-length: 0` and nothing else) are replaced by the
/// node's JSON error body, with `Connection: close` (hyper closes the connection after them).
/// Every other byte passes through unchanged.
pub(crate) struct JsonErrors<S> {
    inner: S,
    /// A replacement answer still to be written, and how much of it is.
    pending: Vec<u8>,
    written: usize,
}

impl<S> JsonErrors<S> {
    pub(crate) fn new(inner: S) -> Self {
        JsonErrors {
            inner,
            pending: Vec::new(),
            written: 0,
        }
    }
}

impl<S: AsyncWrite + Unpin> JsonErrors<S> {
    /// Writes what is left of a replacement answer.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let n =
                ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.pending.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

/// The JSON answer in place of `head`, when `head` is one of hyper's answers to a request it
/// could not parse.
fn replacement(head: &[u8]) -> Option<Vec<u8>> {
    let end = head.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    if end != head.len() {
        return None;
    }
    let text = std::str::from_utf8(head).ok()?.to_ascii_lowercase();
    if !text.contains("\r\ncontent-length: 0\r\n") || text.contains("\r\ncontent-type:") {
        return None;
    }
    let (status, code, message) = match text.get(..13)? {
        "http/1.1 400 " => (
            "400 Bad Request",
            Code::DecodeError,
            "the request is not HTTP/1.1 this node can read (its request line or a header is malformed)",
        ),
        "http/1.1 414 " => (
            "414 URI Too Long",
            Code::UriTooLong,
            "the request target (path and query) is longer than the 65,534 bytes this node reads",
        ),
        "http/1.1 431 " => (
            "431 Request Header Fields Too Large",
            Code::HeadersTooLarge,
            "the request has more than 100 headers, or more header bytes than this node reads",
        ),
        _ => return None,
    };
    let body = ApiError::new(code, message).json();
    let mut out = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    Some(out)
}

impl<S: AsyncRead + Unpin> AsyncRead for JsonErrors<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for JsonErrors<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.drain(cx))?;
        if let Some(answer) = replacement(buf) {
            self.pending = answer;
            // Taken whole: what is not written yet goes out on the next write, flush or
            // shutdown, which hyper always calls after an answer.
            if let Poll::Ready(Err(e)) = self.drain(cx) {
                return Poll::Ready(Err(e));
            }
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    /// Not vectored, so that hyper writes each answer's head as one buffer: a replacement is
    /// recognised only whole.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hypers_empty_answers_are_replaced() {
        let auto = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Thu, 03 Dec 2026 07:00:00 GMT\r\n\r\n";
        let json = replacement(auto).unwrap();
        let text = String::from_utf8(json).unwrap();
        assert!(text.starts_with("HTTP/1.1 431 "), "{text}");
        assert!(text.contains("\"code\":\"headers_too_large\""), "{text}");
        // The node's own answers, and anything but a whole head, pass through.
        for other in [
            &b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\n\r\nmore",
            b"{\"code\":\"x\"}",
        ] {
            assert!(replacement(other).is_none());
        }
    }

    #[test]
    fn a_peer_is_its_address_and_an_ipv6_peer_its_slash_64() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(peer_key(ip("10.0.0.1")), ip("10.0.0.1"));
        assert_eq!(peer_key(ip("::ffff:10.0.0.1")), ip("10.0.0.1"));
        assert_eq!(peer_key(ip("2001:db8::1")), peer_key(ip("2001:db8::2")));
        assert_eq!(peer_key(ip("2001:db8::1")), ip("2001:db8::"));
        assert_ne!(peer_key(ip("2001:db8::1")), peer_key(ip("2001:db8:0:1::1")));
    }
}
