//! A TCP upstream for network filters: it echoes what each connection sends and records
//! all of it; stopped on drop.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Bytes each connection sent, in the order connections were accepted.
#[derive(Default)]
struct Seen {
    connections: Mutex<Vec<Vec<u8>>>,
    accepted: AtomicU64,
}

/// An echo server on a free loopback port.
pub struct TcpEcho {
    port: u16,
    seen: Arc<Seen>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TcpEcho {
    /// Starts it. Each connection gets back what it sends; when the peer half-closes, so
    /// does the server.
    pub fn start() -> TcpEcho {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind TCP upstream");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let port = listener.local_addr().expect("address").port();
        let seen = Arc::new(Seen::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (seen_by_thread, stopped) = (seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let index = {
                            let mut connections = seen_by_thread.connections.lock().unwrap();
                            connections.push(Vec::new());
                            connections.len() - 1
                        };
                        seen_by_thread.accepted.fetch_add(1, Ordering::Relaxed);
                        let seen = seen_by_thread.clone();
                        std::thread::spawn(move || echo(stream, &seen, index));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        TcpEcho {
            port,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// What each connection sent so far, in the order they were accepted.
    pub fn received(&self) -> Vec<Vec<u8>> {
        self.seen.connections.lock().unwrap().clone()
    }

    /// How many connections it has accepted.
    pub fn connections(&self) -> u64 {
        self.seen.accepted.load(Ordering::Relaxed)
    }
}

fn echo(mut stream: TcpStream, seen: &Seen, index: usize) {
    let mut buffer = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                seen.connections.lock().unwrap()[index].extend_from_slice(&buffer[..n]);
                if stream.write_all(&buffer[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = stream.shutdown(Shutdown::Write);
}

impl Drop for TcpEcho {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A client connection with a read timeout, for talking to a TCP listener.
pub struct TcpClient {
    stream: TcpStream,
}

impl TcpClient {
    /// Connects to `127.0.0.1:port`.
    pub fn connect(port: u16) -> TcpClient {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("read timeout");
        stream.set_nodelay(true).expect("nodelay");
        TcpClient { stream }
    }

    /// Sends `bytes`.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    /// Reads until `want` bytes came, the peer closed, or nothing came for 200 ms.
    pub fn read(&mut self, want: usize) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buffer = [0u8; 16 * 1024];
        while got.len() < want {
            match self.stream.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buffer[..n]),
            }
        }
        got
    }

    /// Whether the peer closed the connection (reads end; waits up to 200 ms).
    pub fn is_closed_by_peer(&mut self) -> bool {
        let mut buffer = [0u8; 1024];
        loop {
            match self.stream.read(&mut buffer) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(error) => {
                    return !matches!(
                        error.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    );
                }
            }
        }
    }

    /// Half-closes: no more bytes from this side.
    pub fn finish(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }
}
