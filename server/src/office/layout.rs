//! The page frame (navigation by role), the stylesheet and the home page.

use axum::http::header;
use axum::response::IntoResponse;
use maud::{html, Markup, DOCTYPE};
use roadside_core::model::OfficerRole;

use super::OfficeUser;

/// The stylesheet: one small file, in the binary. Usable from 1366×768 down to a tablet.
const STYLE: &str = include_str!("style.css");

/// `GET /office/style.css`.
pub async fn style() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLE,
    )
}

/// A role's name as the office shows it.
pub fn role_name(role: OfficerRole) -> &'static str {
    match role {
        OfficerRole::Officer => "执法人员",
        OfficerRole::Assistant => "协助人员",
        OfficerRole::LegalReviewer => "法制审核",
        OfficerRole::Supervisor => "执法监督",
        OfficerRole::Admin => "系统管理员",
    }
}

fn head(title: &str) -> Markup {
    html! {
        meta charset="utf-8";
        meta name="viewport" content="width=device-width, initial-scale=1";
        title { (title) " · 路检执法后台" }
        link rel="stylesheet" href="/office/style.css";
    }
}

/// A page without navigation (sign-in, errors).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head { (head(title)) }
            body { (body) }
        }
    }
}

/// The menu entries a role may use, as (path, label).
pub fn menu(role: OfficerRole) -> Vec<(&'static str, &'static str)> {
    let mut m = vec![("/", "首页")];
    match role {
        OfficerRole::Admin => m.extend([
            ("/admin/officers", "执法人员名册"),
            ("/admin/accounts", "账号"),
            ("/admin/enrolment-codes", "设备登记码"),
            ("/admin/devices", "执法终端"),
        ]),
        OfficerRole::Supervisor => m.extend([
            ("/cases", "案件"),
            ("/reviews", "法制审核"),
            ("/filings", "备案"),
            ("/publications", "公示"),
            ("/statistics", "统计"),
            ("/case-review", "案卷评查"),
            ("/admin/enrolment-codes", "设备登记码"),
            ("/admin/devices", "执法终端"),
        ]),
        OfficerRole::LegalReviewer => m.extend([
            ("/reviews", "法制审核"),
            ("/cases", "案件"),
            ("/publications", "公示"),
        ]),
        OfficerRole::Officer | OfficerRole::Assistant => m.push(("/cases", "我的案件")),
    }
    m
}

/// A signed-in page: header with the user, the role's menu, sign-out.
pub fn page(user: &OfficeUser, title: &str, active: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head { (head(title)) }
            body {
                header.top {
                    a.brand href="/" { "路检执法 · 后台" }
                    nav {
                        @for (path, label) in menu(user.role()) {
                            @if path == active {
                                a.active href=(path) aria-current="page" { (label) }
                            } @else {
                                a href=(path) { (label) }
                            }
                        }
                    }
                    div.who {
                        span { (user.login()) " · " (role_name(user.role())) " · " (user.agency_name(&user.caller.session.agency)) }
                        form.inline method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(user.csrf);
                            button.link type="submit" { "退出" }
                        }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

/// `GET /`: what this role does here.
pub async fn home(user: OfficeUser) -> Markup {
    let items = menu(user.role());
    page(
        &user,
        "首页",
        "/",
        html! {
            p { "您好，" (user.login()) "。您的角色是" strong { (role_name(user.role())) } "，可查看 "
                (user.agencies.len()) " 个机构的数据：" }
            ul.scope {
                @for a in &user.agencies { li { (a.name) " " span.muted { (a.code) } } }
            }
            nav.tiles {
                @for (path, label) in items.iter().skip(1) {
                    a.tile href=(path) { (label) }
                }
            }
        },
    )
}
