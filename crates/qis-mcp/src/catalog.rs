//! Resources (an address's packets, one packet, the store's statistics) and the
//! `consult_peers` prompt.

use qis::packet::{Address, PacketId};
use qis::router::Query;
use qis::setup::Qis;
use qis::wire::ErrorBody;
use rmcp::ErrorData;
use rmcp::model::{
    GetPromptResult, JsonObject, Prompt, PromptArgument, PromptMessage, ReadResourceResult,
    Resource, ResourceContents, ResourceTemplate, Role,
};
use serde_json::{Value, json};

use crate::args::PromptArgs;

const STATS: &str = "qis://stats";
const ADDRESSES: &str = "qis://addresses";
const ADDRESS: &str = "qis://address/";
const JSON: &str = "application/json";

pub(crate) fn resources() -> Vec<Resource> {
    vec![
        Resource::new(STATS, "stats")
            .with_title("Store statistics")
            .with_description("Packets, addresses, vectors and expired packets the network holds.")
            .with_mime_type(JSON),
        Resource::new(ADDRESSES, "addresses")
            .with_title("Busy addresses")
            .with_description(
                "The addresses holding packets, most recently active first (at most 50): each \
                 with its live packet count, newest activity and domain. Read one with \
                 qis://address/{address}.",
            )
            .with_mime_type(JSON),
    ]
}

pub(crate) fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new("qis://address/{address}", "address")
            .with_title("The packets at an address")
            .with_description(
                "Every live packet at an address (hex, as receipts show it), newest first, at \
                 most 50.",
            )
            .with_mime_type(JSON),
        ResourceTemplate::new("qis://address/{address}/packet/{id}", "packet")
            .with_title("One packet")
            .with_description("One packet, by its address and id.")
            .with_mime_type(JSON),
    ]
}

fn not_found(uri: &str, why: impl std::fmt::Display) -> ErrorData {
    ErrorData::resource_not_found(format!("{uri}: {why}"), Some(json!({ "uri": uri })))
}

fn refused(uri: &str, e: qis::Error) -> ErrorData {
    let body = ErrorBody::from(e);
    ErrorData::internal_error(format!("{uri}: {}", body.message), Some(json!(body)))
}

fn contents(uri: &str, value: &Value) -> ReadResourceResult {
    let mut text = ResourceContents::text(value.to_string(), uri);
    if let ResourceContents::TextResourceContents { mime_type, .. } = &mut text {
        *mime_type = Some(JSON.into());
    }
    ReadResourceResult::new(vec![text])
}

pub(crate) async fn read(qis: &Qis, uri: &str) -> Result<ReadResourceResult, ErrorData> {
    if uri == STATS {
        let stats = qis.router().stats().await.map_err(|e| refused(uri, e))?;
        return Ok(contents(uri, &json!(stats)));
    }
    if uri == ADDRESSES {
        let page = qis
            .router()
            .addresses(&qis::router::AddressQuery::default())
            .await
            .map_err(|e| refused(uri, e))?;
        return Ok(contents(
            uri,
            &qis::wire::to_json_value(&page).unwrap_or_default(),
        ));
    }
    let Some(rest) = uri.strip_prefix(ADDRESS) else {
        return Err(not_found(uri, "no such resource; see resources/list"));
    };
    let (hex, id) = match rest.split_once("/packet/") {
        Some((hex, id)) => (hex, Some(id)),
        None => (rest, None),
    };
    let address = Address::from_hex(hex).map_err(|e| not_found(uri, e))?;
    let id: Option<PacketId> = id
        .map(|id| id.parse().map_err(|e| not_found(uri, e)))
        .transpose()?;
    let hits = qis
        .router()
        .query(&Query::exact(address))
        .await
        .map_err(|e| refused(uri, e))?;
    match id {
        None => Ok(contents(uri, &crate::tools::hits(&hits))),
        Some(id) => match hits.iter().find(|h| h.packet.id() == id) {
            Some(hit) => Ok(contents(
                uri,
                &qis::wire::to_json_value(&*hit.packet).unwrap_or_default(),
            )),
            None => Err(not_found(
                uri,
                "no live packet of this id at this address (among its newest 50)",
            )),
        },
    }
}

pub(crate) fn prompts() -> Vec<Prompt> {
    vec![Prompt::new(
        "consult_peers",
        Some("Consult your peers before you act, and share what happened after."),
        Some(vec![
            PromptArgument::new("task")
                .with_description("The task you are about to act on, in words.")
                .with_required(true),
            PromptArgument::new("domain")
                .with_description("Its domain, if you know it.")
                .with_required(false),
        ]),
    )]
}

pub(crate) fn prompt(name: &str, args: JsonObject) -> Result<GetPromptResult, ErrorData> {
    if name != "consult_peers" {
        return Err(ErrorData::invalid_params(
            format!("no prompt named {name:?}; see prompts/list"),
            None,
        ));
    }
    let args: PromptArgs = serde_path_to_error::deserialize(Value::Object(args)).map_err(|e| {
        ErrorData::invalid_params(format!("invalid `{}`: {}", e.path(), e.inner()), None)
    })?;
    let domain = args
        .domain
        .map(|d| format!(" in the domain {d:?}"))
        .unwrap_or_default();
    let text = format!(
        "Before you act on this task{domain}, consult your peers: call the `consult` tool with \
         the problem (a `domain` and a `context` object of its routing facts, or a `problem` \
         sentence) and read what worked for them, how confident they were and how many agents \
         agree. Weigh it against your own judgement; say which you followed and why. After \
         acting, call `deposit_outcome` with what happened (outcome, confidence, the result that \
         mattered), never raw data. If you adopted your peers' answer, call `close_loop` \
         instead.\n\nTask: {}",
        args.task
    );
    Ok(
        GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)])
            .with_description("Consult your peers before you act"),
    )
}
