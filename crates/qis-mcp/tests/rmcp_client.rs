//! rmcp's own client against the qis MCP service, over an in-process pipe: the handshake, the
//! catalog, each tool, refusals as tool errors that name the field, and nothing stored on one.

use std::sync::Arc;

use qis::router::Router;
use qis::router::embedded::EmbeddedRouter;
use qis::setup::{Qis, Settings};
use qis_mcp::QisMcp;
use rmcp::model::{CallToolRequestParams, CallToolResult, GetPromptRequestParams, JsonObject};
use rmcp::service::RunningService;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

/// A client connected to a service over `router`, as `agent`.
async fn connect(router: Arc<dyn Router>, agent: Option<&str>) -> RunningService<RoleClient, ()> {
    let mut settings = Settings::default();
    settings.agent = agent.map(str::to_owned);
    settings.embedder = Some("hashed".parse().unwrap());
    let qis: Qis = settings.open_with(router).unwrap();
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        let running = QisMcp::local(Arc::new(qis)).serve(server_io).await.unwrap();
        let _ = running.waiting().await;
    });
    ().serve(client_io).await.expect("the handshake")
}

async fn call(client: &RunningService<RoleClient, ()>, tool: &str, args: Value) -> CallToolResult {
    let Value::Object(args) = args else {
        panic!("arguments are an object")
    };
    client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(args))
        .await
        .unwrap_or_else(|e| panic!("{tool}: {e}"))
}

fn ok(result: &CallToolResult) -> &Value {
    assert_eq!(
        result.is_error,
        Some(false),
        "expected success: {:?}",
        result.content
    );
    result
        .structured_content
        .as_ref()
        .expect("structured content")
}

/// The refusal's field and code.
fn refused(result: &CallToolResult) -> (String, String) {
    assert_eq!(
        result.is_error,
        Some(true),
        "expected a refusal: {result:?}"
    );
    let body = result.structured_content.as_ref().expect("the error body");
    let text = result.content[0].as_text().expect("a text").text.clone();
    assert!(
        text.contains(body["message"].as_str().unwrap()),
        "the text says the message: {text}"
    );
    (
        body["field"].as_str().unwrap_or_default().to_owned(),
        body["code"].as_str().unwrap().to_owned(),
    )
}

fn context() -> Value {
    json!({"engine": "postgres", "symptom": "pool_exhausted"})
}

#[tokio::test]
async fn the_catalog_describes_every_tool_with_a_schema() {
    let client = connect(Arc::new(qis::router::memory::MemoryRouter::new()), None).await;
    let info = client.peer_info().expect("server info");
    assert_eq!(info.server_info.as_ref().unwrap().name, "qis");
    assert!(info.instructions.as_deref().unwrap().contains("consult"));
    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(
        names,
        [
            "deposit_outcome",
            "consult",
            "query_outcomes",
            "close_loop",
            "forget",
            "stats"
        ]
    );
    for t in &tools {
        let description = t.description.as_deref().unwrap();
        assert!(
            description.contains("Example:"),
            "{}: {description}",
            t.name
        );
        assert_eq!(t.input_schema["type"], "object", "{}", t.name);
    }
    let deposit = &tools[0].input_schema["properties"];
    for field in [
        "domain",
        "context",
        "problem",
        "outcome",
        "confidence",
        "result",
        "ttl",
    ] {
        assert!(
            deposit[field]["description"].is_string(),
            "deposit_outcome.{field}: {deposit}"
        );
    }
    assert_eq!(
        deposit["outcome"]["enum"],
        json!(["resolved", "partial", "contradicted", "open"])
    );
    let templates = client.list_all_resource_templates().await.unwrap();
    assert_eq!(templates.len(), 2);
    let prompt = client
        .get_prompt(GetPromptRequestParams::new("consult_peers").with_arguments(
            JsonObject::from_iter([("task".into(), json!("fix the db"))]),
        ))
        .await
        .unwrap();
    assert_eq!(prompt.messages.len(), 1);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn deposit_consult_query_and_close_the_loop_on_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Router> = Arc::new(EmbeddedRouter::open(dir.path()).await.unwrap());
    let a = connect(store.clone(), Some("site_a")).await;
    let b = connect(store.clone(), Some("site_b")).await;

    let receipt = call(
        &a,
        "deposit_outcome",
        json!({"domain": "db_ops", "context": context(), "outcome": "resolved", "confidence": 0.8,
               "result": {"fix": "raise_pool_size", "pool_size": 50}, "tags": ["pg"], "ttl": "7d"}),
    )
    .await;
    let receipt = ok(&receipt).clone();
    assert_eq!(receipt["stored"], true);
    assert_eq!(receipt["agent"], "site_a");

    let insight = call(
        &b,
        "consult",
        json!({"domain": "db_ops", "context": context()}),
    )
    .await;
    let insight = ok(&insight);
    assert_eq!(insight["agents"], 1);
    assert_eq!(insight["best"]["fix"], "raise_pool_size");
    assert_eq!(insight["used"], json!([receipt["id"]]));

    let by_address = call(&b, "query_outcomes", json!({"address": receipt["address"]})).await;
    let by_address = ok(&by_address);
    assert_eq!(by_address["count"], 1);
    assert_eq!(by_address["hits"][0]["packet"]["agent"], "site_a");
    // The f32 confidence reads as written, not widened (0.800000011920929).
    assert_eq!(by_address["hits"][0]["packet"]["confidence"], json!(0.8));
    // The context never reached the store: only its address did.
    let packet = by_address["hits"][0]["packet"].to_string();
    assert!(!packet.contains("pool_exhausted"), "{packet}");

    let text = call(
        &a,
        "deposit_outcome",
        json!({"domain": "db_ops", "problem": "connection pool exhausted under peak load",
               "outcome": "partial", "confidence": 0.6, "result": {"fix": "pgbouncer"}}),
    )
    .await;
    ok(&text);
    let near = call(
        &b,
        "query_outcomes",
        json!({"problem": "the pool of connections runs out at peak", "limit": 3}),
    )
    .await;
    let near = ok(&near);
    assert_eq!(near["count"], 1);
    assert_eq!(
        near["hits"][0]["packet"]["problem"],
        "connection pool exhausted under peak load"
    );

    let closed = call(
        &b,
        "close_loop",
        json!({"domain": "db_ops", "context": context()}),
    )
    .await;
    let closed = ok(&closed);
    assert_eq!(closed["deposited"], true);
    let mine = call(
        &b,
        "query_outcomes",
        json!({"domain": "db_ops", "context": context()}),
    )
    .await;
    let mine = ok(&mine);
    assert_eq!(mine["count"], 2);
    assert_eq!(mine["hits"][0]["packet"]["agent"], "site_b");
    assert_eq!(
        mine["hits"][0]["packet"]["derived_from"],
        json!([receipt["id"]])
    );
    // The derived packet is never counted twice: one original, one agent.
    let again = call(
        &a,
        "consult",
        json!({"domain": "db_ops", "context": context()}),
    )
    .await;
    assert_eq!(ok(&again)["agents"], 1);

    let listed = a
        .read_resource(rmcp::model::ReadResourceRequestParams::new(
            "qis://addresses",
        ))
        .await
        .unwrap();
    let rmcp::model::ResourceContents::TextResourceContents { text, .. } = &listed.contents[0]
    else {
        panic!("a text resource")
    };
    let page: Value = serde_json::from_str(text).unwrap();
    assert_eq!(page["addresses"].as_array().unwrap().len(), 2, "{page}");
    assert_eq!(
        page["addresses"][0]["packets"], 2,
        "the newest: the close_loop's address"
    );

    let stats = call(&a, "stats", json!({})).await;
    let stats = ok(&stats);
    assert_eq!(
        (stats["packets"].as_u64(), stats["router"].as_str()),
        (Some(3), Some("embedded"))
    );
    for c in [a, b] {
        c.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn bad_arguments_are_tool_errors_naming_the_field_and_store_nothing() {
    let store: Arc<dyn Router> = Arc::new(qis::router::memory::MemoryRouter::new());
    let client = connect(store.clone(), Some("site_a")).await;
    let good = json!({"domain": "db_ops", "context": context(), "outcome": "resolved",
                      "confidence": 0.8, "result": {"fix": "x"}});
    let with = |key: &str, value: Value| {
        let mut v = good.clone();
        v[key] = value;
        v
    };
    let without = |key: &str| {
        let mut v = good.clone();
        v.as_object_mut().unwrap().remove(key);
        v
    };
    let many: serde_json::Map<String, Value> =
        (0..17).map(|i| (format!("k{i}"), json!(i))).collect();
    for (args, field, code) in [
        (with("outcome", json!("great")), "outcome", "invalid_field"),
        (
            with("confidence", json!(1.5)),
            "confidence",
            "invalid_field",
        ),
        (
            with("confidence", json!("high")),
            "confidence",
            "invalid_field",
        ),
        (with("agent", json!("site_b")), "agent", "invalid_field"),
        (with("contxt", json!({})), "contxt", "invalid_field"),
        (without("domain"), "domain", "invalid_field"),
        (without("context"), "context", "invalid_field"),
        (with("ttl", json!("forever")), "ttl", "invalid_field"),
        (with("tags", json!(vec!["a"; 9])), "tags", "invalid_field"),
        (
            with("result", json!({"nested": {"x": 1}})),
            "result.nested",
            "invalid_field",
        ),
        (
            with("result", Value::Object(many)),
            "result",
            "invalid_field",
        ),
        (
            with("summary", json!("x".repeat(201))),
            "summary",
            "invalid_field",
        ),
    ] {
        let result = call(&client, "deposit_outcome", args.clone()).await;
        let (got_field, got_code) = refused(&result);
        assert_eq!(
            (got_field.as_str(), got_code.as_str()),
            (field, code),
            "{args}"
        );
    }
    for (tool, args, field) in [
        ("consult", json!({"domain": "db_ops"}), "context"),
        ("consult", json!({"context": context()}), "domain"),
        ("consult", json!({"address": "zz"}), "address"),
        (
            "consult",
            json!({"problem": "x", "method": "vote"}),
            "method",
        ),
        (
            "consult",
            json!({"problem": "x", "per_agent": "each"}),
            "per_agent",
        ),
        (
            "query_outcomes",
            json!({"problem": "x", "outcomes": ["done"]}),
            "outcomes[0]",
        ),
        (
            "query_outcomes",
            json!({"problem": "x", "min_confidence": 2}),
            "min_confidence",
        ),
        (
            "query_outcomes",
            json!({"problem": "x", "limit": 0}),
            "limit",
        ),
        (
            "query_outcomes",
            json!({"domain": "d", "context": context(), "min_score": 0.5}),
            "min_score",
        ),
        ("stats", json!({"verbose": true}), "verbose"),
    ] {
        let result = call(&client, tool, args.clone()).await;
        assert_eq!(refused(&result).0, field, "{tool} {args}");
    }
    assert_eq!(store.stats().await.unwrap().packets, 0, "nothing stored");
    // An unknown tool is a protocol error, not a tool result.
    let err = client
        .call_tool(CallToolRequestParams::new("deposit"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no tool named"), "{err}");
    // The session is still alive after all of it.
    ok(&call(&client, "deposit_outcome", good).await);
    assert_eq!(store.stats().await.unwrap().packets, 1);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_session_without_an_agent_reads_but_never_deposits() {
    let store: Arc<dyn Router> = Arc::new(qis::router::memory::MemoryRouter::new());
    let client = connect(store.clone(), None).await;
    let result = call(
        &client,
        "deposit_outcome",
        json!({"domain": "d", "context": {"k": 1}, "outcome": "open", "confidence": 0.5}),
    )
    .await;
    assert_eq!(refused(&result).1, "unauthorized");
    let result = call(
        &client,
        "consult",
        json!({"domain": "d", "context": {"k": 1}}),
    )
    .await;
    assert_eq!(ok(&result)["sample_size"], 0);
    assert_eq!(store.stats().await.unwrap().packets, 0);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn forget_takes_back_the_session_agents_own_packets_only() {
    let store: Arc<dyn Router> = Arc::new(qis::router::memory::MemoryRouter::new());
    let a = connect(store.clone(), Some("site_a")).await;
    let b = connect(store.clone(), Some("site_b")).await;
    let deposit = json!({"domain": "db_ops", "context": context(), "outcome": "resolved",
                         "confidence": 0.8, "result": {"fix": "x"}});
    let mine = call(&a, "deposit_outcome", deposit.clone()).await;
    let mine = ok(&mine).clone();
    let theirs = call(&b, "deposit_outcome", deposit).await;
    let theirs = ok(&theirs).clone();
    let forgot = call(&a, "forget", json!({"ids": [theirs["id"]]})).await;
    assert_eq!(
        ok(&forgot)["removed"],
        0,
        "another agent's packet is not A's to forget"
    );
    let forgot = call(&a, "forget", json!({"ids": [mine["id"]]})).await;
    assert_eq!(ok(&forgot)["removed"], 1);
    let left = call(&b, "query_outcomes", json!({"address": mine["address"]})).await;
    let left = ok(&left);
    assert_eq!(left["count"], 1);
    assert_eq!(left["hits"][0]["packet"]["agent"], "site_b");
    for (args, field) in [
        (json!({}), "everything"),
        (json!({"ids": ["nope"]}), "ids[0]"),
        (json!({"address": "zz"}), "address"),
        (
            json!({"address": mine["address"], "everything": true}),
            "everything",
        ),
        (json!({"agent": "site_b", "everything": true}), "agent"),
    ] {
        let result = call(&a, "forget", args.clone()).await;
        assert_eq!(refused(&result).0, field, "{args}");
    }
    let all = call(&b, "forget", json!({"everything": true})).await;
    assert_eq!(ok(&all)["removed"], 1);
    assert_eq!(store.stats().await.unwrap().packets, 0);
    for c in [a, b] {
        c.cancel().await.unwrap();
    }
}
