//! The HTML report in a real browser: headless Chromium (Debian's
//! `chromium`) opens the report of the bundled example at 1280 and 375 px
//! with JavaScript disabled and the network blocked, and fails on any
//! request leaving the file or any element wider than the viewport; it
//! prints the page to PDF and checks that the listing's row is whole on one
//! page and the evidence is printed. Screenshots and the PDF are written
//! under `target/browser/`.
//!
//! Without Chromium (or `pdftotext`, from poppler-utils) the test says so
//! and passes, unless `MAILAUDIT_BROWSER_TESTS=require` (set by `.ci/run`,
//! which installs both).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use headless_chrome::protocol::cdp::types::Event;
use headless_chrome::protocol::cdp::types::Method;
use headless_chrome::protocol::cdp::{Emulation, Network, Page};
use headless_chrome::types::PrintToPdfOptions;
use headless_chrome::{Browser, LaunchOptions, Tab};

/// The widths the report must fit: a laptop and a phone.
const WIDTHS: [u32; 2] = [1280, 375];

fn find_tool(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// The tools, or `None` (with a note) when they are missing and not
/// required.
fn tools() -> Option<(PathBuf, PathBuf)> {
    let chromium = find_tool("MAILAUDIT_CHROMIUM", &["chromium", "chromium-browser"]);
    let pdftotext = find_tool("MAILAUDIT_PDFTOTEXT", &["pdftotext"]);
    match (chromium, pdftotext) {
        (Some(c), Some(p)) => Some((c, p)),
        missing => {
            let what = if missing.0.is_none() {
                "chromium"
            } else {
                "pdftotext (poppler-utils)"
            };
            if std::env::var("MAILAUDIT_BROWSER_TESTS").as_deref() == Ok("require") {
                panic!("{what} is not installed; .ci/run installs it");
            }
            // Straight to the terminal: libtest swallows eprintln! of a
            // passing test, and a skip nobody sees reads as a pass.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "\nbrowser test SKIPPED: {what} is not installed (apt-get install chromium poppler-utils)"
            );
            None
        }
    }
}

fn out_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The README's first command, writing its HTML report into `dir`.
fn example_report(dir: &Path) -> PathBuf {
    let report = dir.join("report.html");
    let shown = report.display().to_string();
    let out =
        crate::common::mailaudit_at_root(&[crate::common::README_AUDIT, &["-o", &shown]].concat());
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    report
}

fn launch(chromium: &Path) -> Browser {
    let profile = tempfile::tempdir().unwrap();
    let args: Vec<&OsStr> = [
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        // The network is blocked: names resolve nowhere (but loopback,
        // where the service test's server is) and every other connection
        // goes to a proxy that is not there.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--proxy-server=127.0.0.1:9",
    ]
    .iter()
    .map(OsStr::new)
    .collect();
    let options = LaunchOptions {
        path: Some(chromium.to_path_buf()),
        headless: true,
        sandbox: false,
        window_size: Some((1280, 900)),
        user_data_dir: Some(profile.keep()),
        args,
        ..LaunchOptions::default()
    };
    Browser::new(options).expect("chromium starts")
}

/// Every URL the page asked for.
type Requests = Arc<Mutex<Vec<String>>>;

/// A tab with scripts disabled that records every request.
fn tab(browser: &Browser) -> (Arc<Tab>, Requests) {
    let tab = browser.new_tab().unwrap();
    let requests: Requests = Arc::default();
    let seen = Arc::clone(&requests);
    tab.call_method(Network::Enable {
        max_total_buffer_size: None,
        max_resource_buffer_size: None,
        max_post_data_size: None,
        report_direct_socket_traffic: None,
        enable_durable_messages: None,
    })
    .unwrap();
    tab.add_event_listener(Arc::new(move |event: &Event| {
        if let Event::NetworkRequestWillBeSent(e) = event {
            seen.lock().unwrap().push(e.params.request.url.clone());
        }
    }))
    .unwrap();
    tab.call_method(Emulation::SetScriptExecutionDisabled { value: true })
        .unwrap();
    (tab, requests)
}

fn set_width(tab: &Tab, width: u32) {
    tab.call_method(Emulation::SetDeviceMetricsOverride {
        width,
        height: 900,
        device_scale_factor: 1.0,
        mobile: width < 600,
        scale: None,
        screen_width: None,
        screen_height: None,
        position_x: None,
        position_y: None,
        dont_set_visible_size: None,
        screen_orientation: None,
        viewport: None,
        display_feature: None,
        device_posture: None,
    })
    .unwrap();
}

/// `DOMSnapshot.captureSnapshot`, read as JSON: the typed return of the
/// protocol crate cannot hold the `-1` Chromium sends for "no string".
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct CaptureSnapshot {
    computed_styles: Vec<String>,
}

impl Method for CaptureSnapshot {
    const NAME: &'static str = "DOMSnapshot.captureSnapshot";
    type ReturnObject = serde_json::Value;
}

/// Layout objects that reach past the right edge (or start left of the
/// left one) of a viewport `width` wide: node name, position, text.
fn too_wide(tab: &Tab, width: u32) -> Vec<String> {
    let snap = tab
        .call_method(CaptureSnapshot {
            computed_styles: Vec::new(),
        })
        .unwrap();
    let strings = snap["strings"].as_array().unwrap();
    let s = |v: &serde_json::Value| {
        v.as_u64()
            .and_then(|i| strings.get(i as usize))
            .and_then(|s| s.as_str())
            .unwrap_or("")
    };
    let mut out = Vec::new();
    for doc in snap["documents"].as_array().unwrap() {
        let names = doc["nodes"]["nodeName"].as_array().unwrap();
        let layout = &doc["layout"];
        let bounds = layout["bounds"].as_array().unwrap();
        assert!(!bounds.is_empty(), "nothing laid out");
        for (i, b) in bounds.iter().enumerate() {
            let (x, w) = (b[0].as_f64().unwrap(), b[2].as_f64().unwrap());
            if x < -1.0 || x + w > f64::from(width) + 1.0 {
                let node = layout["nodeIndex"][i].as_u64().unwrap() as usize;
                let name = names.get(node).map_or("?", s);
                let text = s(&layout["text"][i]);
                out.push(format!("{name} at x={x:.0} width={w:.0} {text:?}"));
            }
        }
    }
    out
}

/// A PNG of the page from the top, `height` px of it or all of it.
fn screenshot(tab: &Tab, file: &Path, height: Option<f64>) {
    let metrics = tab.call_method(Page::GetLayoutMetrics(None)).unwrap();
    let size = metrics.css_content_size;
    let height = height.map_or(size.height, |h| h.min(size.height));
    let png = tab
        .call_method(Page::CaptureScreenshot {
            format: Some(Page::CaptureScreenshotFormatOption::Png),
            quality: None,
            clip: Some(Page::Viewport {
                x: 0.0,
                y: 0.0,
                width: size.width,
                height,
                scale: 1.0,
            }),
            from_surface: Some(true),
            capture_beyond_viewport: Some(true),
            optimize_for_speed: None,
        })
        .unwrap()
        .data;
    use base64::Engine as _;
    let png = base64::engine::general_purpose::STANDARD
        .decode(png)
        .unwrap();
    std::fs::write(file, png).unwrap();
}

/// The PDF's text, page by page.
fn pdf_pages(pdftotext: &Path, pdf: &Path) -> Vec<String> {
    let out = Command::new(pdftotext)
        .args([OsStr::new("-raw"), pdf.as_os_str(), OsStr::new("-")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .split('\u{c}')
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn the_example_report_in_chromium() {
    let Some((chromium, pdftotext)) = tools() else {
        return;
    };
    let out = out_dir();
    let work = tempfile::tempdir().unwrap();
    let report = example_report(work.path());
    let url = format!("file://{}", report.display());

    let browser = launch(&chromium);
    let (tab, requests) = tab(&browser);
    for width in WIDTHS {
        set_width(&tab, width);
        tab.navigate_to(&url)
            .unwrap()
            .wait_until_navigated()
            .unwrap();
        let wide = too_wide(&tab, width);
        assert!(wide.is_empty(), "wider than {width} px: {wide:#?}");
        let metrics = tab.call_method(Page::GetLayoutMetrics(None)).unwrap();
        assert!(
            metrics.css_content_size.width <= f64::from(width) + 1.0,
            "the page scrolls sideways at {width} px: {}",
            metrics.css_content_size.width
        );
        screenshot(&tab, &out.join(format!("report-{width}.png")), None);
        screenshot(
            &tab,
            &out.join(format!("report-{width}-top.png")),
            Some(1000.0),
        );
    }

    // Paper: A4, the print stylesheet.
    set_width(&tab, 1280);
    tab.navigate_to(&url)
        .unwrap()
        .wait_until_navigated()
        .unwrap();
    let pdf = tab
        .print_to_pdf(Some(PrintToPdfOptions {
            paper_width: Some(8.27),
            paper_height: Some(11.69),
            ..PrintToPdfOptions::default()
        }))
        .unwrap();
    let pdf_file = out.join("report.pdf");
    std::fs::write(&pdf_file, pdf).unwrap();

    let asked = requests.lock().unwrap().clone();
    let outside: Vec<&String> = asked.iter().filter(|u| **u != url).collect();
    assert!(outside.is_empty(), "requests beyond the file: {outside:?}");
    assert!(
        asked.contains(&url),
        "the page itself was loaded: {asked:?}"
    );

    let pages = pdf_pages(&pdftotext, &pdf_file);
    assert!(pages.len() > 1, "{} page(s)", pages.len());
    // The listing's row of the blocklist table: its result, subject and
    // list, then the reason the list gives, all on one page.
    let row = "listed 192.0.2.11 bl.example.net sent mail to the list's spam traps";
    let reason = "hit spam traps 14 times since 2026-11-02";
    let on: Vec<usize> = (0..pages.len())
        .filter(|&i| pages[i].contains(row))
        .collect();
    assert_eq!(on.len(), 1, "the row starts on one page: {on:?}");
    let page = &pages[on[0]];
    let rest = &page[page.find(row).unwrap()..];
    assert!(
        rest.contains(reason) && rest.replace(' ', "").contains("lookup?ip=192.0.2.11"),
        "the row ends on the page it starts on: {rest}"
    );
    // Evidence, collapsed on screen, is printed.
    let all = pages.join(" ");
    assert!(all.contains("Evidence"), "{all}");
    assert!(all.contains("\"zone\": \"bl.example.net\""), "{all}");
}

/// The service's pages (issue 20) in the same browser, scripts off and the
/// network blocked but for the service on loopback: the form at 1280 and
/// 375 px, submitted with the keyboard (no JavaScript), the progress page
/// (it reloads itself with a meta refresh), then the report; nothing
/// asked of any other address.
#[test]
fn the_service_pages_in_chromium() {
    use crate::serve::{Server, config, sqlite};
    let Some((chromium, _)) = tools() else {
        return;
    };
    let out = out_dir();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (_dir, url) = sqlite();
    let (env, server) = rt.block_on(async {
        let env = crate::common::Env::world().await;
        // Slow answers: the progress page is seen before the report.
        env.server
            .set_latency(std::time::Duration::from_millis(400));
        let server = Server::start(&env, &url, config()).await;
        (env, server)
    });
    let home = server.url("/");

    let browser = launch(&chromium);
    let (tab, requests) = tab(&browser);
    for width in WIDTHS {
        set_width(&tab, width);
        tab.navigate_to(&home)
            .unwrap()
            .wait_until_navigated()
            .unwrap();
        let wide = too_wide(&tab, width);
        assert!(
            wide.is_empty(),
            "the form is wider than {width} px: {wide:#?}"
        );
        screenshot(&tab, &out.join(format!("serve-form-{width}.png")), None);
    }

    // Type the domain and press Enter: the browser submits the form.
    // Focus through the protocol's DOM domain (a click would run script).
    let field = tab.find_element("#domain").unwrap();
    tab.call_method(headless_chrome::protocol::cdp::DOM::Focus {
        node_id: Some(field.node_id),
        backend_node_id: None,
        object_id: None,
    })
    .unwrap();
    tab.type_str("clean.test").unwrap();
    tab.press_key("Enter").unwrap();
    let started = std::time::Instant::now();
    let mut saw_progress = false;
    let report = loop {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let at = tab.get_url();
        let html = tab.get_content().unwrap_or_default();
        if at.contains("/audits/") && html.contains("reloads itself") {
            if !saw_progress {
                screenshot(&tab, &out.join("serve-progress-375.png"), None);
            }
            saw_progress = true;
        }
        if at.contains("/audits/") && html.contains("<title>mailaudit: audit of clean.test") {
            break html;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "no report after 60 s; at {at}: {}",
            &html[..html.len().min(400)]
        );
    };
    assert!(saw_progress, "the permalink showed progress first");
    assert!(report.contains("clean.test"));
    let wide = too_wide(&tab, 375);
    assert!(
        wide.is_empty(),
        "the report is wider than 375 px: {wide:#?}"
    );
    screenshot(&tab, &out.join("serve-report-375.png"), Some(1000.0));

    let origin = format!("http://{}/", server.addr);
    let asked = requests.lock().unwrap().clone();
    let outside: Vec<&String> = asked.iter().filter(|u| !u.starts_with(&origin)).collect();
    assert!(
        outside.is_empty(),
        "requests beyond the service: {outside:?}"
    );
    drop(tab);
    drop(browser);
    rt.block_on(server.stop());
    drop(env);
}

/// The test-address page (issue 21) in the same browser, scripts off:
/// the home page's button (pressed with the keyboard) makes an address,
/// the page shows it and reloads itself while it waits; a real message
/// sent to it over SMTP turns the page into a link to its report, all at
/// 375 px, and nothing is asked of any other address.
#[test]
fn the_test_address_page_in_chromium() {
    use crate::test_addresses::{Setup, ZONES, campaign, deliver, setup};
    let Some((chromium, _)) = tools() else {
        return;
    };
    let out = out_dir();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (env, s) = rt.block_on(async {
        let env = crate::common::Env::new(ZONES).await;
        let s = setup(&env, |_, _| {}).await;
        (env, s)
    });
    let browser = launch(&chromium);
    let (tab, requests) = tab(&browser);
    set_width(&tab, 375);
    tab.navigate_to(&s.server.url("/"))
        .unwrap()
        .wait_until_navigated()
        .unwrap();
    let button = tab.find_element("form[action='/tests'] button").unwrap();
    tab.call_method(headless_chrome::protocol::cdp::DOM::Focus {
        node_id: Some(button.node_id),
        backend_node_id: None,
        object_id: None,
    })
    .unwrap();
    tab.press_key("Enter").unwrap();

    // The page of the new address: the address, waiting, a reload.
    let wait_for = |what: &str, ok: &dyn Fn(&str, &str) -> bool| -> (String, String) {
        let started = std::time::Instant::now();
        loop {
            std::thread::sleep(std::time::Duration::from_millis(100));
            let at = tab.get_url();
            let html = tab.get_content().unwrap_or_default();
            if ok(&at, &html) {
                return (at, html);
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "{what}: not there after 60 s; at {at}: {}",
                &html[..html.len().min(600)]
            );
        }
    };
    let (page, html) = wait_for("the test page", &|at, html| {
        at.contains("/tests/") && html.contains("waiting")
    });
    assert!(html.contains("http-equiv=\"refresh\""), "it reloads itself");
    let address = html
        .split("<code>")
        .nth(1)
        .and_then(|rest| rest.split("</code>").next())
        .expect("the address on the page")
        .to_string();
    assert!(
        address.starts_with("test-") && address.ends_with("@audit.test"),
        "{address}"
    );
    let wide = too_wide(&tab, 375);
    assert!(
        wide.is_empty(),
        "the test page is wider than 375 px: {wide:#?}"
    );
    screenshot(&tab, &out.join("serve-test-waiting-375.png"), None);

    // A real message arrives; the page (reloading itself) links the report.
    let replies = rt.block_on(deliver(
        &s,
        true,
        "out.sender.test",
        "bounces@sender.test",
        &[&address],
        &campaign(""),
    ));
    assert_eq!(replies.last().map(|r| r.0), Some(250), "{replies:?}");
    let (at, html) = wait_for("the report link", &|at, html| {
        at == page && html.contains("The report of the newest message")
    });
    assert!(html.contains("received"), "{html}");
    assert!(
        !html.contains("http-equiv=\"refresh\""),
        "it stops reloading once the report is done"
    );
    let wide = too_wide(&tab, 375);
    assert!(
        wide.is_empty(),
        "the test page is wider than 375 px: {wide:#?}"
    );
    screenshot(&tab, &out.join("serve-test-received-375.png"), None);

    // Follow the link with the keyboard: the report of what arrived.
    let link = tab.find_element("a[href^='/audits/']").unwrap();
    tab.call_method(headless_chrome::protocol::cdp::DOM::Focus {
        node_id: Some(link.node_id),
        backend_node_id: None,
        object_id: None,
    })
    .unwrap();
    tab.press_key("Enter").unwrap();
    let (_, report) = wait_for("the report", &|u, html| {
        u != at && u.contains("/audits/") && html.contains("127.0.0.1")
    });
    assert!(
        report.contains("sender.test"),
        "the report names the domain"
    );
    let wide = too_wide(&tab, 375);
    assert!(
        wide.is_empty(),
        "the report is wider than 375 px: {wide:#?}"
    );

    let origin = format!("http://{}/", s.server.addr);
    let asked = requests.lock().unwrap().clone();
    let outside: Vec<&String> = asked.iter().filter(|u| !u.starts_with(&origin)).collect();
    assert!(
        outside.is_empty(),
        "requests beyond the service: {outside:?}"
    );
    drop(tab);
    drop(browser);
    let Setup { server, .. } = s;
    rt.block_on(server.stop());
    drop(env);
}

/// The watches pages (issue 22), scripts off: the list with its form at
/// 375 px, a watch added with the keyboard, then (after runs) its page
/// with the chart (inline SVG) and the history, no wider than the screen,
/// nothing asked of any other address.
#[test]
fn the_watch_pages_in_chromium() {
    use crate::serve::{Server, config, sqlite};
    use mailaudit::service::watch::Which;
    let Some((chromium, _)) = tools() else {
        return;
    };
    let out = out_dir();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (_dir, url) = sqlite();
    let (env, server) = rt.block_on(async {
        let env = crate::common::Env::world().await;
        let server = Server::start(&env, &url, config()).await;
        (env, server)
    });
    let browser = launch(&chromium);
    let (tab, requests) = tab(&browser);
    set_width(&tab, 375);
    tab.navigate_to(&server.url("/watches"))
        .unwrap()
        .wait_until_navigated()
        .unwrap();
    let wide = too_wide(&tab, 375);
    assert!(
        wide.is_empty(),
        "the watches page is wider than 375 px: {wide:#?}"
    );
    let field = tab.find_element("#domain").unwrap();
    tab.call_method(headless_chrome::protocol::cdp::DOM::Focus {
        node_id: Some(field.node_id),
        backend_node_id: None,
        object_id: None,
    })
    .unwrap();
    tab.type_str("clean.test").unwrap();
    tab.press_key("Enter").unwrap();
    let started = std::time::Instant::now();
    let page = loop {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let at = tab.get_url();
        if at.contains("/watches/") {
            break at;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "no watch page; at {at}"
        );
    };
    // Run now, with the keyboard: the page reloads itself until the run
    // is in its history.
    let button = tab.find_element("form[action$='/run'] button").unwrap();
    tab.call_method(headless_chrome::protocol::cdp::DOM::Focus {
        node_id: Some(button.node_id),
        backend_node_id: None,
        object_id: None,
    })
    .unwrap();
    tab.press_key("Enter").unwrap();
    let started = std::time::Instant::now();
    loop {
        std::thread::sleep(std::time::Duration::from_millis(200));
        let html = tab.get_content().unwrap_or_default();
        if html.matches("<td data-label=\"When\">").count() == 1
            && !html.contains("a run is under way")
        {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "the run never showed: {}",
            &html[..html.len().min(600)]
        );
    }
    // Two more runs, then the page again: the chart and the history.
    rt.block_on(async {
        for _ in 0..2 {
            server.service().run_watches(Which::All).await.unwrap();
        }
    });
    tab.navigate_to(&page)
        .unwrap()
        .wait_until_navigated()
        .unwrap();
    let html = tab.get_content().unwrap();
    assert!(html.contains("<svg class=\"chart\""), "{html}");
    assert_eq!(html.matches("<td data-label=\"When\">").count(), 3);
    let wide = too_wide(&tab, 375);
    assert!(
        wide.is_empty(),
        "the watch page is wider than 375 px: {wide:#?}"
    );
    screenshot(&tab, &out.join("serve-watch-375.png"), None);
    set_width(&tab, 1280);
    tab.navigate_to(&page)
        .unwrap()
        .wait_until_navigated()
        .unwrap();
    screenshot(&tab, &out.join("serve-watch-1280.png"), None);

    let origin = format!("http://{}/", server.addr);
    let asked = requests.lock().unwrap().clone();
    let outside: Vec<&String> = asked.iter().filter(|u| !u.starts_with(&origin)).collect();
    assert!(
        outside.is_empty(),
        "requests beyond the service: {outside:?}"
    );
    drop(tab);
    drop(browser);
    rt.block_on(server.stop());
    drop(env);
}
