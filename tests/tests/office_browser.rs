//! The back office in a real browser (headless chromium through chromedriver) against the real
//! server binary, as its users work: the administrator signs in, adds an officer and an account
//! for the supervision office, and issues an enrolment code shown as a QR code; a device (the
//! `roadside` CLI) enrols with that code, opens a case, records an audio file as evidence and
//! syncs; the supervisor signs in, finds the case, opens it, and the browser plays the evidence
//! (range requests from the server's object store); the statistics and the publication pages
//! open; a tablet shows the case list. A screenshot of each main page is kept under
//! `target/screenshots/office-*.png`.

use std::path::Path;

use roadside_tests::browser::{self, Browser};
use roadside_tests::cli::{ok, Cli};
use roadside_tests::{cli_bin, ServerProcess};

/// One second of 8 kHz mono 16-bit PCM in a WAV container: a 440 Hz tone, which every browser
/// decodes.
fn wav_tone() -> Vec<u8> {
    let rate: u32 = 8000;
    let samples: Vec<i16> = (0..rate)
        .map(|i| {
            let t = i as f64 / rate as f64;
            ((t * 440.0 * std::f64::consts::TAU).sin() * 8000.0) as i16
        })
        .collect();
    let data_len = (samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

/// Set a form field's value as a date picker does (typing into `type=date` depends on the
/// browser's locale).
fn set_value(b: &Browser, name: &str, value: &str) {
    b.wait_for(&format!("[name=\"{name}\"]"));
    let script =
        format!("document.querySelector('[name=\"{name}\"]').value = arguments[0]; return true;");
    b.block_on(b.client().execute(&script, vec![serde_json::json!(value)]))
        .expect("set the field");
}

fn sign_in(b: &Browser, server: &ServerProcess, login: &str, password: &str) {
    b.goto(&server.url("/"));
    b.wait_for_text("登录名");
    b.fill("login", login);
    b.fill("password", password);
    b.click_text("登录");
    b.wait_for_text("退出");
}

fn run_js(b: &Browser, script: &str) -> serde_json::Value {
    b.block_on(b.client().execute(script, vec![]))
        .expect("run a script on the page")
}

#[test]
fn the_office_in_a_browser_from_roster_to_playing_the_evidence() {
    let Some(b) = Browser::start() else {
        return;
    };
    let data = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(data.path(), "127.0.0.1:0");

    // Not signed in: the sign-in page, in Chinese.
    b.goto(&server.url("/cases"));
    b.wait_for_text("路检执法 · 后台");
    assert!(b.url().contains("/login?next=%2Fcases"), "{}", b.url());
    b.screenshot("office-login");
    b.fill("login", "admin");
    b.fill("password", "wrong password");
    b.click_text("登录");
    b.wait_for_text("账号或密码错误");

    // The administrator: roster, an account for the supervision office, an enrolment code.
    sign_in(&b, &server, "admin", &server.admin_password());
    b.screenshot("office-home-admin");
    b.goto(&server.url("/admin/officers"));
    b.fill("certificate_no", "QH6325000177");
    b.fill("name", "扎西");
    b.fill("agency", "共和县交通运输综合行政执法大队 (632521)");
    b.fill("role", "执法人员");
    set_value(&b, "valid_from", "2026-01-01");
    set_value(&b, "valid_to", "2030-12-31");
    b.click_text("保存");
    b.wait_for_text("已保存执法人员信息");
    assert!(b.text().contains("扎西"));
    b.screenshot("office-roster");

    b.goto(&server.url("/admin/accounts"));
    b.fill("login", "jiandu");
    b.fill("password", "执法监督局-浏览器测试");
    b.fill("role", "执法监督");
    b.fill("certificate_no", "QH6325000104");
    b.click_text("创建");
    b.wait_for_text("已创建账号");

    b.goto(&server.url("/admin/enrolment-codes"));
    b.fill(
        "certificate_no",
        "才让多杰 · QH6325000101 · 海南藏族自治州交通运输综合行政执法局",
    );
    b.click_text("生成登记码");
    b.wait_for_text("此码只显示这一次");
    assert!(b.exists(".qr svg"), "the QR code is drawn");
    let code = run_js(
        &b,
        "return document.querySelector('[data-code]').textContent;",
    );
    let code = code.as_str().expect("the code").trim().to_string();
    b.screenshot("office-enrolment-code");

    // The device enrols with the code shown, records a case with an audio file, and syncs.
    let device_dir = tempfile::tempdir().expect("device dir");
    let cli = Cli::new(cli_bin(), &device_dir.path().join("dev"));
    ok(&cli.run(&["init", "--demo-roster"]));
    ok(&cli.run(&["enrol", "--server", &server.base, "--code", &code]));
    let record = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/record-example.json");
    let case = ok(&cli.run(&["case", "new", "--json", record.to_str().expect("path")]));
    let case = case["id"].as_str().expect("case id").to_string();
    let audio = device_dir.path().join("执法记录仪-录音.wav");
    let tone = wav_tone();
    std::fs::write(&audio, &tone).expect("write the recording");
    ok(&cli.run(&[
        "evidence",
        "add",
        &case,
        audio.to_str().expect("path"),
        "--kind",
        "audio",
    ]));
    let synced = ok(&cli.run(&["sync"]));
    assert_eq!(synced["outbox_left"], 0, "{synced}");

    // Sign out; the supervision office finds the case and plays the recording.
    b.click_text("退出");
    b.wait_for_text("登录名");
    sign_in(&b, &server, "jiandu", "执法监督局-浏览器测试");
    b.goto(&server.url("/cases"));
    b.wait_for_text(&case);
    b.screenshot("office-cases");
    b.click(&format!("a[href=\"/cases/{case}\"]"));
    b.wait_for_text("全过程记录");
    b.wait_for_text("已上传，整文件哈希已核验");
    let page = b.text();
    assert!(
        page.contains("立案 / 开始检查") && page.contains("登记证据"),
        "{page}"
    );
    // The browser reads the recording's length from the server by range requests, and plays it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let duration = loop {
        let d = run_js(
            &b,
            "const a = document.querySelector('audio'); return a && a.readyState >= 1 ? a.duration : null;",
        );
        if let Some(d) = d.as_f64() {
            break d;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the audio element never loaded its metadata"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert!((duration - 1.0).abs() < 0.05, "duration {duration}");
    let played = run_js(
        &b,
        "const a = document.querySelector('audio'); a.muted = true; return a.play().then(() => true, e => String(e));",
    );
    assert_eq!(played, serde_json::json!(true), "{played}");
    b.screenshot("office-case-page");

    // Statistics and publications open for the supervision office.
    b.goto(&server.url("/statistics"));
    b.wait_for_text("系统使用率");
    assert!(b.exists("svg"), "the chart");
    b.screenshot("office-statistics");
    b.goto(&server.url("/publications"));
    b.wait_for_text("行政处罚决定公示");
    b.screenshot("office-publications");

    // A tablet in portrait: the case list still reads.
    let (w, h) = browser::TABLET_PORTRAIT;
    b.resize(w, h);
    b.goto(&server.url("/cases"));
    b.wait_for_text(&case);
    let overflow = run_js(
        &b,
        "return document.documentElement.scrollWidth <= window.innerWidth + 1;",
    );
    assert_eq!(
        overflow,
        serde_json::json!(true),
        "no page-wide sideways scrolling"
    );
    b.screenshot("office-cases-tablet");
}
