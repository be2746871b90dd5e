//! What bounds connections: a connection that trickles its headers, or idles
//! between requests, is closed after `server.header_read_timeout_seconds`;
//! past `server.max_connections`, a new connection waits to be accepted
//! until one closes, and is then answered.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Service, TestDb, command};

/// Reads until the peer closes (or `limit` passes); what came, and whether it closed.
fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    stream.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let (started, mut got) = (Instant::now(), Vec::new());
    let mut buf = [0u8; 4096];
    while started.elapsed() < limit {
        match stream.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&got).into_owned(), true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), true),
        }
    }
    (String::from_utf8_lossy(&got).into_owned(), false)
}

#[tokio::test]
async fn slow_or_idle_connections_are_closed_and_a_full_server_makes_new_ones_wait() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = command(Some(&db.url), dir.path());
    cmd.env("DISTILLWATCH__SERVER__HEADER_READ_TIMEOUT_SECONDS", "2").env("DISTILLWATCH__SERVER__MAX_CONNECTIONS", "2");
    let service = Service::start(cmd);
    let addr = format!("127.0.0.1:{}", service.port);
    let get = b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n";

    // Two connections take both slots: one trickles its headers, one is answered and then idles.
    let mut trickle = TcpStream::connect(&addr).unwrap();
    trickle.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n").unwrap();
    let mut idle = TcpStream::connect(&addr).unwrap();
    idle.write_all(get).unwrap();
    let mut answer = [0u8; 12];
    idle.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"HTTP/1.1 200");
    let opened = Instant::now();

    // A third connection waits: nothing answers it while both slots are held...
    let mut third = TcpStream::connect(&addr).unwrap();
    third.write_all(get).unwrap();
    third.set_read_timeout(Some(Duration::from_millis(800))).unwrap();
    let mut first = [0u8; 12];
    let early = third.read(&mut first);
    assert!(
        early.is_err() || opened.elapsed() >= Duration::from_secs(2),
        "the third connection was answered while two were held: {early:?}"
    );

    // ... the two held ones are closed once the header read timeout passes (the trickler never
    // finished its headers; the idle one sent no next request) ...
    let (_, closed) = read_until_closed(&mut trickle, Duration::from_secs(10));
    assert!(closed, "a connection trickling its headers was kept open");
    let (rest, closed) = read_until_closed(&mut idle, Duration::from_secs(10));
    assert!(closed, "an idle keep-alive connection was kept open: {rest}");
    assert!(opened.elapsed() >= Duration::from_millis(1_500), "closed before the timeout: {:?}", opened.elapsed());

    // ... and then the third is accepted and answered.
    let (answer, _) = read_until_closed(&mut third, Duration::from_secs(10));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");

    let (status, logs) = service.stop();
    assert!(status.success(), "{logs}");
    db.drop_db().await;
}
