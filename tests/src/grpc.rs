//! A gRPC service for client streams: it accepts any stream (answering its initial
//! metadata at once), records every message as it arrives, and ends each stream with
//! `grpc-status: 0` once the client ends its side. It can be stopped, which resets every
//! open stream, and started again on the same port.

use bytes::{Buf, Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::sync::oneshot;

#[derive(Default)]
struct Received {
    /// `/package.Service/Method` and the message, in arrival order.
    messages: Mutex<Vec<(String, Vec<u8>)>>,
    streams: AtomicU64,
}

/// The running server; stopped on drop.
pub struct GrpcCollector {
    port: u16,
    received: Arc<Received>,
    running: Option<Running>,
}

struct Running {
    stop: oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl GrpcCollector {
    /// Starts on a free loopback port.
    pub fn start() -> GrpcCollector {
        let mut collector = GrpcCollector {
            port: 0,
            received: Arc::new(Received::default()),
            running: None,
        };
        collector.run();
        collector
    }

    /// The port it listens on (the same across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every message received so far, by every instance: the method path and the bytes.
    pub fn messages(&self) -> Vec<(String, Vec<u8>)> {
        self.received.messages.lock().unwrap().clone()
    }

    /// How many streams it has accepted, by every instance.
    pub fn streams(&self) -> u64 {
        self.received.streams.load(Ordering::Relaxed)
    }

    /// Stops it: the listener closes and every open stream is reset.
    pub fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = running.stop.send(());
            let _ = running.thread.join();
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }

    fn run(&mut self) {
        let listener =
            std::net::TcpListener::bind(("127.0.0.1", self.port)).expect("bind collector");
        listener.set_nonblocking(true).expect("non-blocking");
        self.port = listener.local_addr().expect("address").port();
        let (stop, stopped) = oneshot::channel();
        let received = self.received.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            runtime.block_on(serve(listener, received, stopped));
            // Dropping the runtime ends the connection tasks: open streams are reset.
        });
        self.running = Some(Running { stop, thread });
    }
}

impl Drop for GrpcCollector {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn serve(
    listener: std::net::TcpListener,
    received: Arc<Received>,
    stopped: oneshot::Receiver<()>,
) {
    crate::upstream::serve_http(listener, stopped, move |request| {
        answer(request, received.clone())
    })
    .await;
}

/// Answers the stream's headers at once, then reads its messages as they come; the
/// trailers follow the client's end of stream.
async fn answer(
    request: Request<Incoming>,
    received: Arc<Received>,
) -> Result<Response<StreamBody>, Infallible> {
    received.streams.fetch_add(1, Ordering::Relaxed);
    let method = request.uri().path().to_owned();
    let (ended, ends) = oneshot::channel();
    let mut body = request.into_body();
    tokio::spawn(async move {
        let mut pending = BytesMut::new();
        while let Some(Ok(frame)) = body.frame().await {
            let Ok(data) = frame.into_data() else {
                continue;
            };
            pending.extend_from_slice(&data);
            // gRPC framing: a flag byte, a 4-byte big-endian length, the message.
            while pending.len() >= 5 {
                let length =
                    u32::from_be_bytes([pending[1], pending[2], pending[3], pending[4]]) as usize;
                if pending.len() < 5 + length {
                    break;
                }
                pending.advance(5);
                let message = pending.split_to(length).to_vec();
                received
                    .messages
                    .lock()
                    .unwrap()
                    .push((method.clone(), message));
            }
        }
        let _ = ended.send(());
    });
    let response = Response::builder()
        .status(200)
        .header("content-type", "application/grpc")
        .body(StreamBody { ends: Some(ends) })
        .unwrap_or_else(|_| Response::new(StreamBody { ends: None }));
    Ok(response)
}

/// No data; `grpc-status: 0` trailers once the request has ended.
struct StreamBody {
    ends: Option<oneshot::Receiver<()>>,
}

impl hyper::body::Body for StreamBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let Some(ends) = self.ends.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(ends).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(_) => {
                self.ends = None;
                let mut trailers = hyper::HeaderMap::new();
                trailers.insert("grpc-status", hyper::header::HeaderValue::from_static("0"));
                Poll::Ready(Some(Ok(Frame::trailers(trailers))))
            }
        }
    }
}
