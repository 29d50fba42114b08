//! Administration: the officer roster, sign-in accounts, enrolment codes (with a QR code for the
//! phone) and enrolled devices. Every action goes through the same function as its API route, so
//! the role and agency checks are the API's.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use chrono::NaiveDate;
use maud::{html, Markup, PreEscaped};
use roadside_core::model::{OfficerCertificate, OfficerRole};
use serde::Deserialize;

use super::layout::{page, role_name};
use super::session::CsrfForm;
use super::{see_other, OfficeUser, PageError, PageForm, PageQuery, PageResult};
use crate::error::ApiError;
use crate::routes::{accounts, devices};
use crate::state::AppState;

const ROLES: [OfficerRole; 5] = [
    OfficerRole::Officer,
    OfficerRole::Assistant,
    OfficerRole::LegalReviewer,
    OfficerRole::Supervisor,
    OfficerRole::Admin,
];

fn parse_role(s: &str) -> Result<OfficerRole, PageError> {
    crate::storage::parse_role(s).map_err(|_| {
        PageError(ApiError::bad_request(
            "ROLE_UNKNOWN",
            format!("未知的角色「{s}」"),
        ))
    })
}

fn parse_day(field: &str, s: &str) -> Result<NaiveDate, PageError> {
    roadside_core::day::parse_day(s.trim()).ok_or_else(|| {
        PageError(ApiError::bad_request(
            "DATE_INVALID",
            format!("{field}应为 YYYY-MM-DD 格式的日期（收到「{s}」）"),
        ))
    })
}

#[derive(Debug, Deserialize, Default)]
pub struct Done {
    #[serde(default)]
    done: Option<String>,
}

fn done_notice(done: &Done) -> Option<String> {
    if let Some(n) = done
        .done
        .as_deref()
        .and_then(|d| d.strip_prefix("imported-"))
    {
        return n
            .parse::<usize>()
            .ok()
            .map(|n| format!("已从名册文件导入 {n} 名执法人员"));
    }
    Some(
        match done.done.as_deref()? {
            "officer" => "已保存执法人员信息",
            "revoked" => "已注销该执法证",
            "account" => "已创建账号",
            "device" => "已吊销该终端，它的令牌和密钥不再有效",
            _ => return None,
        }
        .to_string(),
    )
}

fn agency_select(user: &OfficeUser, name: &str, selected: &str) -> Markup {
    html! {
        select name=(name) required {
            @for a in &user.agencies {
                option value=(a.code) selected[a.code == selected] { (a.name) " (" (a.code) ")" }
            }
        }
    }
}

fn role_select(name: &str, selected: Option<OfficerRole>) -> Markup {
    html! {
        select name=(name) required {
            @for r in ROLES {
                option value=(crate::storage::role_str(r)) selected[Some(r) == selected] { (role_name(r)) }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Officers

#[derive(Debug, Deserialize, Default, Clone)]
pub struct OfficerForm {
    csrf: String,
    certificate_no: String,
    name: String,
    agency: String,
    role: String,
    valid_from: String,
    valid_to: String,
}

async fn officers_page(
    state: &AppState,
    user: &OfficeUser,
    notice: Option<&str>,
    error: Option<&PageError>,
    form: &OfficerForm,
) -> PageResult<Markup> {
    user.require(&[OfficerRole::Admin])?;
    let roster = state.storage.officers(&user.scope()).await?;
    let today = chrono::Utc::now().date_naive();
    Ok(page(
        user,
        "执法人员名册",
        "/admin/officers",
        html! {
            @if let Some(n) = notice { p.notice { (n) } }
            @if let Some(e) = error { p.error role="alert" { (e.0.message) " " span.code { "(" (e.0.code) ")" } } }
            h2 { "新增或修改执法人员" }
            form.stack method="post" action="/admin/officers" {
                input type="hidden" name="csrf" value=(user.csrf);
                label { "执法证号" input name="certificate_no" value=(form.certificate_no) required; }
                label { "姓名" input name="name" value=(form.name) required; }
                label { "所属机构" (agency_select(user, "agency", &form.agency)) }
                label { "角色" (role_select("role", parse_role(&form.role).ok())) }
                label { "有效期起" input type="date" name="valid_from" value=(form.valid_from) required; }
                label { "有效期止" input type="date" name="valid_to" value=(form.valid_to) required; }
                button type="submit" { "保存" }
            }
            h2 { "从 Excel 导入名册" }
            form.stack method="post" action="/admin/officers/import" enctype="multipart/form-data" {
                input type="hidden" name="csrf" value=(user.csrf);
                label { "名册文件（.xlsx，表头：执法证号、姓名、所属机构代码、角色、有效期起、有效期止，可选 注销日期）"
                    input type="file" name="file" accept=".xlsx,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" required; }
                button type="submit" { "导入" }
            }
            @if let Some(e) = error { @if let Some(rows) = e.0.message.split_once('：').map(|(_, r)| r) {
                @if e.0.code == "ROSTER_ROWS_INVALID" {
                    ul.error { @for row in rows.split('；') { li { (row) } } }
                }
            } }
            h2 { "名册（" (roster.len()) " 人）" }
            div.table-wrap { table {
                thead { tr { th { "执法证号" } th { "姓名" } th { "机构" } th { "角色" } th { "有效期" } th { "状态" } th { "注销" } } }
                tbody {
                    @for o in &roster {
                        tr {
                            td.code { (o.certificate_no) }
                            td { (o.name) }
                            td { (user.agency_name(&o.agency)) }
                            td { (role_name(o.role)) }
                            td { (o.valid_from) " 至 " (o.valid_to) }
                            td { (certificate_status(o, today)) }
                            td {
                                @if o.revoked_on.is_none() {
                                    form.inline method="post" action={ "/admin/officers/" (o.certificate_no) "/revoke" } {
                                        input type="hidden" name="csrf" value=(user.csrf);
                                        input type="date" name="on" value=(today.to_string()) required aria-label="注销日期";
                                        " "
                                        button.danger type="submit" { "注销" }
                                    }
                                }
                            }
                        }
                    }
                }
            } }
        },
    ))
}

fn certificate_status(o: &OfficerCertificate, today: NaiveDate) -> Markup {
    html! {
        @if let Some(on) = o.revoked_on {
            span.bad { (on) " 起注销" }
        } @else if o.valid_to < today {
            span.bad { "已过期" }
        } @else if o.valid_from > today {
            span.warn { "尚未生效" }
        } @else if (o.valid_to - today).num_days() <= 30 {
            span.warn { "有效，" ((o.valid_to - today).num_days()) " 天后到期" }
        } @else {
            span.ok { "有效" }
        }
    }
}

/// `GET /admin/officers`.
pub async fn officers(
    State(state): State<AppState>,
    user: OfficeUser,
    PageQuery(done): PageQuery<Done>,
) -> PageResult<Markup> {
    let form = OfficerForm {
        agency: user.caller.session.agency.clone(),
        role: "officer".into(),
        ..OfficerForm::default()
    };
    officers_page(&state, &user, done_notice(&done).as_deref(), None, &form).await
}

/// `POST /admin/officers`: add or update a certificate.
pub async fn save_officer(
    State(state): State<AppState>,
    user: OfficeUser,
    PageForm(form): PageForm<OfficerForm>,
) -> PageResult {
    user.check_csrf(&form.csrf)?;
    let result = async {
        let officer = OfficerCertificate {
            certificate_no: form.certificate_no.trim().to_string(),
            name: form.name.trim().to_string(),
            agency: form.agency.clone(),
            role: parse_role(&form.role)?,
            valid_from: parse_day("有效期起", &form.valid_from)?,
            valid_to: parse_day("有效期止", &form.valid_to)?,
            revoked_on: None,
        };
        accounts::save_officer(&state, &user.caller, officer)
            .await
            .map_err(PageError)
    }
    .await;
    match result {
        Ok(_) => Ok(see_other("/admin/officers?done=officer")),
        Err(e) => {
            let again = officers_page(&state, &user, None, Some(&e), &form).await?;
            refused(e, again)
        }
    }
}

/// A refused form: the form's page again with the message and the values entered, answered
/// with the refusal's status (400/403/404/409); a server failure is an error page.
fn refused(e: PageError, again: Markup) -> PageResult {
    let status = e.0.kind.status();
    if status.is_server_error() {
        return Err(e);
    }
    Ok((status, again).into_response())
}

#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    csrf: String,
    on: String,
}

/// `POST /admin/officers/{certificate_no}/revoke`.
pub async fn revoke_officer(
    State(state): State<AppState>,
    user: OfficeUser,
    Path(certificate_no): Path<String>,
    PageForm(form): PageForm<RevokeForm>,
) -> PageResult {
    user.check_csrf(&form.csrf)?;
    let on = parse_day("注销日期", &form.on)?;
    accounts::revoke_certificate(&state, &user.caller, &certificate_no, on).await?;
    Ok(see_other("/admin/officers?done=revoked"))
}

/// `POST /admin/officers/import`: a roster workbook, all rows or none.
pub async fn import_officers(
    State(state): State<AppState>,
    user: OfficeUser,
    mut multipart: axum::extract::Multipart,
) -> PageResult {
    let bad_form = |detail: String| {
        PageError(ApiError::bad_request(
            "FORM_INVALID",
            format!("上传的表单有误，请从页面重新提交（{detail}）"),
        ))
    };
    let (mut csrf, mut file) = (None, None);
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| bad_form(e.body_text()))?
    {
        match field.name() {
            Some("csrf") => csrf = Some(field.text().await.map_err(|e| bad_form(e.body_text()))?),
            Some("file") => file = Some(field.bytes().await.map_err(|e| bad_form(e.body_text()))?),
            _ => {}
        }
    }
    user.check_csrf(csrf.as_deref().unwrap_or_default())?;
    let form = OfficerForm {
        agency: user.caller.session.agency.clone(),
        role: "officer".into(),
        ..OfficerForm::default()
    };
    let result = match file {
        None => Err(bad_form("没有选择名册文件".into())),
        Some(bytes) => match crate::roster::parse_roster_xlsx(&bytes) {
            Err(e) => Err(PageError(ApiError::from(e))),
            Ok(officers) => accounts::import_officers(&state, &user.caller, &officers)
                .await
                .map_err(PageError),
        },
    };
    match result {
        Ok(n) => Ok(see_other(&format!("/admin/officers?done=imported-{n}"))),
        Err(e) => {
            let again = officers_page(&state, &user, None, Some(&e), &form).await?;
            refused(e, again)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Accounts

#[derive(Debug, Deserialize, Default, Clone)]
pub struct AccountForm {
    csrf: String,
    login: String,
    password: String,
    agency: String,
    role: String,
    #[serde(default)]
    certificate_no: String,
}

async fn accounts_page(
    state: &AppState,
    user: &OfficeUser,
    notice: Option<&str>,
    error: Option<&PageError>,
    form: &AccountForm,
) -> PageResult<Markup> {
    user.require(&[OfficerRole::Admin])?;
    let list = state.storage.accounts(&user.scope()).await?;
    Ok(page(
        user,
        "账号",
        "/admin/accounts",
        html! {
            @if let Some(n) = notice { p.notice { (n) } }
            @if let Some(e) = error { p.error role="alert" { (e.0.message) " " span.code { "(" (e.0.code) ")" } } }
            h2 { "新建账号" }
            form.stack method="post" action="/admin/accounts" autocomplete="off" {
                input type="hidden" name="csrf" value=(user.csrf);
                label { "登录名" input name="login" value=(form.login) pattern="[A-Za-z0-9._@-]{1,64}" required; }
                label { "初始密码（至少 10 位）" input type="password" name="password" minlength="10" autocomplete="new-password" required; }
                label { "机构" (agency_select(user, "agency", &form.agency)) }
                label { "角色" (role_select("role", parse_role(&form.role).ok())) }
                label { "执法证号（执法人员账号填写）" input name="certificate_no" value=(form.certificate_no); }
                button type="submit" { "创建" }
            }
            h2 { "账号（" (list.len()) " 个）" }
            div.table-wrap { table {
                thead { tr { th { "登录名" } th { "机构" } th { "角色" } th { "执法证号" } th { "状态" } } }
                tbody {
                    @for a in &list {
                        tr {
                            td.code { (a.login) }
                            td { (user.agency_name(&a.agency)) }
                            td { (role_name(a.role)) }
                            td.code { (a.certificate_no.as_deref().unwrap_or("—")) }
                            td { @if a.disabled { span.bad { "已停用" } } @else { span.ok { "正常" } } }
                        }
                    }
                }
            } }
        },
    ))
}

/// `GET /admin/accounts`.
pub async fn accounts(
    State(state): State<AppState>,
    user: OfficeUser,
    PageQuery(done): PageQuery<Done>,
) -> PageResult<Markup> {
    let form = AccountForm {
        agency: user.caller.session.agency.clone(),
        role: "officer".into(),
        ..AccountForm::default()
    };
    accounts_page(&state, &user, done_notice(&done).as_deref(), None, &form).await
}

/// `POST /admin/accounts`.
pub async fn create_account(
    State(state): State<AppState>,
    user: OfficeUser,
    PageForm(form): PageForm<AccountForm>,
) -> PageResult {
    user.check_csrf(&form.csrf)?;
    let result = async {
        let certificate_no = Some(form.certificate_no.trim().to_string()).filter(|c| !c.is_empty());
        let req = accounts::NewAccount {
            login: form.login.trim().to_string(),
            password: form.password.clone(),
            agency: form.agency.clone(),
            role: parse_role(&form.role)?,
            certificate_no,
        };
        accounts::add_account(&state, &user.caller, req)
            .await
            .map_err(PageError)
    }
    .await;
    match result {
        Ok(_) => Ok(see_other("/admin/accounts?done=account")),
        Err(e) => {
            let again = accounts_page(&state, &user, None, Some(&e), &form).await?;
            refused(e, again)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Enrolment codes

async fn enrolment_page(
    state: &AppState,
    user: &OfficeUser,
    error: Option<&PageError>,
) -> PageResult<Markup> {
    user.require(&[OfficerRole::Admin, OfficerRole::Supervisor])?;
    let today = chrono::Utc::now().date_naive();
    let roster: Vec<OfficerCertificate> = state
        .storage
        .officers(&user.scope())
        .await?
        .into_iter()
        .filter(|o| o.revoked_on.is_none() && o.valid_to >= today)
        .collect();
    Ok(page(
        user,
        "设备登记码",
        "/admin/enrolment-codes",
        html! {
            @if let Some(e) = error { p.error role="alert" { (e.0.message) " " span.code { "(" (e.0.code) ")" } } }
            p { "为执法人员生成一次性登记码：执法终端（手机）扫描二维码或输入登记码，即与该执法人员及其机构绑定。登记码只显示一次。" }
            form.stack method="post" action="/admin/enrolment-codes" {
                input type="hidden" name="csrf" value=(user.csrf);
                label { "执法人员"
                    select name="certificate_no" required {
                        @for o in &roster {
                            option value=(o.certificate_no) { (o.name) " · " (o.certificate_no) " · " (user.agency_name(&o.agency)) }
                        }
                    }
                }
                label { "有效时长（小时，1–168）" input type="number" name="valid_hours" value="24" min="1" max="168" required; }
                button type="submit" { "生成登记码" }
            }
        },
    ))
}

/// `GET /admin/enrolment-codes`.
pub async fn enrolment_form(State(state): State<AppState>, user: OfficeUser) -> PageResult<Markup> {
    enrolment_page(&state, &user, None).await
}

#[derive(Debug, Deserialize)]
pub struct CodeForm {
    csrf: String,
    certificate_no: String,
    valid_hours: String,
}

/// The URI an enrolment QR code carries: the server to talk to and the one-time code. The phone's
/// scanner reads it (`roadside:v1/enrol?server=…&code=…`).
pub fn enrolment_uri(server: &str, code: &str) -> String {
    let query =
        serde_urlencoded::to_string([("server", server), ("code", code)]).unwrap_or_default();
    format!("roadside:v1/enrol?{query}")
}

/// The server's base URL as the browser reached it (what the phone should use too).
fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    let scheme = if state.config.secure_cookies {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}")
}

fn qr_svg(text: &str) -> Result<String, PageError> {
    let code =
        qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::M).map_err(|e| {
            PageError(ApiError::internal(
                "QR_FAILED",
                format!("无法生成二维码：{e}"),
            ))
        })?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(224, 224)
        .quiet_zone(true)
        .build())
}

/// `POST /admin/enrolment-codes`: the code, once, as text and as a QR code.
pub async fn issue_code(
    State(state): State<AppState>,
    user: OfficeUser,
    headers: HeaderMap,
    PageForm(form): PageForm<CodeForm>,
) -> PageResult {
    user.check_csrf(&form.csrf)?;
    let hours = form.valid_hours.trim().parse::<i64>().ok();
    let result = match hours {
        None => Err(PageError(ApiError::bad_request(
            "VALID_HOURS_RANGE",
            "有效时长应为 1 至 168 小时",
        ))),
        Some(h) => devices::issue_enrolment_code(
            &state,
            &user.caller,
            devices::NewCode {
                certificate_no: form.certificate_no.clone(),
                valid_hours: Some(h),
            },
        )
        .await
        .map_err(PageError),
    };
    let issued = match result {
        Ok(issued) => issued,
        Err(e) => {
            let again = enrolment_page(&state, &user, Some(&e)).await?;
            return refused(e, again);
        }
    };
    let uri = enrolment_uri(&base_url(&state, &headers), &issued.code);
    let svg = qr_svg(&uri)?;
    let officer = state.storage.officer(&issued.certificate_no).await?;
    let name = officer.map(|o| o.name).unwrap_or_default();
    let markup = page(
        &user,
        "设备登记码",
        "/admin/enrolment-codes",
        html! {
            p.notice { "已为 " (name) "（" (issued.certificate_no) "）生成登记码，有效至 " (issued.expires_at) "。此码只显示这一次，用一次即失效。" }
            div.qr role="img" aria-label="登记二维码" { (PreEscaped(svg)) }
            p { "登记码：" span.secret data-code { (issued.code) } }
            p.muted { "执法终端扫描二维码，或在终端上输入服务器地址 " code { (base_url(&state, &headers)) } " 和上面的登记码。" }
            p { a href="/admin/enrolment-codes" { "再生成一个" } }
        },
    );
    let mut r = (StatusCode::CREATED, markup).into_response();
    // The code is a secret shown once: no cache keeps the page.
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(r)
}

// ---------------------------------------------------------------------------------------------
// Devices

/// `GET /admin/devices`.
pub async fn devices(
    State(state): State<AppState>,
    user: OfficeUser,
    PageQuery(done): PageQuery<Done>,
) -> PageResult<Markup> {
    user.require(&[OfficerRole::Admin, OfficerRole::Supervisor])?;
    let list = state.storage.devices(&user.scope()).await?;
    let roster = state.storage.officers(&user.scope()).await?;
    let name_of = |cert: &str| {
        roster
            .iter()
            .find(|o| o.certificate_no == cert)
            .map_or("", |o| o.name.as_str())
            .to_string()
    };
    let may_revoke = user.role() == OfficerRole::Admin;
    Ok(page(
        &user,
        "执法终端",
        "/admin/devices",
        html! {
            @if let Some(n) = done_notice(&done) { p.notice { (n) } }
            div.table-wrap { table {
                thead { tr { th { "终端" } th { "执法人员" } th { "机构" } th { "登记时间" } th { "已同步条目" } th { "状态" } @if may_revoke { th { "吊销" } } } }
                tbody {
                    @for d in &list {
                        tr {
                            td { (d.name) br; span.hash { (d.id) } }
                            td { (name_of(&d.certificate_no)) " " span.code { (d.certificate_no) } }
                            td { (user.agency_name(&d.agency)) }
                            td { (d.enrolled_at) }
                            td { (d.head_seq) }
                            td { @if let Some(at) = &d.revoked_at { span.bad { (at) " 吊销" } } @else { span.ok { "有效" } } }
                            @if may_revoke {
                                td { @if d.revoked_at.is_none() {
                                    form.inline method="post" action={ "/admin/devices/" (d.id) "/revoke" } {
                                        input type="hidden" name="csrf" value=(user.csrf);
                                        button.danger type="submit" { "吊销" }
                                    }
                                } }
                            }
                        }
                    }
                }
            } }
        },
    ))
}

/// `POST /admin/devices/{id}/revoke`.
pub async fn revoke_device(
    State(state): State<AppState>,
    user: OfficeUser,
    Path(id): Path<String>,
    PageForm(form): PageForm<CsrfForm>,
) -> PageResult {
    user.check_csrf(&form.csrf)?;
    devices::revoke_device(&state, &user.caller, &id).await?;
    Ok(see_other("/admin/devices?done=device"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_enrolment_uri_carries_server_and_code() {
        let uri = enrolment_uri("http://10.0.0.2:8080", "Ab-_9");
        assert_eq!(
            uri,
            "roadside:v1/enrol?server=http%3A%2F%2F10.0.0.2%3A8080&code=Ab-_9"
        );
        let svg = qr_svg(&uri).expect("qr");
        assert!(svg.starts_with("<?xml") || svg.starts_with("<svg"));
    }
}
