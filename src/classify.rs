//! The classification rules: which Reason an error's extracted facts map to. Pure; the JS
//! layer extracts the facts.
//!
//! [`Rules::V1`] reproduces key-carousel 1.1.0's classifier exactly (except its
//! `instanceof FailoverError` check, which the JS layer does). [`Rules::V2`] adds every 5xx,
//! 408, the `code` strings that the OpenAI, Anthropic and Google SDKs and Node's network
//! stack use (at 400 and 429 a known code outranks the status rule), and the SDKs'
//! `APIConnectionTimeoutError` and `APIUserAbortError`.
//!
//! v1's message tests are JavaScript regular expressions. They are kept here verbatim and
//! run by a tiny matcher (`js_regex_test`) instead of a regex engine, to keep the wasm small.

use crate::prelude::*;
use crate::reason::Reason;

/// Which version of the classification rules to apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rules {
    /// key-carousel 1.1.0's rules, bit for bit.
    V1,
    /// v1 plus every 5xx, 408, error codes and more timeout error names.
    V2,
}

/// What the JS layer extracted from a thrown value.
#[derive(Clone, Copy, Debug, Default)]
pub struct ErrorFacts<'a> {
    /// The numeric HTTP status as JS gave it (may be non-integer; NaN counts as absent).
    pub status: Option<f64>,
    /// The error message, matched case-insensitively for ASCII letters. To match v1
    /// exactly on non-ASCII text, pass it lowercased as JS `toLowerCase()` does (the JS
    /// layer does; Rust's `str::to_lowercase` is the same mapping).
    pub message: &'a str,
    /// `error.name` when the thrown value is an Error, else `""`.
    pub name: &'a str,
    /// Candidate error codes (`error.code`, `error.error.type`, a Google body's
    /// `ErrorInfo.reason` and `status`, …), comma-separated in order of preference; the
    /// first one in the code table counts. `""`: none.
    pub code: &'a str,
}

// v1's patterns, verbatim (all of them carry the `i` flag).
const RATE_LIMIT: &str = "rate.?limit|too many requests|throttl";
const BILLING: &str = "billing|payment|quota.*(exceeded|limit)|insufficient.*(fund|credit)";
const AUTH: &str = "unauthorized|invalid.*api.?key|authentication";
const AUTH_PERMANENT: &str = "forbidden|permission|access.denied";
const MODEL_NOT_FOUND: &str = "model.*not.*found|does not exist|unknown model";
const FORMAT: &str = "context.length|token.*limit|max.*token";
const TIMEOUT: &str = "timeout|timed?.out|ETIMEDOUT|ECONNABORTED";
const SERVER_ERROR: &str = "service.unavailable|overloaded";
/// A 429 whose message says this is out of money, not out of rate.
const QUOTA_429: &str = "quota|insufficient";
/// v2: the part of QUOTA_429 that outranks a message's "rate limit".
const INSUFFICIENT: &str = "insufficient";
/// v2: a 429 whose message says the account is out of credit or at its spending limit, or
/// sends to its billing (xAI's "used all available credits or reached its monthly spending
/// limit", Moonshot's "suspended, please check your plan and billing details"); a message
/// that says "rate limit" is still one (OpenRouter's daily free limit: "Add 10 credits…").
const CREDITS_429: &str = "credits|spending.limit|billing";
/// v2: a 429 message naming a rate limit (only these words: "Too Many Requests" is the
/// status's own reason phrase, which wrappers put before any message, billing's too).
const SAYS_RATE_LIMIT: &str = "rate.?limit";
/// v2: a 400 whose message says the account is out of money, not the request malformed
/// (Anthropic's "Your credit balance is too low to access the Anthropic API. Please go to
/// Plans & Billing to upgrade or purchase credits.", an `invalid_request_error`).
/// Also Anthropic's "You have reached your specified API usage limits. You will regain access
/// on …" (the account's own spending limit: no key of that organization works until then).
const CREDIT_400: &str = "credit balance|billing|insufficient.*(fund|credit)|usage limit";
/// v2: a 400 saying the account behind the key is shut (Anthropic's "This organization has
/// been disabled.", an `invalid_request_error`): the key's fault, not the request's.
const DISABLED_400: &str = "(organization|account|workspace) (has been|is) (disabled|deactivated|suspended)";
/// v2: a connection that failed, as the runtimes without Node's error codes say it: Deno's
/// fetch ("error sending request … Connection refused (os error 111)", the cause of its
/// "fetch failed"), Cloudflare Workers' "Network connection lost.", browsers' fetch ("Failed
/// to fetch", Firefox's "NetworkError when attempting to fetch resource."). Node and Bun
/// give `ECONNREFUSED` and the like as codes (see [`CODE_RULES`]).
const CONNECTION: &str = "connection (refused|reset)|error sending request|network connection lost|failed to fetch|networkerror when attempting to fetch";
/// v1's test for "this abort is really a timeout".
const TIMEOUT_MESSAGE: &str = "timeout|timed?.out";

/// The message patterns in the order v1 tries them.
const MESSAGE_RULES: [(&str, Reason); 8] = [
    (RATE_LIMIT, Reason::RateLimit),
    (BILLING, Reason::Billing),
    (AUTH, Reason::Auth),
    (AUTH_PERMANENT, Reason::AuthPermanent),
    (MODEL_NOT_FOUND, Reason::ModelNotFound),
    (FORMAT, Reason::Format),
    (TIMEOUT, Reason::Timeout),
    (SERVER_ERROR, Reason::ServerError),
];

/// v2's `code` table (compared ASCII-case-insensitively, whole string).
const CODE_RULES: [(&str, Reason); 28] = [
    ("ETIMEDOUT", Reason::Timeout),
    ("ECONNABORTED", Reason::Timeout),
    ("UND_ERR_CONNECT_TIMEOUT", Reason::Timeout),
    ("UND_ERR_HEADERS_TIMEOUT", Reason::Timeout),
    ("UND_ERR_BODY_TIMEOUT", Reason::Timeout),
    ("ECONNRESET", Reason::ServerError),
    ("ECONNREFUSED", Reason::ServerError),
    ("EPIPE", Reason::ServerError),
    ("UND_ERR_SOCKET", Reason::ServerError),
    ("EAI_AGAIN", Reason::ServerError),
    ("insufficient_quota", Reason::Billing),
    ("billing_hard_limit_reached", Reason::Billing),
    ("rate_limit_exceeded", Reason::RateLimit),
    ("rate_limit_error", Reason::RateLimit),
    ("invalid_api_key", Reason::Auth),
    ("authentication_error", Reason::Auth),
    ("permission_error", Reason::AuthPermanent),
    ("model_not_found", Reason::ModelNotFound),
    ("not_found_error", Reason::ModelNotFound),
    ("context_length_exceeded", Reason::Format),
    // Anthropic's 413: the request is too large for any key (unknown would rest every key).
    ("request_too_large", Reason::Format),
    ("overloaded_error", Reason::ServerError),
    // The error types of a body with no status: an error event in the middle of a stream
    // (Anthropic's `api_error`, `timeout_error`, `billing_error`; OpenAI's `server_error`).
    ("api_error", Reason::ServerError),
    ("server_error", Reason::ServerError),
    ("timeout_error", Reason::Timeout),
    ("billing_error", Reason::Billing),
    // Google: any 429 is RESOURCE_EXHAUSTED, and its message says "quota" even for a
    // per-minute limit; a wrong key is a 400 whose ErrorInfo reason is API_KEY_INVALID.
    ("RESOURCE_EXHAUSTED", Reason::RateLimit),
    ("API_KEY_INVALID", Reason::Auth),
];

/// Maps an error's facts to a [`Reason`].
///
/// Order: status, then (v2) `code`, then the message patterns, then the error name.
pub fn classify(facts: &ErrorFacts, rules: Rules) -> Reason {
    // v1 lowercases the message in JS (`toLowerCase()`) before matching; the JS layer
    // passes it lowercased, so only ASCII folding is needed here (Unicode case tables
    // would cost the wasm file several KB).
    let message = facts.message.to_ascii_lowercase();
    let code = if rules == Rules::V2 { code_reason(facts.code) } else { None };

    if let Some(status) = facts.status.filter(|s| !s.is_nan()) {
        // `===` on numbers: 401.0 is 401, 401.5 is nothing.
        let is = |n: f64| status == n;
        if is(401.0) {
            return Reason::Auth;
        }
        if is(403.0) {
            return Reason::AuthPermanent;
        }
        if is(402.0) {
            return Reason::Billing;
        }
        if is(429.0) {
            // v2 believes a rate-limit or billing code before the message (OpenAI's
            // insufficient_quota is billing; Google's RESOURCE_EXHAUSTED "check quota" is not).
            if let Some(r @ (Reason::RateLimit | Reason::Billing)) = code {
                return r;
            }
            // v2: a message that says "rate limit" is one even when it mentions a quota (Azure
            // OpenAI's ends "Please go here: https://aka.ms/oai/quotaincrease"), unless it
            // says the account lacks funds.
            if rules == Rules::V2
                && js_regex_test(SAYS_RATE_LIMIT, &message)
                && !js_regex_test(INSUFFICIENT, &message)
            {
                return Reason::RateLimit;
            }
            if js_regex_test(QUOTA_429, &message) {
                return Reason::Billing;
            }
            if rules == Rules::V2 && js_regex_test(CREDITS_429, &message) {
                return Reason::Billing;
            }
            return Reason::RateLimit;
        }
        if is(404.0) {
            return Reason::ModelNotFound;
        }
        if is(400.0) {
            // v2: a known code says what kind of bad request (Google's API_KEY_INVALID),
            // and so does a message about the account's credit.
            if let Some(reason) = code {
                return reason;
            }
            if rules == Rules::V2 && js_regex_test(CREDIT_400, &message) {
                return Reason::Billing;
            }
            if rules == Rules::V2 && js_regex_test(DISABLED_400, &message) {
                return Reason::AuthPermanent;
            }
            return Reason::Format;
        }
        if is(503.0) || is(529.0) {
            return Reason::ServerError;
        }
        if rules == Rules::V2 {
            if (500.0..=599.0).contains(&status) && status as u16 as f64 == status {
                return Reason::ServerError;
            }
            if is(408.0) {
                return Reason::Timeout;
            }
            // v2: 413 (too large: a proxy's page as well as Anthropic's body) and 422 (a
            // request the API cannot process) are the request's fault, as a 400 is: as
            // `unknown` they rested every key the run tried. A known code still says more.
            // A rate-limit code does not make it a rate limit: Groq's 413 "Request too large
            // … please reduce your message size" (`rate_limit_exceeded`) fits no key's limit.
            if is(413.0) || is(422.0) {
                return match code {
                    Some(Reason::RateLimit) | None => Reason::Format,
                    Some(reason) => reason,
                };
            }
        }
    }

    if let Some(reason) = code {
        return reason;
    }

    // v2: errors an SDK throws about the request itself, with no status (any key would get
    // the same): the OpenAI SDK's `parse()` of an answer cut at the length limit or by the
    // content filter, and the Anthropic SDK's refusal of a long request without streaming
    // (thrown before anything is sent). As `unknown` they rested every key the run tried.
    if rules == Rules::V2
        && (matches!(facts.name, "LengthFinishReasonError" | "ContentFilterFinishReasonError")
            || message.starts_with("could not parse response content as the")
            || message.starts_with("streaming is required for operations that may take longer than"))
    {
        return Reason::Format;
    }

    for (pattern, reason) in MESSAGE_RULES {
        if js_regex_test(pattern, &message) {
            return reason;
        }
    }
    if rules == Rules::V2 && js_regex_test(CONNECTION, &message) {
        return Reason::ServerError;
    }

    let timeout_name = match rules {
        Rules::V1 => matches!(facts.name, "AbortError" | "TimeoutError"),
        Rules::V2 => matches!(
            facts.name,
            "AbortError" | "TimeoutError" | "APIConnectionTimeoutError" | "APIUserAbortError"
        ),
    };
    if timeout_name {
        return Reason::Timeout;
    }
    Reason::Unknown
}

/// v1's `/timeout|timed?.out/i.test(message)`: whether an abort's message is about a timeout
/// (JS uses it to tell a timeout from the caller's own abort).
pub fn is_timeout_message(message: &str) -> bool {
    js_regex_test(TIMEOUT_MESSAGE, message)
}

/// The reason of the first known code in a comma-separated list of candidates.
fn code_reason(codes: &str) -> Option<Reason> {
    codes
        .split(',')
        .find_map(|code| CODE_RULES.iter().find(|(c, _)| c.eq_ignore_ascii_case(code)).map(|&(_, r)| r))
}

/// `new RegExp(pattern, "i").test(text)` for the small subset of JS regex syntax used above:
/// literal ASCII characters, `.`, `(…|…)` groups, top-level `|`, and the quantifiers `?`
/// (after any atom) and `*` (after `.` only).
///
/// Semantics follow JS without the `u` and `s` flags:
/// - letters match ASCII-case-insensitively, and only ASCII letters: JS's `i` flag never
///   lets a non-ASCII character match an ASCII one (`ſ` is not `s`);
/// - `.` matches one UTF-16 code unit other than `\n`, `\r`, U+2028 and U+2029. Every `.` in
///   these patterns is followed by a literal or sits in `.*`, so a `.` matches one BMP
///   character, never an astral one (two code units), while `.*` crosses anything but a line
///   terminator.
///
/// It runs in O(pattern × text) time with bounded recursion (the pattern's nesting only): it
/// tracks the set of text positions where the pattern read so far can end, for every start
/// at once, instead of backtracking.
fn js_regex_test(pattern: &str, text: &str) -> bool {
    let starts = vec![true; text.len() + 1];
    alternation(pattern.as_bytes(), text, starts).iter().any(|&end| end)
}

/// A set of byte offsets into the text (index = offset, `len + 1` entries).
type Ends = Vec<bool>;

/// Runs `a|b|…` from every offset in `starts`; returns where any alternative can end.
fn alternation(pattern: &[u8], text: &str, starts: Ends) -> Ends {
    let mut out = vec![false; starts.len()];
    let mut depth = 0usize;
    let mut from = 0;
    for i in 0..=pattern.len() {
        let byte = pattern.get(i).copied();
        match byte {
            Some(b'(') => depth += 1,
            Some(b')') => depth = depth.saturating_sub(1),
            Some(b'|') | None if depth == 0 => {
                let branch = pattern.get(from..i).unwrap_or_default();
                let ends = sequence(branch, text, starts.clone());
                for (o, e) in out.iter_mut().zip(ends) {
                    *o |= e;
                }
                from = i + 1;
            }
            _ => {}
        }
    }
    out
}

/// Runs a sequence of atoms (each maybe followed by `?` or `*`) from every offset in `set`.
fn sequence(pattern: &[u8], text: &str, mut set: Ends) -> Ends {
    let mut i = 0;
    while let Some(&b) = pattern.get(i) {
        if !set.contains(&true) {
            break; // nothing can match any more
        }
        // The atom is pattern[i..next]; a group's inside is pattern[i + 1..next - 1].
        let next = if b == b'(' { closing_paren(pattern, i) + 1 } else { i + 1 };
        let atom = pattern.get(i..next).unwrap_or_default();
        let quantifier = pattern.get(next).copied();
        set = match quantifier {
            Some(b'?') => {
                let mut taken = step(atom, text, set.clone());
                for (t, s) in taken.iter_mut().zip(set) {
                    *t |= s;
                }
                taken
            }
            Some(b'*') => any_run(text, set),
            _ => step(atom, text, set),
        };
        i = if matches!(quantifier, Some(b'?' | b'*')) { next + 1 } else { next };
    }
    set
}

/// Where one atom (a literal byte, `.`, or a parenthesised group) can end.
fn step(atom: &[u8], text: &str, set: Ends) -> Ends {
    match atom {
        [b'(', inner @ .., b')'] => alternation(inner, text, set),
        [b'.'] => {
            let mut out = vec![false; set.len()];
            for (at, _) in set.iter().enumerate().filter(|(_, &s)| s) {
                // `get` is None off a char boundary: nothing starts there.
                let c = text.get(at..).and_then(|rest| rest.chars().next());
                if let Some(c) = c.filter(|&c| !is_line_terminator(c) && (c as u32) < 0x1_0000) {
                    if let Some(slot) = out.get_mut(at + c.len_utf8()) {
                        *slot = true;
                    }
                }
            }
            out
        }
        [literal] => {
            let bytes = text.as_bytes();
            let mut out = vec![false; set.len()];
            for (at, _) in set.iter().enumerate().filter(|(_, &s)| s) {
                // An ASCII byte in UTF-8 is always a whole character.
                if bytes.get(at).is_some_and(|t| t.eq_ignore_ascii_case(literal)) {
                    if let Some(slot) = out.get_mut(at + 1) {
                        *slot = true;
                    }
                }
            }
            out
        }
        _ => vec![false; set.len()],
    }
}

/// `.*` from every offset in `set`: every later offset up to the end of that line.
fn any_run(text: &str, set: Ends) -> Ends {
    let mut out = vec![false; set.len()];
    let mut on = false;
    for (at, (o, s)) in out.iter_mut().zip(set).enumerate() {
        on |= s;
        *o = on;
        let c = text.get(at..).and_then(|rest| rest.chars().next());
        if c.is_some_and(is_line_terminator) {
            on = false;
        }
    }
    out
}

/// The index of the `)` closing the `(` at `open` (the pattern's end when unbalanced).
fn closing_paren(pattern: &[u8], open: usize) -> usize {
    let mut depth = 0usize;
    for (i, &b) in pattern.iter().enumerate().skip(open) {
        match b {
            b'(' => depth += 1,
            b')' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    pattern.len().saturating_sub(1)
}

/// JS's LineTerminator: what `.` does not match without the `s` flag.
fn is_line_terminator(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use Reason::*;

    fn msg(message: &str, rules: Rules) -> Reason {
        classify(&ErrorFacts { message, ..Default::default() }, rules)
    }

    fn status(status: f64, message: &str, rules: Rules) -> Reason {
        let facts = ErrorFacts { status: Some(status), message, ..Default::default() };
        classify(&facts, rules)
    }

    /// Both rule sets give the same answer.
    fn both(message: &str) -> Reason {
        let v1 = msg(message, Rules::V1);
        assert_eq!(v1, msg(message, Rules::V2), "V1 and V2 differ on {message:?}");
        v1
    }

    #[test]
    fn status_rules_shared_by_v1_and_v2() {
        let table: &[(f64, &str, Reason)] = &[
            (401.0, "", Auth),
            (403.0, "", AuthPermanent),
            (402.0, "", Billing),
            (429.0, "", RateLimit),
            (429.0, "Too Many Requests", RateLimit),
            (429.0, "You exceeded your current QUOTA", Billing),
            (429.0, "insufficient_quota", Billing),
            (429.0, "Insufficient balance", Billing),
            (404.0, "", ModelNotFound),
            (400.0, "", Format),
            (503.0, "", ServerError),
            (529.0, "", ServerError),
            // status wins over the message
            (401.0, "rate limit", Auth),
            (400.0, "model not found", Format),
            (404.0, "unauthorized", ModelNotFound),
            // a float equal to the integer is the integer (JS `===`)
            (401.0000, "", Auth),
            // non-integers and others fall through to the message
            (401.5, "", Unknown),
            (401.5, "rate limit", RateLimit),
            (200.0, "overloaded", ServerError),
            (418.0, "", Unknown),
            (-401.0, "", Unknown),
            (f64::INFINITY, "", Unknown),
            (f64::NEG_INFINITY, "billing", Billing),
            (f64::NAN, "", Unknown),
            (f64::NAN, "forbidden", AuthPermanent),
        ];
        for &(s, m, want) in table {
            for rules in [Rules::V1, Rules::V2] {
                assert_eq!(status(s, m, rules), want, "{s} {m:?} {rules:?}");
            }
        }
    }

    #[test]
    fn status_rules_that_differ() {
        let table: &[(f64, Reason, Reason)] = &[
            (500.0, Unknown, ServerError),
            (502.0, Unknown, ServerError),
            (504.0, Unknown, ServerError),
            (599.0, Unknown, ServerError),
            (408.0, Unknown, Timeout),
            (413.0, Unknown, Format),
            (422.0, Unknown, Format),
            (409.0, Unknown, Unknown),
            (500.5, Unknown, Unknown),
            (499.0, Unknown, Unknown),
            (600.0, Unknown, Unknown),
        ];
        for &(s, v1, v2) in table {
            assert_eq!(status(s, "", Rules::V1), v1, "{s} V1");
            assert_eq!(status(s, "", Rules::V2), v2, "{s} V2");
        }
        // status before message in v2 too
        assert_eq!(status(500.0, "rate limited", Rules::V2), ServerError);
        assert_eq!(status(500.0, "rate limited", Rules::V1), RateLimit);
        assert_eq!(status(408.0, "Request Timeout", Rules::V1), Timeout);
    }

    #[test]
    fn message_patterns() {
        let table: &[(&str, Reason)] = &[
            // rate.?limit|too many requests|throttl
            ("Rate limit reached for gpt-4", RateLimit),
            ("Rate-limit", RateLimit),
            ("ratelimit", RateLimit),
            ("RATE_LIMIT_EXCEEDED", RateLimit),
            ("rate  limit", Unknown), // `.?` is at most one character
            ("rate\nlimit", Unknown),
            ("429 Too Many Requests", RateLimit),
            ("too  many requests", Unknown),
            ("Request was throttled", RateLimit),
            ("Throttling", RateLimit),
            // billing|payment|quota.*(exceeded|limit)|insufficient.*(fund|credit)
            ("Billing hard limit", Billing),
            ("Payment required", Billing),
            ("quota limit", Billing),
            ("quota was exceeded", Billing),
            ("Quota exceeded for metric", Billing),
            ("quotaexceeded", Billing),
            ("quota", Unknown),
            ("quota\nexceeded", Unknown),
            ("exceeded quota", Unknown),
            ("Insufficient credit", Billing),
            ("insufficient funds", Billing),
            ("insufficient_funds", Billing),
            ("insufficient\nfunds", Unknown),
            ("insufficient balance", Unknown),
            // unauthorized|invalid.*api.?key|authentication
            ("401 Unauthorized", Auth),
            ("Invalid API key provided", Auth),
            ("invalid x-api-key", Auth),
            ("invalid_api_key", Auth),
            ("Invalid API Key", Auth),
            ("invalid apikey", Auth),
            ("invalid api  key", Unknown),
            ("invalid\napi key", Unknown),
            ("invalid key", Unknown),
            ("Authentication failed", Auth),
            // forbidden|permission|access.denied
            ("403 Forbidden", AuthPermanent),
            ("Permission denied", AuthPermanent),
            ("PERMISSION_DENIED", AuthPermanent),
            ("access_denied", AuthPermanent),
            ("Access denied", AuthPermanent),
            ("accessdenied", Unknown), // `.` is exactly one character
            ("access\rdenied", Unknown),
            // model.*not.*found|does not exist|unknown model
            ("model gpt-9 not found", ModelNotFound),
            ("The model `gpt-9` does not exist", ModelNotFound),
            ("models/gemini-9 is not found for API version", ModelNotFound),
            ("Unknown model: foo", ModelNotFound),
            ("model\nnot found", Unknown),
            ("model not\nfound", Unknown),
            ("not found", Unknown),
            // context.length|token.*limit|max.*token
            ("context_length_exceeded", Format),
            ("This model's maximum context length is 8192", Format),
            ("prompt is too long: token limit", Format),
            ("max_tokens: 100000 > 8192", Format),
            ("Maximum number of tokens", Format),
            ("contextlength", Unknown),
            ("token\nlimit", Unknown),
            // timeout|timed?.out|ETIMEDOUT|ECONNABORTED
            ("Request timeout", Timeout),
            ("Request timed out.", Timeout),
            ("time out", Timeout),
            ("timed-out", Timeout),
            ("connect ETIMEDOUT 1.2.3.4:443", Timeout),
            ("ECONNABORTED", Timeout),
            ("timedout", Timeout),
            ("timed\nout", Unknown),
            ("time\u{2028}out", Unknown),
            ("time\u{2029}out", Unknown),
            ("time  out", Unknown),
            // service.unavailable|overloaded
            ("Service Unavailable", ServerError),
            ("service_unavailable", ServerError),
            ("Overloaded", ServerError),
            ("overloaded_error", ServerError),
            ("service\nunavailable", Unknown),
            // nothing
            ("", Unknown),
            ("something broke", Unknown),
            ("ECONNRESET", Unknown),
        ];
        for &(m, want) in table {
            assert_eq!(both(m), want, "{m:?}");
        }
    }

    #[test]
    fn message_pattern_order_is_v1s() {
        // rate_limit before billing before auth before …
        assert_eq!(both("rate limit: billing"), RateLimit);
        assert_eq!(both("billing: unauthorized"), Billing);
        assert_eq!(both("unauthorized: forbidden"), Auth);
        assert_eq!(both("forbidden: model not found"), AuthPermanent);
        assert_eq!(both("model not found: context length"), ModelNotFound);
        assert_eq!(both("max tokens: timeout"), Format);
        assert_eq!(both("timeout: overloaded"), Timeout);
        // "quota limit" is billing, not the token pattern; "token limit" is format
        assert_eq!(both("token quota limit"), Billing);
        assert_eq!(both("token rate limit"), RateLimit);
    }

    #[test]
    fn multi_line_messages() {
        // `.` and `.*` stop at a line terminator, but a match on any one line counts.
        assert_eq!(both("error\nrate limit\n"), RateLimit);
        assert_eq!(both("quota\nexceeded\nquota exceeded"), Billing);
        assert_eq!(both("model foo\r\nnot found"), Unknown);
        assert_eq!(both("model foo\u{2028}not\u{2029}found"), Unknown);
        assert_eq!(both("invalid\r\napi key\nsee https://x\n"), Unknown);
        assert_eq!(both("first line\nmodel x not found"), ModelNotFound);
    }

    #[test]
    fn dot_is_one_utf16_code_unit() {
        // BMP characters are one code unit: `.` matches them.
        assert_eq!(both("rateélimit"), RateLimit);
        assert_eq!(both("access\u{FFFD}denied"), AuthPermanent);
        assert_eq!(both("time—out"), Timeout);
        // An astral character is two: `.` and `.?` can't take it, `.*` can.
        assert_eq!(both("rate😀limit"), Unknown);
        assert_eq!(both("access😀denied"), Unknown);
        assert_eq!(both("model 😀 not 😀 found"), ModelNotFound);
        assert_eq!(both("quota😀exceeded"), Billing);
    }

    #[test]
    fn case_folding_is_js_to_lower_case() {
        // The JS layer lowercases first: toLowerCase maps KELVIN SIGN to k, so the
        // lowercased message has "key"; without that, only ASCII is folded.
        assert_eq!(both(&"invalid api \u{212A}ey".to_lowercase()), Auth);
        assert_eq!(both("invalid api \u{212A}ey"), Unknown);
        // 'İ' lowercases to "i̇" (two characters).
        assert_eq!(both(&"UNAUTHORİZED".to_lowercase()), Unknown);
        // Non-ASCII look-alikes never match ASCII letters.
        assert_eq!(both("ſervice unavailable"), Unknown);
        assert_eq!(both("SERVICE UNAVAILABLE"), ServerError);
        // is_timeout_message does not lowercase, but its `i` flag is ASCII-only too.
        assert!(is_timeout_message("TIMED OUT"));
        assert!(!is_timeout_message("tımeout"));
    }

    #[test]
    fn error_names() {
        let facts = |name| ErrorFacts { name, ..Default::default() };
        for rules in [Rules::V1, Rules::V2] {
            assert_eq!(classify(&facts("AbortError"), rules), Timeout);
            assert_eq!(classify(&facts("TimeoutError"), rules), Timeout);
            assert_eq!(classify(&facts("aborterror"), rules), Unknown);
            assert_eq!(classify(&facts("Error"), rules), Unknown);
            // the message comes first
            let f = ErrorFacts { name: "AbortError", message: "Rate limit", ..Default::default() };
            assert_eq!(classify(&f, rules), RateLimit);
        }
        for sdk_name in ["APIConnectionTimeoutError", "APIUserAbortError"] {
            assert_eq!(classify(&facts(sdk_name), Rules::V1), Unknown);
            assert_eq!(classify(&facts(sdk_name), Rules::V2), Timeout);
        }
    }

    #[test]
    fn codes_only_in_v2() {
        for &(code, want) in CODE_RULES.iter() {
            for code in [code.to_string(), code.to_ascii_lowercase(), code.to_ascii_uppercase()] {
                let facts = ErrorFacts { code: &code, ..Default::default() };
                assert_eq!(classify(&facts, Rules::V2), want, "{code}");
                assert_eq!(classify(&facts, Rules::V1), Unknown, "{code}");
            }
        }
        let code = |code, message| {
            let facts = ErrorFacts { code, message, ..Default::default() };
            classify(&facts, Rules::V2)
        };
        assert_eq!(code("ETIMEDOUT ", ""), Unknown); // exact match only
        assert_eq!(code("xECONNRESET", ""), Unknown);
        assert_eq!(code("", "rate limit"), RateLimit);
        // code before message
        assert_eq!(code("ECONNRESET", "rate limit"), ServerError);
        assert_eq!(code("context_length_exceeded", "invalid api key"), Format);
        // unknown codes fall through to the message
        assert_eq!(code("whatever", "overloaded"), ServerError);
        // status before code…
        let f = ErrorFacts { status: Some(401.0), code: "rate_limit_exceeded", ..Default::default() };
        assert_eq!(classify(&f, Rules::V2), Auth);
        // …except that a 429 with a billing code is billing (OpenAI's insufficient_quota)
        let f = ErrorFacts { status: Some(429.0), code: "insufficient_quota", ..Default::default() };
        assert_eq!(classify(&f, Rules::V1), RateLimit);
        assert_eq!(classify(&f, Rules::V2), Billing);
        let f = ErrorFacts { status: Some(429.0), code: "rate_limit_exceeded", ..Default::default() };
        assert_eq!(classify(&f, Rules::V2), RateLimit);
    }

    #[test]
    fn code_candidates_first_known_wins() {
        let code = |code| classify(&ErrorFacts { code, ..Default::default() }, Rules::V2);
        assert_eq!(code("requests,rate_limit_exceeded"), RateLimit);
        assert_eq!(code("invalid_request_error,API_KEY_INVALID,INVALID_ARGUMENT"), Auth);
        assert_eq!(code("insufficient_quota,RESOURCE_EXHAUSTED"), Billing);
        assert_eq!(code("RESOURCE_EXHAUSTED,insufficient_quota"), RateLimit);
        assert_eq!(code("a,,b"), Unknown);
        assert_eq!(code(","), Unknown);
        assert_eq!(code("ETIMEDOUT ,x"), Unknown); // still whole strings only
        let v1 = ErrorFacts { code: "x,ECONNRESET", ..Default::default() };
        assert_eq!(classify(&v1, Rules::V1), Unknown);
    }

    #[test]
    fn codes_at_400_and_429_in_v2() {
        let at = |status: f64, code, message| {
            let f = ErrorFacts { status: Some(status), code, message, ..Default::default() };
            (classify(&f, Rules::V1), classify(&f, Rules::V2))
        };
        // Google's per-minute limit: a 429 whose message says "quota".
        let quota = "You exceeded your current quota, please check your plan and billing details.";
        assert_eq!(at(429.0, "RESOURCE_EXHAUSTED", quota), (Billing, RateLimit));
        assert_eq!(at(429.0, "", quota), (Billing, Billing));
        assert_eq!(at(429.0, "insufficient_quota", ""), (RateLimit, Billing));
        // v2: a 429 about credits or a spending limit is billing (xAI's, Moonshot's), unless
        // it says "rate limit" (OpenRouter's daily free limit).
        let xai = "Your team has either used all available credits or reached its monthly spending limit.";
        assert_eq!(at(429.0, "", xai), (RateLimit, Billing));
        let moonshot = "Your account is suspended, please check your plan and billing details";
        assert_eq!(at(429.0, "", moonshot), (RateLimit, Billing));
        let openrouter = "Rate limit exceeded: free-models-per-day. Add 10 credits to unlock 1000 free model requests per day";
        assert_eq!(at(429.0, "", openrouter), (RateLimit, RateLimit));
        // v2: at 413 a rate-limit code does not make a rate limit (Groq's too-large request).
        let groq = "Request too large for model `llama-3.3-70b-versatile` on tokens per minute (TPM):                     Limit 6000, Requested 12000, please reduce your message size and try again.";
        assert_eq!(at(413.0, "rate_limit_exceeded,tokens", groq), (Format, Format));
        assert_eq!(at(413.0, "request_too_large", ""), (Unknown, Format));
        assert_eq!(at(422.0, "invalid_api_key", ""), (Unknown, Auth));
        // Only rate-limit and billing codes count at 429.
        assert_eq!(at(429.0, "ETIMEDOUT", ""), (RateLimit, RateLimit));
        assert_eq!(at(429.0, "invalid_api_key", quota), (Billing, Billing));
        // Google's wrong key: 400 + API_KEY_INVALID.
        assert_eq!(at(400.0, "API_KEY_INVALID,INVALID_ARGUMENT", "API key not valid."), (Format, Auth));
        assert_eq!(at(400.0, "INVALID_ARGUMENT", "API key not valid."), (Format, Format));
        assert_eq!(at(400.0, "context_length_exceeded", ""), (Format, Format));
        assert_eq!(at(400.0, "invalid_request_error", "invalid api key"), (Format, Format));
        // Anthropic's account out of credit: a 400 invalid_request_error about the balance.
        let credit = "Your credit balance is too low to access the Anthropic API. \
                      Please go to Plans & Billing to upgrade or purchase credits.";
        assert_eq!(at(400.0, "invalid_request_error", credit), (Format, Billing));
        assert_eq!(at(400.0, "", "400 Your credit balance is too low"), (Format, Billing));
        assert_eq!(at(400.0, "", "see plans & billing"), (Format, Billing));
        assert_eq!(at(400.0, "", "insufficient credits"), (Format, Billing));
        // Anthropic's spending limit and shut organization: the key's fault, not the request's.
        let limits = "You have reached your specified API usage limits. \
                      You will regain access on 2026-12-01 at 00:00 UTC.";
        assert_eq!(at(400.0, "invalid_request_error", limits), (Format, Billing));
        let shut = "This organization has been disabled.";
        assert_eq!(at(400.0, "invalid_request_error", shut), (Format, AuthPermanent));
        assert_eq!(at(400.0, "", "your account is suspended"), (Format, AuthPermanent));
        assert_eq!(at(400.0, "", "the 'disabled' field must be a boolean"), (Format, Format));
        // Azure OpenAI's rate limit links to a quota page: still a rate limit in v2.
        let azure = "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version \
                     2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. \
                     Please retry after 6 seconds. Please go here: https://aka.ms/oai/quotaincrease \
                     if you would like to further increase the default rate limit.";
        assert_eq!(at(429.0, "429", azure), (Billing, RateLimit));
        assert_eq!(at(429.0, "", "Rate limit reached; quota resets hourly"), (Billing, RateLimit));
        assert_eq!(at(429.0, "", "rate limit: insufficient funds"), (Billing, Billing));
        // The reason phrase before a billing message does not make it a rate limit.
        let wrapped = "429 Too Many Requests: You exceeded your current quota, please check your plan.";
        assert_eq!(at(429.0, "", wrapped), (Billing, Billing));
        assert_eq!(at(429.0, "", "Throttled: monthly quota exceeded"), (Billing, Billing));
        // A known code still says what it is; other requests stay malformed.
        assert_eq!(at(400.0, "context_length_exceeded", "billing"), (Format, Format));
        assert_eq!(at(400.0, "", "credit card field is required"), (Format, Format));
        assert_eq!(at(400.0, "", "max_tokens: 200000 > 64000"), (Format, Format));
        // Other statuses still come before the code.
        assert_eq!(at(401.0, "RESOURCE_EXHAUSTED", ""), (Auth, Auth));
        assert_eq!(at(404.0, "API_KEY_INVALID", ""), (ModelNotFound, ModelNotFound));
    }

    #[test]
    fn sdk_errors() {
        // The SDKs' own errors about the request (no status): format in v2 (v1: unknown).
        for (name, message) in [
            ("LengthFinishReasonError", "Could not parse response content as the length limit was reached - {\"completion_tokens\":16}"),
            ("ContentFilterFinishReasonError", "Could not parse response content as the request was rejected by the content filter"),
            ("AnthropicError", "Streaming is required for operations that may take longer than 10 minutes. See https://github.com/anthropics/anthropic-sdk-typescript#long-requests for more details"),
        ] {
            let f = ErrorFacts { message, name, ..Default::default() };
            assert_eq!(classify(&f, Rules::V2), Format, "{name}");
            assert_eq!(classify(&f, Rules::V1), Unknown, "{name}");
            // Also by the message alone (a bundle that renamed the classes).
            let f = ErrorFacts { message, name: "Error", ..Default::default() };
            assert_eq!(classify(&f, Rules::V2), Format, "{message}");
        }
        // OpenAI
        let f = ErrorFacts {
            status: Some(429.0),
            message: "429 You exceeded your current quota, please check your plan and billing details.",
            name: "RateLimitError",
            code: "insufficient_quota",
        };
        assert_eq!(classify(&f, Rules::V1), Billing);
        assert_eq!(classify(&f, Rules::V2), Billing);
        let f = ErrorFacts {
            message: "Request timed out.",
            name: "APIConnectionTimeoutError",
            ..Default::default()
        };
        assert_eq!(classify(&f, Rules::V1), Timeout);
        let f = ErrorFacts {
            message: "Connection error.",
            name: "APIConnectionError",
            code: "ECONNRESET",
            ..Default::default()
        };
        assert_eq!(classify(&f, Rules::V1), Unknown);
        assert_eq!(classify(&f, Rules::V2), ServerError);
        // Anthropic
        let f = ErrorFacts {
            status: Some(529.0),
            message: r#"529 {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            name: "InternalServerError",
            code: "overloaded_error",
        };
        assert_eq!(classify(&f, Rules::V1), ServerError);
        let f = ErrorFacts {
            status: Some(500.0),
            message: r#"500 {"type":"error","error":{"type":"api_error","message":"Internal server error"}}"#,
            code: "api_error",
            ..Default::default()
        };
        assert_eq!(classify(&f, Rules::V1), Unknown);
        assert_eq!(classify(&f, Rules::V2), ServerError);
        // An error event in the middle of a stream: a body's type, no status.
        for (code, want) in [
            ("api_error", ServerError),
            ("server_error", ServerError),
            ("timeout_error", Timeout),
            ("billing_error", Billing),
        ] {
            let f = ErrorFacts { message: "Internal server error", code, ..Default::default() };
            assert_eq!(classify(&f, Rules::V1), Unknown, "{code}");
            assert_eq!(classify(&f, Rules::V2), want, "{code}");
        }
        // Google
        let f = ErrorFacts {
            message: "[GoogleGenerativeAI Error]: Error fetching from https://…: \
                      [429 Too Many Requests] Resource has been exhausted (e.g. check quota).",
            ..Default::default()
        };
        assert_eq!(classify(&f, Rules::V1), RateLimit);
    }

    #[test]
    fn a_failed_connection_is_a_server_error_in_v2_also_where_the_runtime_gives_no_code() {
        for m in [
            // Deno (the cause of its "fetch failed")
            "error sending request for url (http://127.0.0.1:5999/): client error (Connect): \
             tcp connect error: Connection refused (os error 111)",
            "connection reset by peer (os error 104)",
            "Network connection lost.",                        // Cloudflare Workers
            "Failed to fetch",                                 // Chromium
            "NetworkError when attempting to fetch resource.", // Firefox
        ] {
            let f = ErrorFacts { message: m, name: "TypeError", ..Default::default() };
            assert_eq!(classify(&f, Rules::V2), ServerError, "{m:?}");
            assert_eq!(classify(&f, Rules::V1), Unknown, "v1's rules unchanged: {m:?}");
        }
        // A bare "fetch failed" says nothing of why (Node's carries its cause's code).
        let bare = ErrorFacts { message: "fetch failed", name: "TypeError", ..Default::default() };
        assert_eq!(classify(&bare, Rules::V2), Unknown);
        // A rate limit's words still come first.
        let limited = ErrorFacts { message: "rate limit: connection reset", ..Default::default() };
        assert_eq!(classify(&limited, Rules::V2), RateLimit);
    }

    #[test]
    fn timeout_message() {
        for m in ["timeout", "Timeout", "TIMED OUT", "timed-out", "time out", "timedout", "ETIMEDOUT"] {
            assert!(is_timeout_message(m), "{m:?}");
        }
        for m in ["", "aborted", "This operation was aborted", "time\nout", "time  out", "ECONNABORTED"] {
            assert!(!is_timeout_message(m), "{m:?}");
        }
    }

    #[test]
    fn patterns_use_only_the_supported_syntax() {
        let all = MESSAGE_RULES.iter().map(|(p, _)| *p).chain([
            QUOTA_429,
            TIMEOUT_MESSAGE,
            CREDIT_400,
            DISABLED_400,
            CONNECTION,
        ]);
        for p in all {
            let mut depth = 0i32;
            let mut prev = b'|';
            for &b in p.as_bytes() {
                assert!(b.is_ascii() && b != b'\\' && b != b'[' && b != b'+' && b != b'{', "{p}");
                if b == b'*' {
                    assert_eq!(prev, b'.', "{p}: `*` only after `.`");
                }
                depth += i32::from(b == b'(') - i32::from(b == b')');
                assert!(depth >= 0, "{p}");
                prev = b;
            }
            assert_eq!(depth, 0, "{p}");
        }
    }

    #[test]
    fn matcher_edge_cases() {
        assert!(js_regex_test("a", "A"));
        assert!(js_regex_test("", ""));
        assert!(js_regex_test("a|", "zzz")); // empty alternative matches
        assert!(js_regex_test("(b|c)?d", "d"));
        assert!(js_regex_test("x(b|c)?d", "xcd"));
        assert!(!js_regex_test("x(b|c)?d", "xbcd"));
        assert!(js_regex_test("a(b(c|d))e", "abde"));
        // malformed patterns don't panic
        for p in ["(", ")", "a(b", "a)b", "*", "?", "a**", "(|", "|)", "()", "(?"] {
            let _ = js_regex_test(p, "ab(c)");
        }
        // long inputs are linear, not exponential or deep
        let long = "model not ".repeat(20_000);
        assert!(!js_regex_test(MODEL_NOT_FOUND, &long));
        assert_eq!(both(&long), Unknown);
    }

    fn fragment() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "rate",
            "limit",
            "-",
            "_",
            " ",
            ".",
            "quota",
            "exceeded",
            "insufficient",
            "fund",
            "credit",
            "model",
            "not",
            "found",
            "token",
            "max",
            "timed",
            "time",
            "out",
            "\n",
            "\r",
            "é",
            "K",
            "\u{212A}",
            "İ",
            "a",
            "x",
            "RATE",
            "Limit",
            "TimeD",
            "too many requests",
            "throttl",
            "billing",
            "payment",
            "unauthorized",
            "invalid",
            "api",
            "key",
            "authentication",
            "forbidden",
            "permission",
            "access",
            "denied",
            "does not exist",
            "unknown",
            "context",
            "length",
            "etimedout",
            "ECONNABORTED",
            "service",
            "unavailable",
            "overloaded",
            "—",
        ])
    }

    fn message() -> impl Strategy<Value = String> {
        prop::collection::vec(fragment(), 0..12).prop_map(|v| v.concat())
    }

    /// The regex crate with `.` excluding \n and \r (CRLF mode), case-insensitive.
    fn reference(pattern: &str) -> regex::Regex {
        regex::RegexBuilder::new(pattern).case_insensitive(true).crlf(true).build().unwrap()
    }

    /// v1's classifier written with the regex crate.
    fn v1_reference(status: Option<f64>, message: &str, name: &str) -> Reason {
        let message = message.to_lowercase();
        let t = |p: &str| reference(p).is_match(&message);
        if let Some(s) = status {
            if s == 401.0 {
                return Auth;
            }
            if s == 403.0 {
                return AuthPermanent;
            }
            if s == 402.0 {
                return Billing;
            }
            if s == 429.0 {
                return if t(QUOTA_429) { Billing } else { RateLimit };
            }
            if s == 404.0 {
                return ModelNotFound;
            }
            if s == 400.0 {
                return Format;
            }
            if s == 503.0 || s == 529.0 {
                return ServerError;
            }
        }
        for (p, r) in MESSAGE_RULES {
            if t(p) {
                return r;
            }
        }
        if name == "AbortError" || name == "TimeoutError" {
            return Timeout;
        }
        Unknown
    }

    fn all_patterns() -> Vec<&'static str> {
        MESSAGE_RULES
            .iter()
            .map(|(p, _)| *p)
            .chain([QUOTA_429, TIMEOUT_MESSAGE, CREDIT_400, DISABLED_400])
            .collect()
    }

    /// Messages made of one pattern's own words, joined by separators that `.` may or may not
    /// match, so that near-misses are frequent.
    fn near_miss() -> impl Strategy<Value = (usize, String)> {
        const SEPARATORS: [&str; 12] = ["", "", " ", " ", "-", "_", "\n", "\r", "é", "  ", "x", "\u{212A}"];
        let parts = prop::collection::vec((any::<usize>(), any::<bool>(), 0..SEPARATORS.len()), 0..8);
        (0..all_patterns().len(), parts).prop_map(|(index, parts)| {
            let pattern = all_patterns()[index];
            let words: Vec<&str> =
                pattern.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).collect();
            let mut message = String::new();
            for (word, upper, sep) in parts {
                let word = words[word % words.len()];
                message.push_str(&if upper { word.to_ascii_uppercase() } else { word.to_string() });
                message.push_str(SEPARATORS[sep]);
            }
            (index, message)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn matcher_agrees_with_regex_crate_near_misses((index, m) in near_miss()) {
            let p = all_patterns()[index];
            let lower = m.to_lowercase();
            let want = reference(p).is_match(&lower);
            prop_assert_eq!(js_regex_test(p, &lower), want, "{} on {:?}", p, lower);
        }
    }

    proptest! {
        #[test]
        fn matcher_agrees_with_regex_crate(m in message()) {
            let lower = m.to_lowercase();
            for p in all_patterns() {
                let want = reference(p).is_match(&lower);
                prop_assert_eq!(js_regex_test(p, &lower), want, "{} on {:?}", p, lower);
            }
            // unlowered: fine for patterns without 'k' (the regex crate folds KELVIN SIGN to k)
            prop_assert_eq!(is_timeout_message(&m), reference(TIMEOUT_MESSAGE).is_match(&m));
        }

        #[test]
        fn v1_agrees_with_reference(
            m in message(),
            s in prop::option::of(prop::sample::select(vec![
                400.0, 401.0, 402.0, 403.0, 404.0, 408.0, 429.0, 500.0, 503.0, 529.0, 200.0, 429.5,
                f64::NAN,
            ])),
            name in prop::sample::select(vec![
                "", "Error", "AbortError", "TimeoutError", "APIConnectionTimeoutError",
            ]),
        ) {
            // The JS layer lowercases the message (toLowerCase, the same mapping as
            // to_lowercase) before it reaches the core, as v1 did before matching.
            let lower = m.to_lowercase();
            let facts = ErrorFacts { status: s, message: &lower, name, code: "ETIMEDOUT" };
            prop_assert_eq!(classify(&facts, Rules::V1), v1_reference(s, &m, name));
        }

        #[test]
        fn never_panics(
            m in any::<String>(),
            name in any::<String>(),
            code in any::<String>(),
            s in any::<Option<f64>>(),
        ) {
            let facts = ErrorFacts { status: s, message: &m, name: &name, code: &code };
            let _ = classify(&facts, Rules::V1);
            let _ = classify(&facts, Rules::V2);
            let _ = is_timeout_message(&m);
        }
    }
}
