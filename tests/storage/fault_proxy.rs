//! A fault-injecting HTTP/1.1 proxy on loopback, put between advocacy and
//! the S3 server (moto): the tests tell it to answer some requests with a
//! 5xx or a 429, to drop connections, to cut a download short, or to go
//! away altogether (the port refuses connections) and come back.
//!
//! Deliberately simple: one thread per connection and one request per
//! connection (`Connection: close` both ways, so a response ends at EOF).
//! It binds 127.0.0.1 only and forwards only to the loopback address it is
//! given. Every request is logged with what was done to it, and injected
//! faults are counted per kind, so a test can assert that they happened.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// What the proxy can do to a request instead of forwarding it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// 503 SlowDown, S3's throttling answer.
    Unavailable,
    /// 500 InternalError.
    Internal,
    /// 429 Too Many Requests, with `Retry-After`.
    TooMany,
    /// Reads the request, then closes the connection without answering.
    Drop,
    /// Forwards the request, then closes the connection without relaying
    /// the answer: the server did the work, the client never hears of it
    /// (a non-idempotent request is then retried on a changed store).
    LoseResponse,
    /// Forwards a GET of an object, relays the head and half the body,
    /// then closes: a download cut short (only applies to an object GET
    /// answered 200/206 with a body).
    Truncate,
}

impl Fault {
    /// Every kind, in the order [`Plan::Every`] hands them out.
    pub const ALL: [Fault; 6] = [
        Fault::Unavailable,
        Fault::Internal,
        Fault::TooMany,
        Fault::Drop,
        Fault::LoseResponse,
        Fault::Truncate,
    ];

    fn applies_to(self, request: &Request) -> bool {
        match self {
            Fault::Truncate => request.method == "GET" && !request.target.contains('?'),
            _ => true,
        }
    }
}

/// A request as the proxy saw it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// Path and query, e.g. `/bucket/warehouse/_state/lock` or
    /// `/bucket/big.parquet?partNumber=1&uploadId=...`.
    pub target: String,
}

impl Request {
    /// An UploadPart request of a multipart upload.
    pub fn is_upload_part(&self) -> bool {
        self.method == "PUT" && self.target.contains("partNumber=")
    }

    /// A CompleteMultipartUpload request.
    pub fn is_complete_multipart(&self) -> bool {
        self.method == "POST" && self.target.contains("uploadId=")
    }

    /// The object key below the bucket (no query), e.g. `warehouse/_state/lock`.
    pub fn key(&self) -> &str {
        let path = self.target.split('?').next().unwrap_or_default();
        let path = path.trim_start_matches('/');
        path.split_once('/').map(|(_, key)| key).unwrap_or_default()
    }
}

/// What happened to a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Forwarded; the server's status.
    Forwarded(u16),
    Injected(Fault),
    /// The server was gone: the connection was closed unanswered (it had
    /// been accepted just before the port closed).
    Gone,
    /// Read and never answered ([`Plan::HangMatching`]).
    Hung,
}

pub type Rule = Arc<dyn Fn(&Request) -> bool + Send + Sync>;

/// The proxy's behaviour, changed at any time with [`FaultProxy::set`].
#[derive(Clone)]
pub enum Plan {
    /// Forward everything.
    Pass,
    /// Every `every`-th request gets the next kind of `faults`, in turn;
    /// a kind that does not apply to that request (a truncation on
    /// anything but an object GET) goes to the next request it applies to.
    Every { every: usize, faults: Vec<Fault> },
    /// Requests matching the rule get `fault`, the first `times` of them.
    Matching {
        rule: Rule,
        fault: Fault,
        times: usize,
    },
    /// The server goes away at the first request matching the rule: that
    /// request is dropped unanswered and the port closes (connections are
    /// refused) until [`FaultProxy::heal`].
    GoneAt(Rule),
    /// Requests matching the rule are read and never answered, until the
    /// plan changes (a store that accepts connections and hangs); the
    /// others are forwarded.
    HangMatching(Rule),
    /// Forward everything without its `If-None-Match` and `If-Match`
    /// headers: a store that ignores conditional writes (older MinIO,
    /// some Ceph RGW releases).
    IgnoreConditions,
}

struct State {
    plan: Plan,
    /// Requests seen since the plan was set (for `Every`).
    counter: usize,
    /// A fault of `Every` waiting for a request it applies to.
    pending: Option<Fault>,
    next_kind: usize,
    injected: BTreeMap<Fault, usize>,
    log: Vec<(Request, Outcome)>,
    /// The port is closed (or closing) and refuses connections.
    gone: bool,
    /// The accept loop has closed its listener.
    closed: bool,
}

pub struct FaultProxy {
    /// `http://127.0.0.1:<port>`: what advocacy is pointed at.
    pub endpoint: String,
    port: u16,
    shared: Arc<(Mutex<State>, Condvar)>,
}

impl FaultProxy {
    /// Starts the proxy on a free loopback port, forwarding to `upstream`
    /// (an `http://127.0.0.1:<port>` endpoint).
    pub fn start(upstream: &str) -> FaultProxy {
        let upstream: SocketAddr = upstream
            .strip_prefix("http://")
            .and_then(|a| a.parse().ok())
            .filter(|a: &SocketAddr| a.ip().is_loopback())
            .unwrap_or_else(|| panic!("the proxy only forwards to loopback, not {upstream}"));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new((
            Mutex::new(State {
                plan: Plan::Pass,
                counter: 0,
                pending: None,
                next_kind: 0,
                injected: BTreeMap::new(),
                log: Vec::new(),
                gone: false,
                closed: false,
            }),
            Condvar::new(),
        ));
        let accept_shared = shared.clone();
        std::thread::spawn(move || accept_loop(listener, port, upstream, accept_shared));
        FaultProxy {
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            shared,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces the plan (the fault counts and the log are kept).
    pub fn set(&self, plan: Plan) {
        let mut state = self.state();
        state.plan = plan;
        state.counter = 0;
        state.pending = None;
        state.next_kind = 0;
    }

    /// Brings a server that went away back on the same port, forwarding
    /// everything; returns once the port accepts connections again.
    pub fn heal(&self) {
        let (lock, wake) = &*self.shared;
        let mut state = lock.lock().unwrap();
        state.plan = Plan::Pass;
        if state.gone {
            // The accept loop may still be blocked in accept: make sure it
            // has seen `gone` and closed the port before reopening.
            while !state.closed {
                drop(state);
                let _ = TcpStream::connect(("127.0.0.1", self.port));
                std::thread::sleep(Duration::from_millis(5));
                state = lock.lock().unwrap();
            }
            state.gone = false;
            wake.notify_all();
            while state.closed {
                state = wake.wait(state).unwrap();
            }
        }
    }

    /// Whether the server is currently gone.
    pub fn is_gone(&self) -> bool {
        self.state().gone
    }

    /// Faults of each kind injected so far.
    pub fn injected(&self) -> BTreeMap<Fault, usize> {
        self.state().injected.clone()
    }

    pub fn injected_total(&self) -> usize {
        self.state().injected.values().sum()
    }

    /// Every request so far, with what was done to it.
    pub fn log(&self) -> Vec<(Request, Outcome)> {
        self.state().log.clone()
    }

    pub fn clear_log(&self) {
        self.state().log.clear();
    }
}

fn accept_loop(
    mut listener: TcpListener,
    port: u16,
    upstream: SocketAddr,
    shared: Arc<(Mutex<State>, Condvar)>,
) {
    loop {
        let accepted = listener.accept();
        {
            let (lock, wake) = &*shared;
            let mut state = lock.lock().unwrap_or_else(|e| e.into_inner());
            if state.gone {
                // Close the port: new connections are refused from now on.
                drop(accepted);
                drop(listener);
                state.closed = true;
                wake.notify_all();
                while state.gone {
                    state = wake.wait(state).unwrap_or_else(|e| e.into_inner());
                }
                listener = rebind(port);
                state.closed = false;
                wake.notify_all();
                continue;
            }
        }
        let Ok((client, _)) = accepted else { continue };
        let shared = shared.clone();
        std::thread::spawn(move || {
            let _ = handle(client, upstream, &shared);
        });
    }
}

/// The port was just closed by us; std sets SO_REUSEADDR, so binding it
/// again works at once (retried briefly all the same).
fn rebind(port: u16) -> TcpListener {
    for _ in 0..200 {
        match TcpListener::bind(("127.0.0.1", port)) {
            Ok(listener) => return listener,
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    panic!("cannot bind 127.0.0.1:{port} again");
}

enum Action {
    Forward,
    Hang,
    Inject(Fault),
    Gone,
}

fn decide(state: &mut State, request: &Request) -> Action {
    if state.gone {
        return Action::Gone;
    }
    match &state.plan {
        Plan::Pass | Plan::IgnoreConditions => Action::Forward,
        Plan::Every { every, faults } => {
            let (every, faults) = (*every, faults.clone());
            state.counter += 1;
            if state.pending.is_none() && state.counter.is_multiple_of(every) && !faults.is_empty()
            {
                state.pending = Some(faults[state.next_kind % faults.len()]);
                state.next_kind += 1;
            }
            match state.pending {
                Some(fault) if fault.applies_to(request) => {
                    state.pending = None;
                    Action::Inject(fault)
                }
                _ => Action::Forward,
            }
        }
        Plan::Matching { rule, fault, times } => {
            if *times > 0 && rule(request) {
                let fault = *fault;
                if let Plan::Matching { times, .. } = &mut state.plan {
                    *times -= 1;
                }
                Action::Inject(fault)
            } else {
                Action::Forward
            }
        }
        Plan::GoneAt(rule) => {
            if rule(request) {
                state.gone = true;
                Action::Gone
            } else {
                Action::Forward
            }
        }
        Plan::HangMatching(rule) => match rule(request) {
            true => Action::Hang,
            false => Action::Forward,
        },
    }
}

fn handle(
    mut client: TcpStream,
    upstream: SocketAddr,
    shared: &Arc<(Mutex<State>, Condvar)>,
) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let Some((head, body)) = read_request(&mut client)? else {
        return Ok(()); // the accept loop's wake-up connection, or a client that gave up
    };
    let request = parse_request_line(&head);
    let (action, head) = {
        let mut state = shared.0.lock().unwrap_or_else(|e| e.into_inner());
        let head = match state.plan {
            Plan::IgnoreConditions => without_conditions(&head),
            _ => head,
        };
        (decide(&mut state, &request), head)
    };
    let record = |outcome: Outcome| {
        let mut state = shared.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Outcome::Injected(fault) = outcome {
            *state.injected.entry(fault).or_default() += 1;
        }
        state.log.push((request.clone(), outcome));
    };
    match action {
        Action::Gone => {
            record(Outcome::Gone);
            // Wake the accept loop so that it closes the port now.
            if let Ok(port) = client.local_addr().map(|a| a.port()) {
                let _ = TcpStream::connect(("127.0.0.1", port));
            }
            let _ = client.shutdown(Shutdown::Both);
            Ok(())
        }
        Action::Hang => {
            record(Outcome::Hung);
            // Answer nothing while the plan still hangs; then give up on
            // the connection (the client has long timed out).
            loop {
                std::thread::sleep(Duration::from_millis(50));
                let state = shared.0.lock().unwrap_or_else(|e| e.into_inner());
                if !matches!(state.plan, Plan::HangMatching(_)) {
                    break;
                }
            }
            client.shutdown(Shutdown::Both)
        }
        Action::Inject(Fault::Drop) => {
            record(Outcome::Injected(Fault::Drop));
            client.shutdown(Shutdown::Both)
        }
        Action::Inject(fault @ (Fault::Unavailable | Fault::Internal | Fault::TooMany)) => {
            let (status, code) = match fault {
                Fault::Unavailable => ("503 Service Unavailable", "SlowDown"),
                Fault::Internal => ("500 Internal Server Error", "InternalError"),
                _ => ("429 Too Many Requests", "SlowDown"),
            };
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
                 <Message>injected by the test proxy</Message></Error>"
            );
            record(Outcome::Injected(fault));
            write!(
                client,
                "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\
                 Retry-After: 1\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )?;
            client.flush()
        }
        Action::Inject(Fault::LoseResponse) => {
            let response = forward(&head, &body, upstream);
            record(match response {
                Ok(_) => Outcome::Injected(Fault::LoseResponse),
                Err(_) => Outcome::Gone,
            });
            client.shutdown(Shutdown::Both)
        }
        Action::Forward | Action::Inject(Fault::Truncate) => {
            let truncate = matches!(action, Action::Inject(Fault::Truncate));
            let response = forward(&head, &body, upstream);
            let Ok(response) = response else {
                record(Outcome::Gone);
                return client.shutdown(Shutdown::Both);
            };
            let (status, head_len) = parse_response(&response);
            let body_len = response.len() - head_len;
            let out_head = rewrite_connection(&response[..head_len]);
            if truncate && (status == 200 || status == 206) && body_len >= 2 {
                record(Outcome::Injected(Fault::Truncate));
                client.write_all(&out_head)?;
                client.write_all(&response[head_len..head_len + body_len / 2])?;
                client.flush()?;
                return client.shutdown(Shutdown::Both);
            }
            if truncate {
                // Not a download after all (a 404, an empty object): the
                // truncation waits for the next object GET.
                let mut state = shared.0.lock().unwrap_or_else(|e| e.into_inner());
                if state.pending.is_none() && matches!(state.plan, Plan::Every { .. }) {
                    state.pending = Some(Fault::Truncate);
                }
            }
            record(Outcome::Forwarded(status));
            client.write_all(&out_head)?;
            client.write_all(&response[head_len..])?;
            client.flush()
        }
    }
}

/// Reads one request: the head (up to the blank line) and the body
/// (`Content-Length`, or chunked, kept as sent). `None` on a connection
/// closed before a whole head arrived.
fn read_request(client: &mut TcpStream) -> std::io::Result<Option<(Vec<u8>, Vec<u8>)>> {
    let mut data = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    let head_end = loop {
        if let Some(i) = find(&data, b"\r\n\r\n") {
            break i + 4;
        }
        let n = match client.read(&mut buf) {
            Ok(0) => return Ok(None),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return Ok(None),
        };
        data.extend_from_slice(&buf[..n]);
    };
    let mut body = data.split_off(head_end);
    let head = data;
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let header = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
    };
    if header("transfer-encoding:").is_some_and(|v| v.contains("chunked")) {
        while !chunked_complete(&body) {
            let n = client.read(&mut buf)?;
            if n == 0 {
                return Ok(None);
            }
            body.extend_from_slice(&buf[..n]);
        }
    } else {
        let length: usize = header("content-length:")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while body.len() < length {
            let n = client.read(&mut buf)?;
            if n == 0 {
                return Ok(None);
            }
            body.extend_from_slice(&buf[..n]);
        }
    }
    Ok(Some((head, body)))
}

/// Whether a chunked body is complete (its last, empty chunk and the
/// trailers have arrived).
fn chunked_complete(body: &[u8]) -> bool {
    let mut at = 0;
    loop {
        let Some(line_end) = find(&body[at..], b"\r\n") else {
            return false;
        };
        let size_text = String::from_utf8_lossy(&body[at..at + line_end]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            return false;
        };
        at += line_end + 2;
        if size == 0 {
            // No trailers (an empty line), or trailers ending in one.
            return body[at..].starts_with(b"\r\n") || find(&body[at..], b"\r\n\r\n").is_some();
        }
        at += size + 2;
        if at > body.len() {
            return false;
        }
    }
}

fn parse_request_line(head: &[u8]) -> Request {
    let text = String::from_utf8_lossy(head);
    let mut parts = text.lines().next().unwrap_or_default().split(' ');
    Request {
        method: parts.next().unwrap_or_default().to_string(),
        target: parts.next().unwrap_or_default().to_string(),
    }
}

/// Sends the request upstream with `Connection: close` and reads the
/// whole response (to EOF).
fn forward(head: &[u8], body: &[u8], upstream: SocketAddr) -> std::io::Result<Vec<u8>> {
    let mut server = TcpStream::connect_timeout(&upstream, Duration::from_secs(5))?;
    server.set_read_timeout(Some(Duration::from_secs(60)))?;
    server.write_all(&rewrite_connection(head))?;
    server.write_all(body)?;
    server.flush()?;
    let mut response = Vec::new();
    server.read_to_end(&mut response)?;
    if response.is_empty() {
        return Err(std::io::Error::new(ErrorKind::UnexpectedEof, "no response"));
    }
    Ok(response)
}

/// The status and the length of the head (up to and with the blank line).
fn parse_response(response: &[u8]) -> (u16, usize) {
    let head_len = find(response, b"\r\n\r\n").map_or(response.len(), |i| i + 4);
    let status = String::from_utf8_lossy(&response[..head_len.min(64)])
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head_len)
}

/// The head without its conditional-write headers.
fn without_conditions(head: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(head);
    let kept: Vec<&str> = text
        .split("\r\n")
        .filter(|line| {
            let name = line.split(':').next().unwrap_or_default();
            !name.eq_ignore_ascii_case("if-none-match") && !name.eq_ignore_ascii_case("if-match")
        })
        .collect();
    kept.join("\r\n").into_bytes()
}

/// The head with `Connection`, `Keep-Alive` and `Proxy-Connection`
/// replaced by `Connection: close`.
fn rewrite_connection(head: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(head);
    let mut out = String::new();
    for line in text.split("\r\n") {
        if line.is_empty() {
            continue;
        }
        let name = line
            .split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if matches!(
            name.as_str(),
            "connection" | "keep-alive" | "proxy-connection"
        ) {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    out.into_bytes()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
