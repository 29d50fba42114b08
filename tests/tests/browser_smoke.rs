//! The browser harness against the real server binary: a headless chromium opens the server's
//! health page and its OpenAPI document, reads them as a person would, keeps a screenshot, changes
//! to a tablet's size, and leaves no chromium behind.

use roadside_tests::browser::{self, Browser};
use roadside_tests::ServerProcess;

#[test]
fn chromium_reads_the_servers_pages_and_leaves_nothing_running() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let data = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(data.path(), "127.0.0.1:0");

    // The window fills the office's reference screen; the page gets what the browser's frame
    // leaves of it, as on a real 1366×768 laptop.
    let (w, h) = browser.viewport();
    assert!(w == 1366 && h > 500 && h <= 768, "{w}×{h}");

    browser.goto(&server.url("/healthz"));
    let language = browser.block_on(
        browser
            .client()
            .execute("return navigator.languages.join(',');", vec![]),
    );
    assert_eq!(
        language.expect("navigator.languages").as_str(),
        Some("zh-CN,zh"),
        "pages see a Chinese browser"
    );
    let message = browser.block_on(browser.client().execute(
        "const i = document.createElement('input'); i.required = true; return i.validationMessage;",
        vec![],
    ));
    assert_eq!(
        message.expect("validationMessage").as_str(),
        Some("请填写此字段。"),
        "the browser's own messages are in Chinese"
    );
    let health = browser.text();
    assert!(health.contains(r#""status":"ok""#), "{health}");
    assert!(health.contains(r#""storage":"sqlite""#), "{health}");
    let shot = browser.screenshot("smoke-healthz");
    let png = std::fs::read(&shot).expect("the screenshot is kept");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{}", shot.display());
    assert_eq!(shot, browser::screenshots_dir().join("smoke-healthz.png"));

    browser.goto(&server.url("/api/v1/openapi.json"));
    // Chromium shows JSON pretty-printed.
    browser.wait_for_text("\"openapi\"");
    let openapi = browser.text();
    assert!(openapi.contains("\"openapi\": \"3.1"), "{openapi}");
    assert!(openapi.contains("\"/api/v1/sessions\""), "{openapi}");
    assert_eq!(browser.url(), server.url("/api/v1/openapi.json"));

    let (w, h) = browser::TABLET_PORTRAIT;
    browser.resize(w, h);
    let (w, h) = browser.viewport();
    assert!(
        w == 768 && h > 800 && h <= 1024,
        "a tablet in portrait: {w}×{h}"
    );
    browser.screenshot("smoke-openapi-tablet");

    let profile = browser.profile_dir().to_path_buf();
    assert!(
        !browser::processes_using(&profile).is_empty(),
        "chromium runs with the session's own profile"
    );
    drop(browser);
    assert_eq!(
        browser::processes_using(&profile),
        Vec::<u32>::new(),
        "no chromium outlives the browser handle"
    );
    assert!(!profile.exists(), "the profile directory is removed");
}

/// `html` as a `data:` URL (every byte but letters and digits percent-encoded).
fn data_url(html: &str) -> String {
    let mut url = "data:text/html;charset=utf-8,".to_string();
    for b in html.bytes() {
        if b.is_ascii_alphanumeric() {
            url.push(b as char);
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

#[test]
fn the_helpers_fill_fields_click_by_text_and_wait_for_what_appears() {
    let Some(browser) = Browser::start() else {
        return;
    };
    browser.goto(&data_url(
        r##"<!doctype html><title>登录</title>
        <form id="f">
          <input name="login"> <input name="password" type="password">
          <select name="role"><option>执法人员</option><option>法制审核</option></select>
          <button type="submit">登录</button> <a href="#" hidden>登录</a>
        </form>
        <p id="out"></p>
        <script>
          document.getElementById('f').addEventListener('submit', e => {
            e.preventDefault();
            const f = e.target;
            // The answer comes later, as a server's would.
            setTimeout(() => {
              document.getElementById('out').textContent =
                `欢迎，${f.login.value}（${f.role.value}，口令 ${f.password.value.length} 位）`;
            }, 300);
          });
        </script>"##,
    ));
    assert_eq!(browser.title(), "登录");
    browser.fill("login", "张三");
    browser.fill("login", "admin");
    browser.fill("password", "秘密-1");
    browser.fill("role", "法制审核");
    // The hidden link with the same text does not make the click ambiguous.
    browser.click_text(" 登录 ");
    browser.wait_for_text("欢迎，admin（法制审核，口令 4 位）");
    let out = browser.wait_for("#out");
    assert_eq!(
        browser.block_on(out.text()).expect("text"),
        "欢迎，admin（法制审核，口令 4 位）"
    );
    assert!(!browser.exists("#absent"));
    browser.fill("login", "李四");
    browser.click("form button[type=submit]");
    browser.wait_for_text("欢迎，李四");
    browser.screenshot("smoke-helpers");
}
