//! A test aid: logs in through the login pages over HTTP, as a browser without JavaScript would.
//!
//! Enabled by the `testing` feature. The pages are read with a small parser of this crate's own HTML (forms,
//! their `action`, hidden fields and the CSRF token); it is not a general HTML parser.

use anyhow::{Context, anyhow, bail};
use reqwest::{StatusCode, Url, header};

/// The most requests one login may take.
const MAX_STEPS: usize = 24;

/// A form of a page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageForm {
    /// The `action` attribute (unresolved).
    pub action: String,
    /// `(name, value)` of every `input` in the form, in order.
    pub fields: Vec<(String, String)>,
}

impl PageForm {
    /// The value of field `name`.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the form has a field `name`.
    pub fn has(&self, name: &str) -> bool {
        self.fields.iter().any(|(n, _)| n == name)
    }

    /// The form's fields with `name` set to `value` (added when missing).
    pub fn with(&self, name: &str, value: &str) -> Vec<(String, String)> {
        let mut fields = self.fields.clone();
        match fields.iter_mut().find(|(n, _)| n == name) {
            Some(field) => field.1 = value.to_owned(),
            None => fields.push((name.to_owned(), value.to_owned())),
        }
        fields
    }
}

/// Undoes this crate's HTML escaping.
pub fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The attributes of one tag's source (`<input a="b" c>`).
fn attributes(tag: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = tag;
    while let Some(eq) = rest.find("=\"") {
        let name = rest[..eq]
            .rsplit(|c: char| c.is_whitespace())
            .next()
            .unwrap_or_default()
            .to_owned();
        let after = &rest[eq + 2..];
        let Some(end) = after.find('"') else { break };
        out.push((name, unescape(&after[..end])));
        rest = &after[end + 1..];
    }
    out
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    attributes(tag)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
}

/// The forms of a page.
pub fn forms(html: &str) -> Vec<PageForm> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<form") {
        let after = &rest[start..];
        let end = after.find("</form>").unwrap_or(after.len());
        let block = &after[..end];
        let open_end = block.find('>').unwrap_or(block.len());
        let action = attribute(&block[..open_end], "action").unwrap_or_default();
        let mut fields = Vec::new();
        let mut inputs = block;
        while let Some(i) = inputs.find("<input") {
            let tag_end = inputs[i..].find('>').map_or(inputs.len(), |e| i + e);
            let tag = &inputs[i..tag_end];
            if let Some(name) = attribute(tag, "name") {
                fields.push((name, attribute(tag, "value").unwrap_or_default()));
            }
            inputs = &inputs[tag_end..];
        }
        out.push(PageForm { action, fields });
        rest = &after[end..];
    }
    out
}

/// The `href` of the link with `id`.
pub fn link(html: &str, id: &str) -> Option<String> {
    let marker = format!("id=\"{id}\"");
    let at = html.find(&marker)?;
    let start = html[..at].rfind("<a")?;
    let end = html[start..].find('>')? + start;
    attribute(&html[start..end], "href")
}

/// The text of the page's error box, if it shows one.
pub fn error_text(html: &str) -> Option<String> {
    let start = html.find("class=\"error\"")?;
    let open_end = html[start..].find('>')? + start + 1;
    let close = html[open_end..].find("</p>")? + open_end;
    Some(unescape(&html[open_end..close]))
}

/// Whether `url` is one of the server's login or authorize pages (followed), rather than the client.
fn is_login_step(url: &Url, origin: &Url) -> bool {
    url.origin() == origin.origin()
        && (url.path().starts_with("/login") || url.path() == "/oauth/v2/authorize")
}

fn form_body(fields: &[(String, String)]) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (name, value) in fields {
        serializer.append_pair(name, value);
    }
    serializer.finish()
}

/// How [`login_via_form_with`] answers the pages after the password.
#[derive(Debug, Clone, Copy, Default)]
pub struct Steps<'a> {
    /// The new password for a user whose password must be changed (entered twice on the password change
    /// page). `None`: the login stops on that page with an error saying so.
    pub new_password: Option<&'a str>,
    /// On the consent page (`prompt=consent`): `false` allows, `true` denies.
    pub deny_consent: bool,
}

/// Logs in through the login pages: starts at `start_url` (an authorization URL of `/oauth/v2/authorize`, or a
/// `/login` URL), follows the server's redirects, enters `login_name` and `password` into the forms (with the
/// CSRF token each page carries; on the account picker it chooses "use another account"), allows the
/// application on the consent page, and returns the first redirect that leaves the login pages: the client's
/// redirect URI with `code`, `state` and `iss` (or, without an application, the signed-in page). For
/// `response_mode=form_post` it returns the form's action with its fields as a query string.
///
/// `client` must keep cookies (`cookie_store(true)`) and must not follow redirects
/// (`redirect(reqwest::redirect::Policy::none())`); it keeps the session cookie for later requests.
///
/// Fails with the page's error text when the login is refused (wrong password, action denied, ...), and on the
/// password change page of a user whose password must be changed: [`login_via_form_with`] sets a new one.
pub async fn login_via_form(
    client: &reqwest::Client,
    start_url: &str,
    login_name: &str,
    password: &str,
) -> anyhow::Result<String> {
    login_via_form_with(client, start_url, login_name, password, Steps::default()).await
}

/// [`login_via_form`], answering the password change page and the consent page as `steps` says.
pub async fn login_via_form_with(
    client: &reqwest::Client,
    start_url: &str,
    login_name: &str,
    password: &str,
    steps: Steps<'_>,
) -> anyhow::Result<String> {
    let origin = Url::parse(start_url).context("start_url")?;
    let mut url = origin.clone();
    let mut post: Option<Vec<(String, String)>> = None;
    let mut password_sent = false;
    let mut new_password_sent = false;
    for _ in 0..MAX_STEPS {
        let request = match post.take() {
            Some(fields) => client
                .post(url.clone())
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(form_body(&fields)),
            None => client.get(url.clone()),
        };
        let response = request
            .send()
            .await
            .with_context(|| format!("request to {url}"))?;
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| anyhow!("{status} from {url} without a Location"))?;
            let next = url.join(location).context("Location")?;
            if is_login_step(&next, &origin) && !next.path().starts_with("/login/signed-in") {
                url = next;
                continue;
            }
            return Ok(next.to_string());
        }
        if status.is_server_error() {
            bail!("{status} from {url}");
        }
        let page = response.text().await?;
        let forms = forms(&page);
        if let Some(form) = forms
            .iter()
            .find(|f| f.has("password") && f.action == "/login/password")
        {
            if password_sent {
                bail!(
                    "login refused: {}",
                    error_text(&page).unwrap_or_else(|| status.to_string())
                );
            }
            password_sent = true;
            url = url.join(&form.action)?;
            post = Some(form.with("password", password));
            continue;
        }
        if let Some(form) = forms
            .iter()
            .find(|f| f.has("password_confirm") && f.action == "/login/password/change")
        {
            let Some(new_password) = steps.new_password else {
                bail!(
                    "the password of {login_name} must be changed: give login_via_form_with a Steps::new_password"
                );
            };
            if new_password_sent {
                bail!(
                    "new password refused: {}",
                    error_text(&page).unwrap_or_else(|| status.to_string())
                );
            }
            new_password_sent = true;
            url = url.join(&form.action)?;
            let mut fields = form.with("password", new_password);
            fields.retain(|(name, _)| name != "password_confirm");
            fields.push(("password_confirm".into(), new_password.into()));
            post = Some(fields);
            continue;
        }
        if let Some(form) = forms.iter().find(|f| f.action == "/login/consent") {
            url = url.join(&form.action)?;
            let decision = if steps.deny_consent { "deny" } else { "allow" };
            post = Some(form.with("decision", decision));
            continue;
        }
        if let Some(form) = forms
            .iter()
            .find(|f| f.has("login_name") && f.action == "/login")
        {
            url = url.join(&form.action)?;
            post = Some(form.with("login_name", login_name));
            continue;
        }
        if page.contains("action=\"/login/select\"")
            && let Some(href) = link(&page, "other-account")
        {
            url = url.join(&href)?;
            continue;
        }
        // response_mode=form_post: the provider's page posting the code to the client.
        if let Some(form) = forms.iter().find(|f| f.has("code") || f.has("error"))
            && let Ok(mut action) = url.join(&form.action)
            && !is_login_step(&action, &origin)
        {
            action.query_pairs_mut().extend_pairs(form.fields.iter());
            return Ok(action.to_string());
        }
        let reason = error_text(&page).unwrap_or_else(|| {
            if status == StatusCode::OK {
                "a page without a login form".to_owned()
            } else {
                status.to_string()
            }
        });
        bail!("login stopped at {url}: {reason}");
    }
    bail!("login did not finish within {MAX_STEPS} requests")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_forms_links_and_errors() {
        let html = "<p class=\"error\" role=\"alert\">Wrong &amp; bad</p><form method=\"post\" action=\"/login/password\">\
            <input type=\"hidden\" name=\"csrf\" value=\"abc\"><input type=\"hidden\" name=\"login_name\" value=\"a&quot;b\">\
            <label for=\"password\">P</label><input id=\"password\" name=\"password\" type=\"password\" value=\"\" required>\
            </form><a id=\"other-account\" href=\"/login?authRequest=x&amp;other=1\">o</a>";
        let forms = forms(html);
        assert_eq!(forms.len(), 1);
        assert_eq!(forms[0].action, "/login/password");
        assert_eq!(forms[0].field("csrf"), Some("abc"));
        assert_eq!(forms[0].field("login_name"), Some("a\"b"));
        assert!(forms[0].has("password"));
        assert_eq!(
            link(html, "other-account").as_deref(),
            Some("/login?authRequest=x&other=1")
        );
        assert_eq!(error_text(html).as_deref(), Some("Wrong & bad"));
    }
}
