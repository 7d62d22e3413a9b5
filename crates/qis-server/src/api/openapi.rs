//! The OpenAPI 3 document, generated from the handlers' and wire types' annotations.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::{error, wire};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "qis node",
        description = "QIS outcome routing over HTTP: deposit outcome packets at addresses, query them (exact, nearest vectors, or text) with filters, synthesize. Errors answer `{\"code\", \"message\", \"field\"}` with a stable `code`.",
        license(name = "Apache-2.0")
    ),
    paths(
        super::packets::deposit,
        super::packets::query,
        super::packets::exact,
        super::forget::forget,
        super::addresses::list,
        super::forget::forget_one,
        super::events::subscribe,
        super::synth::synth,
        super::node::stats,
        super::node::capabilities,
        super::node::purge,
        super::node::healthz,
        super::node::metrics,
        super::dashboard::page,
        super::dashboard::summary,
        super::dashboard::consensus,
    ),
    components(schemas(
        error::ErrorBody,
        error::Code,
        error::Details,
        wire::PacketDoc,
        wire::DepositDoc,
        wire::DepositItemDoc,
        wire::ReceiptDoc,
        wire::FilterDoc,
        wire::InsightDoc,
        wire::DepositResponse,
        wire::QueryRequest,
        wire::QueryResponse,
        wire::HitDoc,
        wire::SynthRequest,
        wire::StatsResponse,
        wire::CapabilitiesResponse,
        wire::PurgeResponse,
        wire::ForgetResponse,
        qis::router::Forget,
        qis::router::AddressPage,
        qis::router::AddressInfo,
        wire::Health,
        wire::DashboardResponse,
        wire::AddressActivity,
        wire::RecentDeposit,
        wire::ConsensusResponse,
        wire::ConsensusPoint,
    )),
    modifiers(&Bearer),
    tags(
        (name = "packets", description = "Deposit, query, subscribe"),
        (name = "synthesis", description = "Synthesis on the node"),
        (name = "node", description = "Health, counts, capabilities, metrics"),
        (name = "dashboard", description = "The dashboard page and its data"),
    )
)]
pub(crate) struct ApiDoc;

/// Declares the bearer-token security scheme the paths refer to.
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI document as a value: every `/v1/…` route, and the same route of a network at
/// `/v1/networks/{network}/…`.
pub(crate) fn document_value() -> utoipa::openapi::OpenApi {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::{ObjectBuilder, Required, Type};

    let mut doc = ApiDoc::openapi();
    let network = ParameterBuilder::new()
        .name("network")
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(
            "One of the networks the node serves (`default` is the network of `/v1/…`); a token reaches only its own",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[A-Za-z0-9_-]{1,48}$")),
        ))
        .build();
    let scoped: Vec<(String, utoipa::openapi::PathItem)> = doc
        .paths
        .paths
        .iter()
        .filter(|(path, _)| path.starts_with("/v1/"))
        .map(|(path, item)| {
            let mut item = item.clone();
            item.parameters
                .get_or_insert_with(Vec::new)
                .push(network.clone());
            (super::scoped(path), item)
        })
        .collect();
    doc.paths.paths.extend(scoped);
    doc
}

/// `GET /openapi.json`.
pub(crate) async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(document_value())
}
