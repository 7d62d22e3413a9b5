//! The Python `mcp` package (PyPI) as a real MCP client of `qis mcp` (stdio) and of `qis serve`'s
//! `/mcp` (streamable HTTP): the checks live in `tests/mcp/clients.py`.
//!
//! The interpreter is `$QIS_VENV_PYTHON`, the test venv's, which `scripts/with-engines` creates
//! with the `mcp` package pinned; the test fails, saying so, when it is not set.

use std::process::Command;

#[test]
fn the_python_mcp_client_deposits_consults_and_is_refused_where_it_should_be() {
    let python = std::env::var("QIS_VENV_PYTHON").unwrap_or_else(|_| {
        panic!("QIS_VENV_PYTHON is not set: run the tests through scripts/test (or scripts/with-engines)")
    });
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mcp/clients.py");
    let out = Command::new(&python)
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_qis"))
        .env("QIS_LOG", "error")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the MCP client checks failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("all MCP client checks passed"), "{stdout}");
    assert!(stdout.matches("ok: ").count() >= 23, "{stdout}");
}
