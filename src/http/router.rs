//! One request, start to finish: route → method → header and body shape (400) → token (1201)
//! → handler (values, 1000, and the work itself) → reply.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_LENGTH};
use hyper::{Method, Request, Response, StatusCode};

use super::audit;
use super::envelope::{self, problem, Body, TOKEN_ERROR};
use super::rejections;
use super::shape::{self, Endpoint};
use super::MAX_BODY;
use crate::api::{self, Ctx};
use crate::token::Check;

struct Route {
    path: &'static str,
    methods: &'static [(Method, Endpoint)],
}

const ROUTES: &[Route] = &[
    Route {
        path: "/v1/agent/plugin/start",
        methods: &[(Method::POST, Endpoint::PluginStart)],
    },
    Route {
        path: "/v1/agent/plugin/stop",
        methods: &[(Method::POST, Endpoint::PluginStop)],
    },
    Route {
        path: "/v1/agent/application/info",
        methods: &[(Method::GET, Endpoint::ApplicationInfo)],
    },
    Route {
        path: "/v1/agent/host/info",
        methods: &[
            (Method::GET, Endpoint::HostInfoGet),
            (Method::POST, Endpoint::HostInfoPost),
        ],
    },
    Route {
        path: "/v1/agent/plugin/info",
        methods: &[(Method::GET, Endpoint::PluginInfo)],
    },
    Route {
        path: "/v1/agent/collect/items/change",
        methods: &[(Method::POST, Endpoint::CollectItemsChange)],
    },
    Route {
        path: "/v1/agent/file/collect",
        methods: &[(Method::POST, Endpoint::FileCollect)],
    },
];

/// How long a body may take to arrive once the headers are in (hyper's header timeout stops at
/// the headers): a client that declares more than it sends must not hold its connection forever.
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

const NOT_FOUND_DETAIL: &str = "The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.";
const METHOD_DETAIL: &str = "The method is not allowed for the requested URL.";

/// What the request log says about the outcome: the HTTP status, and the contract code if any.
struct Outcome {
    response: Response<Body>,
    code: Option<u16>,
}

impl From<Response<Body>> for Outcome {
    fn from(response: Response<Body>) -> Outcome {
        Outcome {
            response,
            code: None,
        }
    }
}

pub async fn handle(ctx: Arc<Ctx>, peer: SocketAddr, req: Request<Incoming>) -> Response<Body> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let outcome = route(ctx, peer, req).await;
    if crate::log::enabled(crate::log::Level::Debug) {
        let code = outcome
            .code
            .map(|c| format!(" code {c}"))
            .unwrap_or_default();
        crate::debug!(
            "{} {} from {} -> HTTP {}{} in {:.3} ms",
            method,
            path,
            peer,
            outcome.response.status().as_u16(),
            code,
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
    outcome.response
}

async fn route(ctx: Arc<Ctx>, peer: SocketAddr, req: Request<Incoming>) -> Outcome {
    let Some(route) = ROUTES.iter().find(|r| r.path == req.uri().path()) else {
        return problem(StatusCode::NOT_FOUND, NOT_FOUND_DETAIL).into();
    };
    let Some(&(_, endpoint)) = route.methods.iter().find(|(m, _)| m == req.method()) else {
        let allow: Vec<&str> = route.methods.iter().map(|(m, _)| m.as_str()).collect();
        let mut r = problem(StatusCode::METHOD_NOT_ALLOWED, METHOD_DETAIL);
        if let Ok(v) = HeaderValue::from_str(&allow.join(", ")) {
            r.headers_mut().insert(ALLOW, v);
        }
        return r.into();
    };
    let Some(token) = req.headers().get("access_token").cloned() else {
        return problem(
            StatusCode::BAD_REQUEST,
            "Missing header parameter 'access_token'",
        )
        .into();
    };
    let query = req.uri().query().map(str::to_string);
    let body = match read_body(req).await {
        Ok(b) => b,
        Err(r) => return r.into(),
    };
    let call = match shape::parse(endpoint, query.as_deref(), &body) {
        Ok(c) => c,
        Err(detail) => return problem(StatusCode::BAD_REQUEST, &detail).into(),
    };
    // The token is a view into the connection's read buffer: held while the handler waits for
    // a worker, it would keep that buffer from being reused, and hyper would take a second one
    // for the connection's next read. The body is not needed past the checks either.
    drop(body);
    let verdict = ctx.tokens.check(token.as_bytes());
    drop(token);
    match verdict {
        Check::Valid => {}
        verdict => {
            let why = if verdict == Check::NotRegistered {
                format!(
                    "this host is not registered (no usable token in {}); run `aops_agent register`",
                    ctx.tokens.path().display()
                )
            } else {
                "wrong access token".to_string()
            };
            rejections::note(|| format!("rejected {} from {}: {}", route.path, peer, why));
            return Outcome {
                response: envelope::envelope(TOKEN_ERROR, None),
                code: Some(TOKEN_ERROR),
            };
        }
    }
    // Handlers read files and run systemctl: keep them off the thread that serves connections.
    let worker = Arc::clone(&ctx);
    let audited = audit::wanted(&call).then(|| call.clone());
    let result = tokio::task::spawn_blocking(move || api::dispatch(&worker, call)).await;
    let (response, code) = match result {
        Ok(outcome) => {
            if let Err(e) = &outcome {
                e.log(route.path);
            }
            if let Some(call) = &audited {
                audit::record(call, peer, &outcome);
            }
            envelope::reply(outcome)
        }
        Err(e) => {
            crate::error!("{} failed: the handler did not finish: {}", route.path, e);
            envelope::reply(Err(api::ApiError::Failed("handler did not finish".into())))
        }
    };
    Outcome {
        response,
        code: Some(code),
    }
}

async fn read_body(req: Request<Incoming>) -> Result<Bytes, Response<Body>> {
    let too_large = || {
        problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("Request body is larger than the limit of {MAX_BODY} bytes"),
        )
    };
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let declared = match declared {
        Some(n) if n > MAX_BODY as u64 => return Err(too_large()),
        Some(n) => n as usize,
        None => 0,
    };
    // Into one buffer of the declared size, each piece dropped once copied: a body costs its
    // size and one piece of the connection's buffer, where collecting the pieces and then
    // joining them would cost twice its size.
    let mut body = req.into_body();
    let collect = async move {
        let mut out = Vec::with_capacity(declared);
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                problem(
                    StatusCode::BAD_REQUEST,
                    &format!("Cannot read request body: {e}"),
                )
            })?;
            if let Ok(data) = frame.into_data() {
                if out.len() + data.len() > MAX_BODY {
                    return Err(too_large());
                }
                out.extend_from_slice(&data);
            }
        }
        Ok(Bytes::from(out))
    };
    let Ok(collected) = tokio::time::timeout(BODY_TIMEOUT, collect).await else {
        return Err(problem(
            StatusCode::BAD_REQUEST,
            &format!(
                "Request body did not arrive within {} s",
                BODY_TIMEOUT.as_secs()
            ),
        ));
    };
    collected
}
