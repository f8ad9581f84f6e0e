//! A real HTTP upstream that records each request and echoes it back as JSON.

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// A request as the upstream received it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SeenRequest {
    /// Method.
    pub method: String,
    /// Path with query.
    pub path: String,
    /// Headers in order, names lower-case.
    pub headers: Vec<(String, String)>,
    /// Body (lossy UTF-8).
    pub body: String,
    /// Body, exactly.
    #[serde(skip)]
    pub body_bytes: Vec<u8>,
    /// Whether the whole request arrived (false when Envoy reset it midway).
    pub complete: bool,
}

impl SeenRequest {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Every value of header `name`.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
            .collect()
    }
}

/// What a scripted upstream answers (see [`Upstream::start_with`]).
#[derive(Clone, Debug, Default)]
pub struct Reply {
    /// Status (200 if 0).
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
    /// Trailers (sent only over HTTP/2, as gRPC does).
    pub trailers: Vec<(String, String)>,
    /// How long to wait before answering (a slow service).
    pub delay: std::time::Duration,
}

impl Reply {
    /// A reply with `status`.
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            ..Reply::default()
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Reply {
        self.body = body.into();
        self
    }

    /// Answers after `delay`.
    pub fn delay(mut self, delay: std::time::Duration) -> Reply {
        self.delay = delay;
        self
    }

    /// A successful unary gRPC answer carrying the serialized `message`.
    pub fn grpc(message: &[u8]) -> Reply {
        Reply::grpc_messages(&[message]).trailer("grpc-status", "0")
    }

    /// A gRPC answer's headers and `messages`, framed, without trailers (add
    /// `grpc-status` with [`trailer`](Reply::trailer)).
    pub fn grpc_messages(messages: &[&[u8]]) -> Reply {
        let mut framed = Vec::new();
        for message in messages {
            framed.push(0u8);
            framed.extend_from_slice(&(message.len() as u32).to_be_bytes());
            framed.extend_from_slice(message);
        }
        Reply::status(200)
            .header("content-type", "application/grpc")
            .body(framed)
    }

    /// A gRPC error status.
    pub fn grpc_status(code: u32, message: &str) -> Reply {
        Reply::status(200)
            .header("content-type", "application/grpc")
            .trailer("grpc-status", &code.to_string())
            .trailer("grpc-message", message)
    }

    /// Adds a trailer.
    pub fn trailer(mut self, name: &str, value: &str) -> Reply {
        self.trailers.push((name.into(), value.into()));
        self
    }
}

/// Decides the reply to each request.
pub type Handler = Arc<dyn Fn(&SeenRequest) -> Reply + Send + Sync>;

/// The gRPC request message inside a unary call's body (after the 5-byte frame header).
pub fn grpc_message(seen: &SeenRequest) -> Vec<u8> {
    seen.body_bytes.get(5..).unwrap_or_default().to_vec()
}

/// The echo upstream; stops on drop.
pub struct Upstream {
    addr: SocketAddr,
    seen: Arc<Recorder>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Upstream {
    /// Starts on a free loopback port. Every response carries `server: echo-upstream`,
    /// `x-upstream: echo` and a JSON [`SeenRequest`] body.
    pub fn start() -> Upstream {
        Upstream::start_on(0).expect("bind upstream")
    }

    /// Starts a service on a free port that answers each request with what `handler`
    /// returns; requests are recorded as with [`start`](Upstream::start). It speaks
    /// HTTP/1.1 and HTTP/2 (for gRPC).
    pub fn start_with(handler: impl Fn(&SeenRequest) -> Reply + Send + Sync + 'static) -> Upstream {
        Upstream::bind(0, Some(Arc::new(handler)), Keep::All).expect("bind service")
    }

    /// Starts on `port` of the loopback address (0 for a free one).
    pub fn start_on(port: u16) -> std::io::Result<Upstream> {
        Upstream::bind(port, None, Keep::All)
    }

    /// Starts the echo upstream on `port` (0 for a free one) for a long run, such as the
    /// `echo_upstream` binary: it answers as [`start`](Upstream::start) does but keeps only
    /// the last request, so its memory stays flat however many requests arrive.
    pub fn start_echo_on(port: u16) -> std::io::Result<Upstream> {
        Upstream::bind(port, None, Keep::Last)
    }

    /// Starts a sink for load: it answers `200 ok` and keeps only the last request, so
    /// memory stays flat however many requests arrive.
    pub fn start_sink() -> Upstream {
        let handler: Handler = Arc::new(|_: &SeenRequest| Reply::status(200).body("ok"));
        Upstream::bind(0, Some(handler), Keep::Last).expect("bind sink")
    }

    fn bind(port: u16, handler: Option<Handler>, keep: Keep) -> std::io::Result<Upstream> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let seen = Arc::new(Recorder {
            keep,
            seen: Mutex::new(Vec::new()),
            count: AtomicU64::new(0),
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let recorder = seen.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            runtime.block_on(serve(listener, recorder, handler, stopped));
        });
        Ok(Upstream {
            addr,
            seen,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.seen
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// How many requests it has received, including those it no longer keeps.
    pub fn request_count(&self) -> u64 {
        self.seen.count.load(Ordering::Relaxed)
    }

    /// The last request received.
    pub fn last_request(&self) -> Option<SeenRequest> {
        self.requests().pop()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Which requests an upstream remembers.
#[derive(Clone, Copy)]
enum Keep {
    All,
    Last,
}

struct Recorder {
    keep: Keep,
    seen: Mutex<Vec<SeenRequest>>,
    count: AtomicU64,
}

impl Recorder {
    fn record(&self, request: SeenRequest) {
        self.count.fetch_add(1, Ordering::Relaxed);
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if let Keep::Last = self.keep {
            seen.clear();
        }
        seen.push(request);
    }
}

async fn serve(
    listener: std::net::TcpListener,
    seen: Arc<Recorder>,
    handler: Option<Handler>,
    stopped: oneshot::Receiver<()>,
) {
    serve_http(listener, stopped, move |request| {
        answer(request, seen.clone(), handler.clone())
    })
    .await;
}

/// Serves HTTP/1.1 and HTTP/2 on `listener` with `answer` until `stopped`.
pub(crate) async fn serve_http<A, F, B>(
    listener: std::net::TcpListener,
    mut stopped: oneshot::Receiver<()>,
    answer: A,
) where
    A: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: std::future::Future<Output = Result<Response<B>, Infallible>> + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
    loop {
        let accepted = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else { continue };
        let answer = answer.clone();
        tokio::spawn(async move {
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service_fn(answer))
                .await;
        });
    }
}

async fn answer(
    request: Request<Incoming>,
    seen: Arc<Recorder>,
    handler: Option<Handler>,
) -> Result<Response<ReplyBody>, Infallible> {
    let (parts, body) = request.into_parts();
    let collected = body.collect().await.map(|collected| collected.to_bytes());
    let complete = collected.is_ok();
    let body = collected.unwrap_or_default();
    let request = SeenRequest {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
        body_bytes: body.to_vec(),
        complete,
    };
    seen.record(request.clone());
    let reply = match handler {
        Some(handler) => handler(&request),
        None => Reply::status(200)
            .header("content-type", "application/json")
            .header("server", "echo-upstream")
            .header("x-upstream", "echo")
            .body(serde_json::to_vec(&request).unwrap_or_default()),
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut response =
        Response::builder().status(if reply.status == 0 { 200 } else { reply.status });
    for (name, value) in &reply.headers {
        response = response.header(name, value);
    }
    let mut trailers = hyper::HeaderMap::new();
    for (name, value) in &reply.trailers {
        if let (Ok(name), Ok(value)) = (
            hyper::header::HeaderName::from_bytes(name.as_bytes()),
            hyper::header::HeaderValue::from_str(value),
        ) {
            trailers.append(name, value);
        }
    }
    let body = ReplyBody {
        data: Some(Bytes::from(reply.body)),
        trailers: (!trailers.is_empty()).then_some(trailers),
    };
    Ok(response
        .body(body)
        .unwrap_or_else(|_| Response::new(ReplyBody::default())))
}

/// A body of one data frame and, optionally, trailers.
#[derive(Default)]
pub struct ReplyBody {
    data: Option<Bytes>,
    trailers: Option<hyper::HeaderMap>,
}

impl hyper::body::Body for ReplyBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        if let Some(data) = self.data.take().filter(|d| !d.is_empty()) {
            return std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(data))));
        }
        std::task::Poll::Ready(
            self.trailers
                .take()
                .map(|t| Ok(hyper::body::Frame::trailers(t))),
        )
    }
}
