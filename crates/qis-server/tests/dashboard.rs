//! The dashboard in a real browser: headless Chromium loads the page from a node, and the numbers
//! it shows must be the API's. A screenshot is kept in `target/artifacts/dashboard.png`.
//!
//! Skipped, with a notice, when no Chromium is installed (`scripts/test` installs Debian's
//! `chromium`); `QIS_CHROMIUM` names another binary.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use qis::packet::{Address, Outcome, Packet, now_ms};
use qis::router::http::HttpRouter;
use qis::router::memory::MemoryRouter;
use qis::router::{Routed, Router};
use qis_server::ServerConfig;

fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("QIS_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in [
            "chromium",
            "chromium-browser",
            "google-chrome",
            "google-chrome-stable",
        ] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

fn artifacts() -> PathBuf {
    let dir = std::env::var_os("QIS_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/artifacts")
        });
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs headless Chromium on `url` with `extra` arguments; its standard output.
fn browse(bin: &PathBuf, url: &str, extra: &[String]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            "--virtual-time-budget=4000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The text of the element with `id` in `dom` (`<... id="x">text</...>`).
fn text_of(dom: &str, id: &str) -> String {
    let at = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in the page"));
    let rest = &dom[at..];
    let start = rest.find('>').unwrap() + 1;
    let end = rest[start..].find('<').unwrap();
    rest[start..start + end].to_owned()
}

/// The value of attribute `name` on the element whose attributes include `anchor`.
fn attr_near(dom: &str, anchor: &str, name: &str) -> Option<String> {
    let at = dom.find(anchor)?;
    let tag_start = dom[..at].rfind('<')?;
    let tag_end = at + dom[at..].find('>')?;
    let tag = &dom[tag_start..tag_end];
    let key = format!("{name}=\"");
    let v = tag.find(&key)? + key.len();
    Some(tag[v..v + tag[v..].find('"')?].to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_numbers_of_the_api() {
    let Some(bin) = chromium() else {
        eprintln!(
            "NOTICE: skipping the dashboard browser test: no chromium found (scripts/test installs Debian's `chromium`; QIS_CHROMIUM names another binary)"
        );
        return;
    };
    let node = common::serve(
        Arc::new(MemoryRouter::new()),
        ServerConfig::new(common::tokens()),
    )
    .await;
    let client = HttpRouter::connect(&node.url(), Some(common::TOKEN_A.into()))
        .await
        .unwrap();
    // Three addresses with 5, 3 and 1 packets; the busiest drifts from weekly towards daily.
    let base = now_ms() - 60_000;
    let plan: [(u8, &[&str]); 3] = [
        (1, &["weekly", "weekly", "weekly", "daily", "daily"]),
        (2, &["weekly", "daily", "daily"]),
        (3, &["weekly"]),
    ];
    for (byte, protocols) in plan {
        let address = Address::from_bytes(&[byte; 8]).unwrap();
        let batch: Vec<Routed> = protocols
            .iter()
            .enumerate()
            .map(|(i, p)| {
                Routed::new(
                    Packet::builder("agent-a", "trial", address)
                        .outcome(if *p == "weekly" {
                            Outcome::Resolved
                        } else {
                            Outcome::Partial
                        })
                        .confidence(0.7)
                        .result("protocol", *p)
                        .created(base + i as u64 * 5_000)
                        .build()
                        .unwrap(),
                )
            })
            .collect();
        client.deposit(&batch).await.unwrap();
    }

    let http = reqwest::Client::new();
    let get = |path: String| {
        let http = http.clone();
        let url = format!("{}{path}", node.url());
        async move {
            let r = http
                .get(url)
                .bearer_auth(common::TOKEN_A)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            serde_json::from_slice::<serde_json::Value>(&r.bytes().await.unwrap()).unwrap()
        }
    };
    let api = get("/v1/dashboard".into()).await;
    let busiest = api["addresses"][0]["address"].as_str().unwrap().to_owned();
    let curve = get(format!("/v1/addresses/{busiest}/consensus?points=20")).await;

    let url = format!("{}/dashboard#token={}", node.url(), common::TOKEN_A);
    let bin2 = bin.clone();
    let url2 = url.clone();
    let dom = tokio::time::timeout(
        Duration::from_secs(90),
        tokio::task::spawn_blocking(move || browse(&bin2, &url2, &["--dump-dom".into()])),
    )
    .await
    .expect("chromium within 90 s")
    .unwrap();

    assert_eq!(
        attr_near(&dom, "<body", "data-loaded").as_deref(),
        Some("true"),
        "the page loaded its data"
    );
    assert_eq!(
        text_of(&dom, "total-packets"),
        api["stats"]["packets"].to_string()
    );
    assert_eq!(
        text_of(&dom, "total-addresses"),
        api["stats"]["addresses"].to_string()
    );
    assert_eq!(text_of(&dom, "router-name"), "memory");
    assert_eq!(api["stats"]["packets"], 9);
    for a in api["addresses"].as_array().unwrap() {
        let address = a["address"].as_str().unwrap();
        let shown = attr_near(
            &dom,
            &format!("data-address=\"{address}\""),
            "data-deposits",
        )
        .unwrap_or_else(|| panic!("address {address} is not shown"));
        assert_eq!(shown, a["deposits"].to_string(), "deposits at {address}");
    }
    let recent_rows = dom.matches("data-id=\"").count();
    assert_eq!(recent_rows, api["recent"].as_array().unwrap().len());
    let points = curve["points"].as_array().unwrap();
    assert_eq!(
        attr_near(&dom, "id=\"chart\"", "data-points"),
        Some(points.len().to_string()),
        "the chart has the API's points"
    );
    let last = points.last().unwrap()["consensus_rate"].as_f64().unwrap();
    let shown_last: f64 = attr_near(&dom, "id=\"chart\"", "data-last")
        .unwrap()
        .parse()
        .unwrap();
    assert!((shown_last - last).abs() < 1e-9, "{shown_last} vs {last}");
    assert!(
        (last - 0.6).abs() < 1e-9,
        "3 weekly of 5 at the end: {last}"
    );

    let shot = artifacts().join("dashboard.png");
    let _ = std::fs::remove_file(&shot);
    let bin3 = bin.clone();
    let arg = format!("--screenshot={}", shot.display());
    tokio::task::spawn_blocking(move || {
        browse(&bin3, &url, &[arg, "--window-size=1280,900".into()])
    })
    .await
    .unwrap();
    let png = std::fs::read(&shot).expect("a screenshot was written");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    eprintln!("screenshot: {}", shot.display());
}
