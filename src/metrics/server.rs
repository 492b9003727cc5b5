//! The HTTP endpoint: `GET /metrics` answers the whole set, anything else 404. Plain
//! HTTP/1.1 on hyper; one task per connection, all ended by the shutdown token.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Metrics;

/// Called before each scrape to refresh the sampled gauges.
pub type Sampler = Arc<dyn Fn(&Metrics) + Send + Sync>;

/// The content type of the OpenMetrics text prometheus-client writes.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves `metrics` on `listener` until `shutdown`, each connection a task of `tasks`.
pub async fn serve(
    listener: TcpListener,
    metrics: Metrics,
    sample: Sampler,
    tasks: TaskTracker,
    shutdown: CancellationToken,
) {
    loop {
        let socket = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = listener.accept() => match r {
                Ok((socket, _)) => socket,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics endpoint: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let (metrics, sample, stop) = (metrics.clone(), sample.clone(), shutdown.clone());
        tasks.spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let reply = answer(&req, &metrics, &sample);
                async move { Ok::<_, Infallible>(reply) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(socket), service);
            tokio::select! {
                _ = stop.cancelled() => {}
                r = conn => if let Err(e) = r {
                    tracing::debug!(error = %e, "metrics endpoint: connection ended");
                },
            }
        });
    }
}

fn answer(req: &Request<Incoming>, metrics: &Metrics, sample: &Sampler) -> Response<Full<Bytes>> {
    let (status, ctype, body) = match (req.method(), req.uri().path()) {
        (&hyper::Method::GET, "/metrics") => {
            sample(metrics);
            (StatusCode::OK, CONTENT_TYPE, metrics.encode())
        }
        (_, "/metrics") => (
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "only GET\n".into(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "metrics are at /metrics\n".into(),
        ),
    };
    let mut reply = Response::new(Full::new(Bytes::from(body)));
    *reply.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(ctype) {
        reply.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    reply
}
