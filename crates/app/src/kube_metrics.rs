//! Kubernetes API call counters: a tower layer in the kube client's stack counts every
//! request by verb, resource and status code (`rest_client_requests_total`).

use std::task::{Context, Poll};

use futures::future::BoxFuture;
use http::{Request, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use crate::metrics::Metrics;

/// Labels `{verb, resource, code}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct CallLabels {
    /// Kubernetes verb: get, list, watch, create, update, patch, delete.
    pub verb: String,
    /// Resource (with `/subresource`), e.g. `services/status`.
    pub resource: String,
    /// HTTP status code, or `error` when no answer came.
    pub code: String,
}

/// The layer; clone it into every client.
#[derive(Debug, Clone)]
pub struct CountCallsLayer {
    calls: Family<CallLabels, Counter>,
}

impl CountCallsLayer {
    /// Registers `rest_client_requests_total` in `metrics`.
    pub fn new(metrics: &Metrics) -> Self {
        let calls = Family::<CallLabels, Counter>::default();
        metrics.with_registry(|r| {
            r.register(
                "rest_client_requests",
                "Kubernetes API requests by verb, resource and status code",
                calls.clone(),
            );
        });
        Self { calls }
    }
}

impl<S> tower::Layer<S> for CountCallsLayer {
    type Service = CountCalls<S>;
    fn layer(&self, inner: S) -> Self::Service {
        CountCalls {
            inner,
            calls: self.calls.clone(),
        }
    }
}

/// The counting service.
#[derive(Debug, Clone)]
pub struct CountCalls<S> {
    inner: S,
    calls: Family<CallLabels, Counter>,
}

impl<S, ReqB, ResB> tower::Service<Request<ReqB>> for CountCalls<S>
where
    S: tower::Service<Request<ReqB>, Response = Response<ResB>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let (verb, resource) = classify(req.method().as_str(), req.uri());
        let calls = self.calls.clone();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let result = fut.await;
            let code = match &result {
                Ok(resp) => resp.status().as_u16().to_string(),
                Err(_) => "error".to_owned(),
            };
            calls
                .get_or_create(&CallLabels {
                    verb,
                    resource,
                    code,
                })
                .inc();
            result
        })
    }
}

/// The verb and resource of a request to the Kubernetes API.
pub fn classify(method: &str, uri: &http::Uri) -> (String, String) {
    let segments: Vec<&str> = uri.path().split('/').filter(|s| !s.is_empty()).collect();
    // /api/v1/... or /apis/{group}/{version}/...
    let rest: &[&str] = match segments.first() {
        Some(&"api") => segments.get(2..).unwrap_or(&[]),
        Some(&"apis") => segments.get(3..).unwrap_or(&[]),
        _ => &[],
    };
    let rest = match rest {
        ["namespaces", _ns, more @ ..] if !more.is_empty() => more,
        other => other,
    };
    let (resource, named) = match rest {
        [] => (uri.path().to_owned(), false),
        [r] => ((*r).to_owned(), false),
        [r, _name] => ((*r).to_owned(), true),
        [r, _name, sub, ..] => (format!("{r}/{sub}"), true),
    };
    let watch = uri
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "watch=true" || p == "watch=1"));
    let verb = match method {
        "GET" if watch => "watch",
        "GET" if named => "get",
        "GET" => "list",
        "POST" => "create",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" => "delete",
        other => return (other.to_ascii_lowercase(), resource),
    };
    (verb.to_owned(), resource)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::{Layer, Service, ServiceExt};

    fn c(method: &str, uri: &str) -> (String, String) {
        let (v, r) = classify(method, &uri.parse().unwrap());
        (v, r)
    }

    #[test]
    fn requests_are_classified_by_verb_and_resource() {
        assert_eq!(
            c("GET", "/api/v1/services?watch=true&resourceVersion=1"),
            ("watch".into(), "services".into())
        );
        assert_eq!(c("GET", "/api/v1/nodes"), ("list".into(), "nodes".into()));
        assert_eq!(
            c("PATCH", "/api/v1/namespaces/shop/services/web/status"),
            ("patch".into(), "services/status".into())
        );
        assert_eq!(
            c(
                "GET",
                "/apis/vks.vngcloud.vn/v1alpha1/namespaces/shop/loadbalancerconfigs/web"
            ),
            ("get".into(), "loadbalancerconfigs".into())
        );
        assert_eq!(
            c("GET", "/api/v1/namespaces/shop"),
            ("get".into(), "namespaces".into())
        );
        assert_eq!(
            c(
                "DELETE",
                "/apis/coordination.k8s.io/v1/namespaces/x/leases/l"
            ),
            ("delete".into(), "leases".into())
        );
    }

    #[tokio::test]
    async fn every_call_is_counted_with_its_status() {
        let metrics = Metrics::new();
        let layer = CountCallsLayer::new(&metrics);
        let inner = tower::service_fn(|req: Request<()>| async move {
            let status = if req.uri().path().ends_with("missing") {
                404
            } else {
                200
            };
            Ok::<_, std::convert::Infallible>(Response::builder().status(status).body(()).unwrap())
        });
        let mut svc = layer.layer(inner);
        for path in [
            "/api/v1/namespaces/a/services/web",
            "/api/v1/namespaces/a/services/missing",
        ] {
            let req = Request::get(path).body(()).unwrap();
            svc.ready().await.unwrap().call(req).await.unwrap();
        }
        let text = metrics.encode().unwrap();
        assert!(
            text.contains(
                "rest_client_requests_total{verb=\"get\",resource=\"services\",code=\"200\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("code=\"404\"} 1"), "{text}");
    }
}
