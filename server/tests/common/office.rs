//! A browser-like client of the back office over real HTTP: the sign-in form, the session
//! cookie, the CSRF token of the pages, redirects not followed so each answer is seen.

use reqwest::header::{COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use reqwest::StatusCode;

use super::TestServer;

/// A browser-like client of one signed-in user.
pub struct Office {
    pub base: String,
    pub http: reqwest::Client,
    pub cookie: String,
    pub csrf: String,
}

pub struct Answer {
    pub status: StatusCode,
    pub location: Option<String>,
    pub body: String,
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_gzip()
        .build()
        .expect("client")
}

/// The value of `name="csrf"` on a page.
pub fn csrf_of(page: &str) -> Option<String> {
    let at = page.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    Some(page[at..].chars().take_while(|c| *c != '"').collect())
}

impl Office {
    pub async fn sign_in(s: &TestServer, login: &str, password: &str) -> Office {
        let http = client();
        let r = http
            .post(s.url("/login"))
            .header(ORIGIN, &s.base)
            .form(&[("login", login), ("password", password), ("next", "/")])
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "sign-in of {login}");
        let set = r
            .headers()
            .get(SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .expect("session cookie")
            .to_string();
        for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(set.contains(flag), "{set} lacks {flag}");
        }
        let cookie = set.split(';').next().expect("cookie pair").to_string();
        let mut office = Office {
            base: s.base.clone(),
            http,
            cookie,
            csrf: String::new(),
        };
        let home = office.get("/").await;
        assert_eq!(home.status, StatusCode::OK, "{}", home.body);
        office.csrf = csrf_of(&home.body).expect("csrf on the home page");
        office
    }

    pub async fn get(&self, path: &str) -> Answer {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .send()
            .await
            .expect("get");
        answer(r).await
    }

    /// A download: its status and exact bytes.
    #[allow(dead_code)]
    pub async fn get_bytes(&self, path: &str) -> (u16, Vec<u8>) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .send()
            .await
            .expect("get");
        let status = r.status().as_u16();
        (status, r.bytes().await.expect("body").to_vec())
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Answer {
        let mut fields: Vec<(&str, &str)> = vec![("csrf", &self.csrf)];
        fields.extend_from_slice(form);
        self.post_raw(path, &fields).await
    }

    pub async fn post_raw(&self, path: &str, form: &[(&str, &str)]) -> Answer {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .header(ORIGIN, &self.base)
            .form(form)
            .send()
            .await
            .expect("post");
        answer(r).await
    }
}

pub async fn answer(r: reqwest::Response) -> Answer {
    let status = r.status();
    let location = r
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = r.text().await.unwrap_or_default();
    Answer {
        status,
        location,
        body,
    }
}
