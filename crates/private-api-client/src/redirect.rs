use reqwest::redirect::{Attempt, Policy};

/// Most redirects followed in one request, all within the original origin.
pub(crate) const MAX_REDIRECTS: usize = 5;

/// A redirect policy that follows only same-origin redirects.
///
/// reqwest already strips `Authorization` when a redirect crosses origins, but a
/// cross-origin hop would still send our request (and its path) somewhere we were not
/// configured to talk to, and a response from there is not the private API's answer.
/// So a cross-origin redirect is not followed at all: the 3xx is returned and becomes
/// [`ApiError::Status`](crate::ApiError::Status).
pub(crate) fn same_origin_only() -> Policy {
    Policy::custom(decide)
}

fn decide(attempt: Attempt<'_>) -> reqwest::redirect::Action {
    // `previous` starts with the original URL.
    let Some(origin) = attempt.previous().first().map(url::Url::origin) else {
        return attempt.stop();
    };
    if attempt.previous().len() > MAX_REDIRECTS {
        attempt.error("too many redirects")
    } else if attempt.url().origin() == origin {
        attempt.follow()
    } else {
        attempt.stop()
    }
}
