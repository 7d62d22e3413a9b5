//! The HTTP routes, one module per concern. Every `/v1` route needs a caller (a token, or an open
//! node); `/healthz`, `/metrics`, `/openapi.json` and the dashboard page do not.

use axum::Router as Routes;
use axum::routing::{MethodRouter, delete, get, post};

use crate::server::AppState;

pub(crate) mod addresses;
pub(crate) mod dashboard;
pub(crate) mod events;
pub(crate) mod forget;
pub(crate) mod node;
pub(crate) mod openapi;
pub(crate) mod packets;
pub(crate) mod synth;

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// A caller: a token, or an open node.
    Caller,
    /// Anyone.
    Public,
}

/// One route: its template, who may call it, and its handlers.
pub(crate) struct Route {
    pub(crate) path: &'static str,
    pub(crate) access: Access,
    /// A read that also takes its token as `?access_token=` (on GET only): event streams, which
    /// browsers open without headers, and the dashboard's reads.
    url_token: bool,
    handlers: fn() -> MethodRouter<AppState>,
}

/// Every route, the one list the app is built from and the metrics count by (requests to
/// anything else count as "other").
pub(crate) const ROUTES: &[Route] = &[
    Route::caller("/v1/packets", || post(packets::deposit)),
    Route::caller("/v1/packets/{id}", || delete(forget::forget_one)),
    Route::caller("/v1/forget", || post(forget::forget)),
    Route::caller("/v1/query", || post(packets::query)),
    Route::reader("/v1/addresses", || get(addresses::list)),
    Route::reader("/v1/addresses/{address}/packets", || get(packets::exact)),
    Route::reader("/v1/addresses/{address}/events", || get(events::subscribe)),
    Route::reader("/v1/addresses/{address}/consensus", || {
        get(dashboard::consensus)
    }),
    Route::caller("/v1/synth", || post(synth::synth)),
    Route::caller("/v1/stats", || get(node::stats)),
    Route::caller("/v1/capabilities", || get(node::capabilities)),
    Route::caller("/v1/purge", || post(node::purge)),
    Route::reader("/v1/dashboard", || get(dashboard::summary)),
    Route::public("/healthz", || get(node::healthz)),
    Route::public("/metrics", || get(node::metrics)),
    Route::public("/openapi.json", || get(openapi::document)),
    Route::public("/", || get(dashboard::page)),
    Route::public("/dashboard", || get(dashboard::page)),
];

impl Route {
    const fn caller(path: &'static str, handlers: fn() -> MethodRouter<AppState>) -> Self {
        Route {
            path,
            access: Access::Caller,
            url_token: false,
            handlers,
        }
    }

    /// A caller route that takes `?access_token=` on GET.
    const fn reader(path: &'static str, handlers: fn() -> MethodRouter<AppState>) -> Self {
        Route {
            url_token: true,
            ..Route::caller(path, handlers)
        }
    }

    const fn public(path: &'static str, handlers: fn() -> MethodRouter<AppState>) -> Self {
        Route {
            path,
            access: Access::Public,
            url_token: false,
            handlers,
        }
    }
}

/// Whether `method` on the route of `template` (a default network's or a network's) may change
/// what the router holds: a deposit, a forget, a purge, or an MCP call (a tool may deposit).
pub(crate) fn writes(method: &axum::http::Method, template: &str) -> bool {
    use axum::http::Method;
    // The route below its network: `/packets` of `/v1/packets` and of
    // `/v1/networks/{network}/packets`, `/mcp` of `/mcp` and of `/v1/networks/{network}/mcp`.
    let route = template
        .strip_prefix("/v1/networks/{network}")
        .or_else(|| template.strip_prefix("/v1"))
        .unwrap_or(template);
    matches!(
        (method, route),
        (&Method::POST, "/packets" | "/forget" | "/purge" | "/mcp")
            | (&Method::DELETE, "/packets/{id}")
    )
}

/// Whether the route of `template` (a default network's or a network's) takes its token as
/// `?access_token=`.
pub(crate) fn takes_url_token(template: &str) -> bool {
    ROUTES
        .iter()
        .any(|r| r.url_token && (r.path == template || scoped(r.path) == template))
}

/// The template of a caller route of the network `{network}`: `/v1/networks/{network}/packets`
/// for `/v1/packets`.
pub(crate) fn scoped(path: &str) -> String {
    match path.strip_prefix("/v1/") {
        Some(rest) => format!("/v1/networks/{{network}}/{rest}"),
        None => path.to_owned(),
    }
}

/// Every route template: each of [`ROUTES`] (a caller route twice, for the default network and
/// for `{network}`), then the MCP endpoints.
pub(crate) fn templates() -> Vec<String> {
    let mut all = Vec::new();
    for r in ROUTES {
        all.push(r.path.to_owned());
        if r.access == Access::Caller {
            all.push(scoped(r.path));
        }
    }
    all.push(crate::server::MCP_PATH.to_owned());
    all.push(crate::server::NETWORK_MCP_PATH.to_owned());
    all
}

/// The routes of `access`: a caller route at its path (the default network) and under
/// `/v1/networks/{network}`.
pub(crate) fn routes(access: Access) -> Routes<AppState> {
    ROUTES
        .iter()
        .filter(|r| r.access == access)
        .fold(Routes::new(), |app, r| {
            let app = app.route(r.path, (r.handlers)());
            match access {
                Access::Caller => app.route(&scoped(r.path), (r.handlers)()),
                Access::Public => app,
            }
        })
}

/// The `{address}` segment of a route (a struct, so that the `{network}` of a network's route
/// may sit beside it).
#[derive(serde::Deserialize)]
pub(crate) struct AddressPath {
    pub(crate) address: String,
}

/// The `{id}` segment of a route.
#[derive(serde::Deserialize)]
pub(crate) struct IdPath {
    pub(crate) id: String,
}

/// A route's path segments, decoded as `T`; a segment that cannot be (not UTF-8 once
/// percent-decoded, say) is the JSON error body naming it, not axum's plain-text rejection.
pub(crate) struct Segments<T>(pub(crate) T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> axum::extract::FromRequestParts<S>
    for Segments<T>
{
    type Rejection = crate::error::ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        use axum::extract::path::{ErrorKind, Path};
        use axum::extract::rejection::PathRejection;
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(t)) => Ok(Segments(t)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => Err(match e.kind() {
                ErrorKind::InvalidUtf8InPathParam { key } => crate::error::ApiError::invalid(
                    key.clone(),
                    "the path segment is not UTF-8 text once percent-decoded",
                ),
                _ => crate::error::ApiError::decode("path", e.body_text()),
            }),
            Err(e) => Err(crate::error::ApiError::decode("path", e.body_text())),
        }
    }
}

/// Parses an address from a path segment.
pub(crate) fn path_address(hex: &str) -> Result<qis::packet::Address, crate::error::ApiError> {
    qis::packet::Address::from_hex(hex).map_err(crate::error::ApiError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_routes_that_write_are_known_in_every_network() {
        use axum::http::Method;
        for (method, template) in [
            (Method::POST, "/v1/packets"),
            (Method::POST, "/v1/networks/{network}/forget"),
            (Method::DELETE, "/v1/packets/{id}"),
            (Method::POST, "/mcp"),
            (Method::POST, "/v1/networks/{network}/mcp"),
        ] {
            assert!(writes(&method, template), "{method} {template}");
        }
        for (method, template) in [
            (Method::POST, "/v1/query"),
            (Method::GET, "/mcp"),
            (Method::GET, "/v1/networks/{network}/stats"),
        ] {
            assert!(!writes(&method, template), "{method} {template}");
        }
    }

    #[test]
    fn every_template_is_listed_once() {
        let mut seen = templates();
        let n = seen.len();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), n);
        assert!(
            seen.iter()
                .any(|t| t.as_str() == "/v1/networks/{network}/packets/{id}")
        );
        for public in ["/healthz", "/metrics", "/openapi.json", "/", "/dashboard"] {
            assert!(
                ROUTES
                    .iter()
                    .any(|r| r.path == public && r.access == Access::Public),
                "{public}"
            );
        }
    }
}
