//! HTTP side: the accept loop (able to drop a connection on purpose), the router of the
//! VNGCloud paths, the middleware (journal, faults, auth, rate limit) and the admin paths.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{MatchedPath, Path, RawQuery, Request, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use base64::Engine as _;
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tower::ServiceExt as _;

use crate::config::Clock;
use crate::control::{Fault, FaultKind};
use crate::state::{ApiError, ApiResult, Bucket, State};

/// The shared core: state plus time source.
#[derive(Debug)]
pub(crate) struct Core {
    pub state: Mutex<State>,
    pub clock: Arc<dyn Clock>,
    pub started: Instant,
}

pub(crate) type App = Arc<Core>;

type Params = HashMap<String, String>;

/// Lets a handler close the connection it is served on.
#[derive(Debug, Clone)]
struct ConnKill(Arc<Notify>);

/// The IAM path.
pub const TOKEN_PATH: &str = "/accounts-api/v2/auth/token";
const VLB: &str = "/vlb-gateway/v2/{projectId}";
const VS: &str = "/vserver-gateway/v2/{projectId}";

fn json_response(status: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status == StatusCode::NO_CONTENT || (body.is_null() && status != StatusCode::OK) {
        return status.into_response();
    }
    (status, axum::Json(body.clone())).into_response()
}

fn error_response(e: &ApiError) -> Response {
    json_response(e.status, &json!({ "message": e.message }))
}

fn respond(r: ApiResult) -> Response {
    match r {
        Ok(reply) => json_response(reply.status, &reply.body),
        Err(e) => error_response(&e),
    }
}

fn parse<T: DeserializeOwned + Default>(body: &Bytes) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::new(400, format!("Invalid request body: {e}")))
}

fn param<'a>(p: &'a Params, key: &str) -> &'a str {
    p.get(key).map_or("", String::as_str)
}

impl Core {
    fn now(&self) -> Instant {
        self.clock.now()
    }

    fn run(&self, f: impl FnOnce(&mut State, Instant) -> ApiResult) -> Response {
        let now = self.now();
        let mut st = self.state.lock();
        st.refresh(now);
        respond(f(&mut st, now))
    }

    fn record(&self, method: &str, template: &str, path: &str, status: u16) {
        let at_ms = self
            .now()
            .saturating_duration_since(self.started)
            .as_millis() as u64;
        self.state
            .lock()
            .journal
            .push(method, template, path, status, at_ms);
    }

    fn take_fault(&self, method: &str, template: &str) -> Option<FaultKind> {
        let mut st = self.state.lock();
        let f = st.faults.iter_mut().find(|f| f.matches(method, template))?;
        f.times -= 1;
        let kind = f.kind;
        st.faults.retain(|f| f.times > 0);
        Some(kind)
    }
}

// ---------------------------------------------------------------- serving

pub(crate) async fn serve_connection(stream: TcpStream, router: Router) {
    let kill = Arc::new(Notify::new());
    let handle = kill.clone();
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(ConnKill(handle.clone()));
        router.clone().oneshot(req)
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), svc);
    tokio::select! {
        _ = conn => {}
        () = kill.notified() => {}
    }
}

// ---------------------------------------------------------------- middleware

fn project_of(path: &str) -> Option<&str> {
    // "/vlb-gateway/v2/{projectId}/..." -> segment 3
    path.split('/').nth(3)
}

fn unauthorized() -> Response {
    json_response(
        401,
        &json!({ "message": "Unauthorized: the access token is missing, invalid or expired" }),
    )
}

fn check_auth(app: &Core, headers: &HeaderMap, now: Instant) -> bool {
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
    else {
        return false;
    };
    let st = app.state.lock();
    st.tokens.get(token.trim()).is_some_and(|exp| now < *exp)
}

/// Takes a token from the project's bucket, or says how long to wait.
fn take_token(app: &Core, project: &str, now: Instant) -> Result<(), Duration> {
    let mut st = app.state.lock();
    let limit = st.rate_limit;
    let capacity = f64::from(limit.requests.max(1));
    let rate = capacity / limit.window.as_secs_f64().max(0.001);
    let b = st.buckets.entry(project.to_owned()).or_insert(Bucket {
        tokens: capacity,
        last: now,
    });
    let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
    b.tokens = (b.tokens + elapsed * rate).min(capacity);
    b.last = now;
    if b.tokens >= 1.0 {
        b.tokens -= 1.0;
        Ok(())
    } else {
        Err(Duration::from_secs_f64((1.0 - b.tokens) / rate))
    }
}

fn too_many(wait: Duration, limit: u32) -> Response {
    // Whole seconds, rounded up, at least 1. X-Ratelimit-Reset carries the same delay in
    // seconds (the controller reads it as a delay, before Retry-After).
    let secs = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
    let mut resp = json_response(
        429,
        &json!({ "message": "Too many requests, please try again later" }),
    );
    let h = resp.headers_mut();
    h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    h.insert("x-ratelimit-reset", HeaderValue::from(secs));
    h.insert("x-ratelimit-limit", HeaderValue::from(limit));
    h.insert("x-ratelimit-remaining", HeaderValue::from(0u32));
    resp
}

async fn api_middleware(
    AxState(app): AxState<App>,
    matched: MatchedPath,
    req: Request,
    next: Next,
) -> Response {
    let method = req.method().as_str().to_owned();
    let template = matched.as_str().to_owned();
    let path = req.uri().path().to_owned();
    let kill = req.extensions().get::<ConnKill>().cloned();
    let fault = app.take_fault(&method, &template);
    if let Some(d) = fault.and_then(FaultKind::latency) {
        tokio::time::sleep(d).await;
    }
    match fault {
        Some(FaultKind::Status { status }) => {
            app.record(&method, &template, &path, status);
            return json_response(status, &json!({ "message": "Injected fault" }));
        }
        Some(FaultKind::Drop) => {
            app.record(&method, &template, &path, 0);
            return drop_connection(kill).await;
        }
        _ => {}
    }
    let now = app.now();
    let resp = 'resp: {
        if template != TOKEN_PATH {
            if !check_auth(&app, req.headers(), now) {
                break 'resp unauthorized();
            }
            let project = project_of(&path).unwrap_or_default().to_owned();
            if let Err(wait) = take_token(&app, &project, now) {
                break 'resp too_many(wait, app.state.lock().rate_limit.requests);
            }
            let expected = app.state.lock().fixture.project_id.clone();
            if project != expected {
                break 'resp json_response(
                    403,
                    &json!({ "message": format!("Project {project} is not belong to user") }),
                );
            }
        }
        next.run(req).await
    };
    if let Some(FaultKind::LostResponse { status }) = fault {
        if let Some(s) = status {
            app.record(&method, &template, &path, s);
            return json_response(s, &json!({ "message": "Injected fault" }));
        }
        app.record(&method, &template, &path, 0);
        return drop_connection(kill).await;
    }
    app.record(&method, &template, &path, resp.status().as_u16());
    resp
}

async fn drop_connection(kill: Option<ConnKill>) -> Response {
    match kill {
        Some(k) => {
            k.0.notify_one();
            std::future::pending::<Response>().await
        }
        None => StatusCode::BAD_GATEWAY.into_response(),
    }
}

// ---------------------------------------------------------------- IAM

async fn token(AxState(app): AxState<App>, headers: HeaderMap, body: Bytes) -> Response {
    let iam_error = |status: u16, code: &str, message: &str| {
        json_response(
            status,
            &json!({ "errors": [{ "code": code, "message": message }] }),
        )
    };
    let creds = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok());
    let Some((id, secret)) = creds.as_deref().and_then(|c| c.split_once(':')) else {
        return iam_error(401, "AUTHENTICATION_FAILED", "Missing client credentials");
    };
    let grant: Option<String> = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| {
            v.get("grant_type")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .or_else(|| {
            url::form_urlencoded::parse(&body)
                .find(|(k, _)| k == "grant_type")
                .map(|(_, v)| v.into_owned())
        });
    if grant.as_deref() != Some("client_credentials") {
        return iam_error(
            400,
            "INVALID_GRANT_TYPE",
            "grant_type must be client_credentials",
        );
    }
    let now = app.now();
    let mut st = app.state.lock();
    if id == st.fixture.client_id {
        if st.locked_until.is_some_and(|until| now < until) {
            return iam_error(
                400,
                "TOO_MANY_FAILED_LOGINS",
                "Too many failed logins, please try again later",
            );
        }
        st.locked_until = None;
    }
    if id != st.fixture.client_id || secret != st.fixture.client_secret {
        if id == st.fixture.client_id {
            st.failed_logins += 1;
            if st.failed_logins >= crate::MAX_FAILED_LOGINS {
                st.failed_logins = 0;
                st.locked_until = Some(now + crate::LOGIN_LOCKOUT);
            }
        }
        return iam_error(401, "AUTHENTICATION_FAILED", "Invalid client credentials");
    }
    st.failed_logins = 0;
    let ttl = st.token_ttl;
    let access = format!("emu.{}", uuid::Uuid::new_v4().simple());
    st.tokens.retain(|_, exp| *exp > now);
    st.tokens.insert(access.clone(), now + ttl);
    json_response(
        200,
        &json!({
            "access_token": access,
            "expires_in": ttl.as_secs(),
            "token_type": "Bearer",
            "refresh_expires_in": 0,
        }),
    )
}

// ---------------------------------------------------------------- router

type S = AxState<App>;
type P = Path<Params>;

#[allow(clippy::too_many_lines)]
pub(crate) fn router(app: App) -> Router {
    let lb = format!("{VLB}/loadBalancers/{{loadBalancerId}}");
    let lis = format!("{lb}/listeners/{{listenerId}}");
    let pool = format!("{lb}/pools/{{poolId}}");
    let api =
        Router::new()
            .route(TOKEN_PATH, post(token))
            .route(
                &format!("{VLB}/loadBalancers"),
                post(|AxState(a): S, b: Bytes| async move {
                    a.run(|st, now| st.create_lb(now, &parse(&b)?))
                })
                .get(|AxState(a): S, RawQuery(q): RawQuery| async move {
                    a.run(|st, _| st.list_lbs(q.as_deref().unwrap_or("")))
                }),
            )
            .route(
                &format!("{VLB}/loadBalancers/packages"),
                get(|AxState(a): S, RawQuery(q): RawQuery| async move {
                    a.run(|st, _| st.list_packages(q.as_deref().unwrap_or("")))
                }),
            )
            .route(
                &lb,
                get(|AxState(a): S, Path(p): P| async move {
                    a.run(|st, _| st.get_lb(param(&p, "loadBalancerId")))
                })
                .delete(|AxState(a): S, Path(p): P| async move {
                    a.run(|st, now| st.delete_lb(now, param(&p, "loadBalancerId")))
                }),
            )
            .route(
                &format!("{lb}/resize"),
                put(|AxState(a): S, Path(p): P, b: Bytes| async move {
                    a.run(|st, now| st.resize_lb(now, param(&p, "loadBalancerId"), &parse(&b)?))
                }),
            )
            .route(
                &format!("{lb}/listeners"),
                post(|AxState(a): S, Path(p): P, b: Bytes| async move {
                    a.run(|st, now| {
                        st.create_listener(now, param(&p, "loadBalancerId"), &parse(&b)?)
                    })
                })
                .get(|AxState(a): S, Path(p): P| async move {
                    a.run(|st, _| st.list_listeners(param(&p, "loadBalancerId")))
                }),
            )
            .route(
                &lis,
                get(|AxState(a): S, Path(p): P| async move {
                    a.run(|st, _| {
                        st.get_listener(param(&p, "loadBalancerId"), param(&p, "listenerId"))
                    })
                })
                .put(|AxState(a): S, Path(p): P, b: Bytes| async move {
                    a.run(|st, now| {
                        st.update_listener(
                            now,
                            param(&p, "loadBalancerId"),
                            param(&p, "listenerId"),
                            &parse(&b)?,
                        )
                    })
                })
                .delete(|AxState(a): S, Path(p): P| async move {
                    a.run(|st, now| {
                        st.delete_listener(
                            now,
                            param(&p, "loadBalancerId"),
                            param(&p, "listenerId"),
                        )
                    })
                }),
            )
            .route(
                &format!("{lis}/l7policies"),
                get(|AxState(a): S, Path(p): P| async move {
                    a.run(|st, _| {
                        st.list_policies(param(&p, "loadBalancerId"), param(&p, "listenerId"))
                    })
                })
                .post(|AxState(a): S, Path(p): P, b: Bytes| async move {
                    a.run(|st, now| {
                        st.create_policy(
                            now,
                            param(&p, "loadBalancerId"),
                            param(&p, "listenerId"),
                            &parse(&b)?,
                        )
                    })
                }),
            )
            .route(
                &format!("{lis}/l7policies/{{policyId}}"),
                get(|AxState(a): S, Path(p): P| async move {
                    a.run(|st, _| {
                        st.get_policy(
                            param(&p, "loadBalancerId"),
                            param(&p, "listenerId"),
                            param(&p, "policyId"),
                        )
                    })
                })
                .put(|AxState(a): S, Path(p): P, b: Bytes| async move {
                    a.run(|st, now| {
                        st.update_policy(
                            now,
                            param(&p, "loadBalancerId"),
                            param(&p, "listenerId"),
                            param(&p, "policyId"),
                            &parse(&b)?,
                        )
                    })
                })
                .delete(|AxState(a): S, Path(p): P| async move {
                    a.run(|st, now| {
                        st.delete_policy(
                            now,
                            param(&p, "loadBalancerId"),
                            param(&p, "listenerId"),
                            param(&p, "policyId"),
                        )
                    })
                }),
            )
            .route(
                &format!("{lis}/reorderL7Policies"),
                put(|AxState(a): S, Path(p): P, b: Bytes| async move {
                    a.run(|st, now| {
                        st.reorder_policies(
                            now,
                            param(&p, "loadBalancerId"),
                            param(&p, "listenerId"),
                            &parse(&b)?,
                        )
                    })
                }),
            )
            .route(
                &format!("{lb}/pools"),
                post(|AxState(a): S, Path(p): P, b: Bytes| async move {
                    a.run(|st, now| st.create_pool(now, param(&p, "loadBalancerId"), &parse(&b)?))
                })
                .get(|AxState(a): S, Path(p): P| async move {
                    a.run(|st, _| st.list_pools(param(&p, "loadBalancerId")))
                }),
            )
            .route(
                &pool,
                get(|AxState(a): S, Path(p): P| async move {
                    a.run(|st, _| st.get_pool(param(&p, "loadBalancerId"), param(&p, "poolId")))
                })
                .put(|AxState(a): S, Path(p): P, b: Bytes| async move {
                    a.run(|st, now| {
                        st.update_pool(
                            now,
                            param(&p, "loadBalancerId"),
                            param(&p, "poolId"),
                            &parse(&b)?,
                        )
                    })
                })
                .delete(|AxState(a): S, Path(p): P| async move {
                    a.run(|st, now| {
                        st.delete_pool(now, param(&p, "loadBalancerId"), param(&p, "poolId"))
                    })
                }),
            )
            .route(
                &format!("{pool}/members"),
                get(|AxState(a): S, Path(p): P| async move {
                    a.run(|st, _| st.list_members(param(&p, "loadBalancerId"), param(&p, "poolId")))
                })
                .put(|AxState(a): S, Path(p): P, b: Bytes| async move {
                    a.run(|st, now| {
                        st.update_members(
                            now,
                            param(&p, "loadBalancerId"),
                            param(&p, "poolId"),
                            &parse(&b)?,
                        )
                    })
                }),
            )
            .route(
                &format!("{pool}/healthMonitor"),
                get(|AxState(a): S, Path(p): P| async move {
                    a.run(|st, _| {
                        st.get_health_monitor(param(&p, "loadBalancerId"), param(&p, "poolId"))
                    })
                }),
            )
            .route(
                &format!("{VLB}/cas"),
                get(|AxState(a): S| async move { a.run(|st, _| st.list_certificates()) }).post(
                    |AxState(a): S, b: Bytes| async move {
                        a.run(|st, _| st.create_certificate(&parse(&b)?))
                    },
                ),
            )
            .route(
                &format!("{VLB}/cas/{{certificateId}}"),
                get(|AxState(a): S, Path(p): P| async move {
                    a.run(|st, _| st.get_certificate(param(&p, "certificateId")))
                })
                .delete(|AxState(a): S, Path(p): P| async move {
                    a.run(|st, _| st.delete_certificate(param(&p, "certificateId")))
                }),
            )
            // ------------------------------------------------ vServer
            .route(
                &format!("{VS}/tag/resource/{{resourceId}}"),
                get(|AxState(a): S, Path(p): P| async move {
                    a.run(|st, _| st.list_tags(param(&p, "resourceId")))
                })
                .put(|AxState(a): S, Path(p): P, b: Bytes| async move {
                    a.run(|st, _| st.put_tags(param(&p, "resourceId"), &parse(&b)?, true))
                })
                .post(|AxState(a): S, Path(p): P, b: Bytes| async move {
                    a.run(|st, _| st.put_tags(param(&p, "resourceId"), &parse(&b)?, false))
                }),
            )
            .route(
                &format!("{VS}/servers/{{serverId}}"),
                get(|AxState(a): S, Path(p): P| async move {
                    a.run(|st, _| st.get_server(param(&p, "serverId")))
                }),
            )
            .route(
                &format!("{VS}/servers/{{serverId}}/update-sec-group"),
                put(|AxState(a): S, Path(p): P, b: Bytes| async move {
                    a.run(|st, now| {
                        st.update_server_secgroups(now, param(&p, "serverId"), &parse(&b)?)
                    })
                }),
            )
            .route(
                &format!("{VS}/networks/{{networkId}}"),
                get(|AxState(a): S, Path(p): P| async move {
                    a.run(|st, _| st.get_network(param(&p, "networkId")))
                }),
            )
            .route(
                &format!("{VS}/networks/{{networkId}}/subnets/{{subnetId}}"),
                get(|AxState(a): S, Path(p): P| async move {
                    a.run(|st, _| st.get_subnet(param(&p, "networkId"), param(&p, "subnetId")))
                }),
            )
            .route(
                &format!("{VS}/secgroups"),
                get(|AxState(a): S| async move { a.run(|st, _| st.list_secgroups()) }).post(
                    |AxState(a): S, b: Bytes| async move {
                        a.run(|st, _| st.create_secgroup(&parse(&b)?))
                    },
                ),
            )
            .route(
                &format!("{VS}/secgroups/{{secgroupId}}"),
                get(|AxState(a): S, Path(p): P| async move {
                    a.run(|st, _| st.get_secgroup(param(&p, "secgroupId")))
                })
                .delete(|AxState(a): S, Path(p): P| async move {
                    a.run(|st, _| st.delete_secgroup(param(&p, "secgroupId")))
                }),
            )
            .route(
                &format!("{VS}/secgroups/{{secgroupId}}/secgroupRules"),
                post(|AxState(a): S, Path(p): P, b: Bytes| async move {
                    a.run(|st, _| st.create_rule(param(&p, "secgroupId"), &parse(&b)?))
                })
                .get(|AxState(a): S, Path(p): P| async move {
                    a.run(|st, _| st.list_rules(param(&p, "secgroupId")))
                }),
            )
            .route(
                &format!("{VS}/secgroups/{{secgroupId}}/secGroupRules"),
                get(|AxState(a): S, Path(p): P| async move {
                    a.run(|st, _| st.list_rules(param(&p, "secgroupId")))
                }),
            )
            .route(
                &format!("{VS}/secgroups/{{secgroupId}}/secgroupRules/{{secgroupRuleId}}"),
                axum::routing::delete(|AxState(a): S, Path(p): P| async move {
                    a.run(|st, _| {
                        st.delete_rule(param(&p, "secgroupId"), param(&p, "secgroupRuleId"))
                    })
                }),
            )
            .route(
                &format!("{VS}/secgroups/{{secgroupId}}/servers"),
                get(|AxState(a): S, Path(p): P| async move {
                    a.run(|st, _| st.servers_of_secgroup(param(&p, "secgroupId")))
                }),
            )
            .route(
                &format!("{VS}/quotas/quotaUsed"),
                get(|AxState(a): S| async move {
                    a.run(|st, _| {
                        Ok(crate::state::Reply {
                            status: 200,
                            body: st.quotas(),
                        })
                    })
                }),
            )
            .route_layer(middleware::from_fn_with_state(app.clone(), api_middleware));
    api.merge(admin_router())
        .fallback(|| async { json_response(404, &json!({ "message": "Could not find resource" })) })
        .with_state(app)
}

// ---------------------------------------------------------------- admin

fn admin_router() -> Router<App> {
    Router::new()
        .route(
            "/_emulator/state",
            get(|AxState(a): S| async move {
                let now = a.now();
                let mut st = a.state.lock();
                st.refresh(now);
                axum::Json(st.snapshot())
            }),
        )
        .route(
            "/_emulator/journal",
            get(|AxState(a): S| async move { axum::Json(a.state.lock().journal.entries()) })
                .delete(|AxState(a): S| async move {
                    a.state.lock().journal.clear();
                    StatusCode::NO_CONTENT
                }),
        )
        .route(
            "/_emulator/counters",
            get(|AxState(a): S| async move { axum::Json(a.state.lock().journal.counters()) }),
        )
        .route(
            "/_emulator/reset",
            post(|AxState(a): S| async move {
                let mut st = a.state.lock();
                st.load_fixture();
                st.journal.clear();
                st.faults.clear();
                StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/_emulator/faults",
            get(|AxState(a): S| async move { axum::Json(a.state.lock().faults.clone()) })
                .post(|AxState(a): S, b: Bytes| async move {
                    match serde_json::from_slice::<Fault>(&b) {
                        Ok(f) => {
                            a.state.lock().faults.push(f);
                            StatusCode::NO_CONTENT.into_response()
                        }
                        Err(e) => json_response(400, &json!({ "message": e.to_string() })),
                    }
                })
                .delete(|AxState(a): S| async move {
                    a.state.lock().faults.clear();
                    StatusCode::NO_CONTENT
                }),
        )
        .route(
            "/_emulator/tokens/expire",
            post(|AxState(a): S| async move {
                a.state.lock().tokens.clear();
                StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/_emulator/loadBalancers/{id}",
            axum::routing::delete(|AxState(a): S, Path(id): Path<String>| async move {
                let mut st = a.state.lock();
                let before = st.lbs.len();
                st.lbs.retain(|lb| lb.id != id);
                if st.lbs.len() == before {
                    StatusCode::NOT_FOUND
                } else {
                    StatusCode::NO_CONTENT
                }
            })
            .patch(
                |AxState(a): S, Path(id): Path<String>, b: Bytes| async move {
                    let patch: Value = match serde_json::from_slice(&b) {
                        Ok(v) => v,
                        Err(e) => return json_response(400, &json!({ "message": e.to_string() })),
                    };
                    match crate::patch_lb(&mut a.state.lock(), &id, &patch) {
                        Ok(()) => StatusCode::NO_CONTENT.into_response(),
                        Err(e) => json_response(400, &json!({ "message": e.to_string() })),
                    }
                },
            ),
        )
        .route(
            "/_emulator/loadBalancers/{id}/error",
            post(|AxState(a): S, Path(id): Path<String>| async move {
                let mut st = a.state.lock();
                match st.lbs.iter_mut().find(|lb| lb.id == id) {
                    Some(lb) => {
                        lb.phase = crate::LbPhase::Error;
                        lb.phase_until = None;
                        StatusCode::NO_CONTENT
                    }
                    None => StatusCode::NOT_FOUND,
                }
            }),
        )
}
