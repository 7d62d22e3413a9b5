//! # qis-mcp — qis for any LLM agent, over the Model Context Protocol
//!
//! An MCP server whose tools are the loop of an agent that learns from its peers' outcomes:
//! `deposit_outcome`, `consult`, `query_outcomes`, `close_loop` and `stats`; resources for an
//! address's packets, one packet and the store's statistics; and the `consult_peers` prompt. Each
//! tool is one call of the library's façade ([`qis::setup::Qis`]), so every rule the library
//! holds (packet limits, one embedder per store, verified-only reads) holds here too.
//!
//! Two transports, one service ([`QisMcp`]):
//! - **stdio** ([`serve_stdio`]): `qis mcp` in a host's configuration, one agent per process.
//! - **streamable HTTP** (feature `http`, [`http::service`]): `/mcp` on a node, where the agent
//!   of every call is that of the request's bearer token ([`Principal`]).
//!
//! Bad arguments come back as a tool result marked as an error, whose text and structured
//! content carry the same refusal as the node's JSON error body: a stable `code`, the `field`
//! and a message with the rule. Nothing is stored on a refusal.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! use std::sync::Arc;
//! use qis::setup::Settings;
//!
//! let mut settings = Settings::default();
//! settings.agent = Some("site_07".into());
//! let qis = Arc::new(settings.open().await?);
//! qis_mcp::serve_stdio(qis_mcp::QisMcp::local(qis)).await?;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`args`] — the tools' arguments, whose doc comments are the schemas' descriptions.
//! - `tools` — the tool table and each tool's glue to the façade.
//! - `catalog` — resources and the prompt.
//! - [`http`] (feature `http`) — the streamable HTTP service a node nests at `/mcp`.

#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]

use std::sync::{Arc, OnceLock};

use qis::setup::Qis;
use qis::wire::{Code, ErrorBody};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, GetPromptRequestParams,
    GetPromptResponse, Implementation, InitializeRequestParams, InitializeResult,
    ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities,
    ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};

pub mod args;
mod catalog;
#[cfg(feature = "http")]
pub mod http;
mod tools;

/// Who calls over HTTP: what a node's authentication said of the request, put in its
/// extensions before the MCP service sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The agent the caller deposits as (`None`: it may only read).
    pub agent: Option<String>,
    /// What tells callers apart (a token's digest): a session stays with the caller that
    /// opened it.
    pub key: [u8; 32],
}

#[derive(Clone, Debug)]
enum Identity {
    /// One agent for the whole process (stdio).
    Local(Option<String>),
    /// The [`Principal`] of each request (HTTP).
    PerRequest,
}

/// The MCP service: the tools, resources and prompt over one [`Qis`].
#[derive(Clone, Debug)]
pub struct QisMcp {
    qis: Arc<Qis>,
    identity: Identity,
    /// The caller that opened this session (HTTP): another caller's requests are refused.
    opened_by: Arc<OnceLock<[u8; 32]>>,
}

impl QisMcp {
    /// For one local agent: the façade's own (`agent` in its settings), if any; without one,
    /// the tools that only read still work.
    pub fn local(qis: Arc<Qis>) -> QisMcp {
        let agent = qis.agent().map(str::to_owned);
        QisMcp {
            qis,
            identity: Identity::Local(agent),
            opened_by: Arc::default(),
        }
    }

    /// For callers authenticated per request: each call acts as its request's [`Principal`].
    pub fn per_request(qis: Arc<Qis>) -> QisMcp {
        QisMcp {
            qis,
            identity: Identity::PerRequest,
            opened_by: Arc::default(),
        }
    }

    /// The agent a request acts as.
    fn agent(&self, ctx: &RequestContext<RoleServer>) -> Result<Option<String>, Box<ErrorBody>> {
        match &self.identity {
            Identity::Local(agent) => Ok(agent.clone()),
            Identity::PerRequest => {
                let principal = principal(ctx).ok_or_else(|| {
                    Box::new(ErrorBody::new(
                        Code::Unauthorized,
                        "this request carries no credentials",
                    ))
                })?;
                if *self.opened_by.get_or_init(|| principal.key) != principal.key {
                    return Err(Box::new(ErrorBody::new(
                        Code::Unauthorized,
                        "this MCP session was opened with another token; open a session of your own",
                    )));
                }
                Ok(principal.agent)
            }
        }
    }
}

#[cfg(feature = "http")]
fn principal(ctx: &RequestContext<RoleServer>) -> Option<Principal> {
    ctx.extensions
        .get::<::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Principal>())
        .cloned()
}

#[cfg(not(feature = "http"))]
fn principal(_ctx: &RequestContext<RoleServer>) -> Option<Principal> {
    None
}

/// A refusal as a tool result: marked as an error, the message as its text, the whole body
/// (code, field, message, details) as its structured content.
fn refusal(body: Box<ErrorBody>) -> CallToolResult {
    let text = match &body.field {
        Some(field) => format!("{} ({}, field `{field}`)", body.message, body.code.as_str()),
        None => format!("{} ({})", body.message, body.code.as_str()),
    };
    let mut result = CallToolResult::error(vec![ContentBlock::text(text)]);
    result.structured_content = serde_json::to_value(&body).ok();
    result
}

const INSTRUCTIONS: &str = "qis lets agents learn from each other's outcomes without sharing raw \
data. Before acting on a problem, call `consult` (or `query_outcomes`) to see what worked for \
peers; after acting, call `deposit_outcome` with what happened; when you adopted the peers' \
answer, `close_loop` deposits it citing its sources. Name a problem by `domain` plus a `context` \
object (it never leaves qis: only its hash does) or by a `problem` sentence (shared, matched by \
meaning).";

impl ServerHandler for QisMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_prompts()
                .enable_resources()
                .enable_tools()
                .build(),
        )
        .with_server_info(Implementation::new("qis", env!("CARGO_PKG_VERSION")))
        .with_instructions(INSTRUCTIONS)
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        // A session belongs to the caller that opened it.
        if let (Identity::PerRequest, Some(p)) = (&self.identity, principal(&ctx)) {
            let _ = self.opened_by.set(p.key);
        }
        ctx.peer.set_peer_info(request.clone());
        self.negotiate_initialize(&request)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools::catalog().to_vec()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let agent = match self.agent(&ctx) {
            Ok(agent) => agent,
            Err(body) => return Ok(refusal(body).into()),
        };
        let args = request.arguments.unwrap_or_default();
        match tools::call(&self.qis, agent.as_deref(), &request.name, args).await {
            None => Err(ErrorData::invalid_params(
                format!("no tool named {:?}; see tools/list", request.name.as_ref()),
                None,
            )),
            Some(Ok(value)) => Ok(CallToolResult::structured(value).into()),
            Some(Err(body)) => Ok(refusal(body).into()),
        }
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(catalog::resources()))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(
            catalog::templates(),
        ))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        if let Err(body) = self.agent(&ctx) {
            return Err(ErrorData::invalid_request(body.message, None));
        }
        catalog::read(&self.qis, &request.uri).await.map(Into::into)
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Ok(ListPromptsResult::with_all_items(catalog::prompts()))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        catalog::prompt(&request.name, request.arguments.unwrap_or_default()).map(Into::into)
    }
}

/// Serves `service` on this process's stdin and stdout until the host closes them. Nothing else
/// may write to stdout meanwhile (logs go to stderr).
pub async fn serve_stdio(service: QisMcp) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let running = service.serve(rmcp::transport::stdio()).await?;
    running.waiting().await?;
    Ok(())
}
