//! The dashboard in a real browser: `waypost serve` on loopback, headless Chromium
//! (Debian's `chromium`) loads `/`, lets the page refresh itself, and the test reads the
//! rendered rows back; a hostile projection name must show as text, never run. A
//! screenshot is saved as `dashboard.png` in cargo's test scratch folder.
//!
//! Without Chromium the test says it was skipped; under `CI=true` it fails instead
//! (`make test` installs Chromium first).

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::{Store, WAYPOST};

const HOSTILE: &str = "<script>alert(1)</script>";

fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser"].iter().find_map(|name| {
        std::env::var_os("PATH")?.to_str()?.split(':').map(|dir| Path::new(dir).join(name)).find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but Chromium is not installed");
        eprintln!("SKIPPED: the dashboard test needs Debian's chromium package");
    }
    found
}

/// `waypost serve` on a free loopback port; the child and the page's URL.
fn serve(store_args: &[String]) -> (Child, String) {
    let mut child = Command::new(WAYPOST)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .args(store_args)
        .env_remove("WAYPOST_TOKEN")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start waypost serve");
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let url = first.split_whitespace().find(|w| w.starts_with("http://")).expect("the serving line").to_owned();
    (child, url)
}

fn browse(chromium: &Path, profile: &Path, extra: &[&str], url: &str) -> String {
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1100,420",
            // Timers run on a virtual clock: 5 s lets the page refresh itself twice.
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .stderr(Stdio::null())
        .output()
        .expect("run chromium");
    assert!(out.status.success(), "chromium failed: {:?}", out.status);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_every_projection_and_refreshes() {
    let Some(chromium) = chromium() else { return };
    let store = Store::sqlite().await;
    store.fill(40, &[("Orders", 10), ("Shipping", 40), (HOSTILE, 40)]).await;
    let (mut server, url) = serve(&store.args);
    let profile = tempfile::tempdir().unwrap();

    let dom = browse(&chromium, profile.path(), &["--dump-dom"], &url);
    let refreshes: u32 = dom
        .split("data-refreshes=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no refresh counter in\n{dom}"));
    assert!(refreshes >= 2, "the page refreshed itself {refreshes} time(s)");
    let rows: Vec<&str> = dom.split("<tr data-projection=").skip(1).collect();
    assert_eq!(rows.len(), 3, "{dom}");
    assert!(rows[1].contains(">Orders<") && rows[1].contains(">25.0%<") && rows[1].contains(">30<"), "{}", rows[1]);
    assert!(rows[1].contains("CatchingUp"), "{}", rows[1]);
    assert!(rows[2].contains(">Shipping<") && rows[2].contains("CaughtUp"), "{}", rows[2]);
    // The hostile name is text in a cell: escaped in the serialized DOM, no script element.
    assert!(rows[0].contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{}", rows[0]);
    assert_eq!(dom.matches("<script").count(), 1, "only the page's own script");

    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    let _ = std::fs::remove_file(&shot);
    browse(&chromium, profile.path(), &[&format!("--screenshot={}", shot.display())], &url);
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(png.len() > 5_000 && png.starts_with(b"\x89PNG"), "{} bytes", png.len());
    eprintln!("dashboard screenshot: {}", shot.display());

    server.kill().unwrap();
    server.wait().unwrap();
    store.finish().await;
}
