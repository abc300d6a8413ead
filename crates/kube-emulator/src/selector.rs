//! Label and field selectors with the apiserver's grammar, validation and matching.
//!
//! ```text
//!  ?labelSelector=app=web,tier in (a,b),!canary   ──►  LabelSelector::parse  ──►  .matches(labels)
//!  ?fieldSelector=metadata.name=x,status.phase!=Running ──► FieldSelector::parse ──► .matches(obj)
//! ```
//!
//! The label grammar follows `k8s.io/apimachinery/pkg/labels` (`=`, `==`, `!=`, `in`, `notin`,
//! `key`, `!key`, `>`, `<`), including its key/value validation; requirements are sorted by key as
//! `labels.Parse` does, and [`LabelSelector`]'s `Display` prints the canonical form. The field
//! grammar follows `k8s.io/apimachinery/pkg/fields` (`=`, `==`, `!=`, backslash escapes).
//! This module also holds the name validators the apiserver shares between selectors and object
//! validation (qualified names, label values, DNS-1123 labels and subdomains, DNS-1035 labels).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

/// Why a selector string was rejected (the apiserver answers 400 Bad Request with this text).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// The selector does not follow the grammar; not retryable without changing the selector.
    #[error("{0}")]
    Syntax(String),
    /// A key, operator or value is not valid; not retryable without changing the selector.
    #[error("unable to parse requirement: {0}")]
    InvalidRequirement(String),
}

// ---------------------------------------------------------------------------------------------
// Name validation shared with object validation.
// ---------------------------------------------------------------------------------------------

const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1035_LABEL_FMT: &str = "[a-z]([-a-z0-9]*[a-z0-9])?";

/// Maximum length of a label value and of the name part of a qualified name.
pub const LABEL_VALUE_MAX_LEN: usize = 63;
/// Maximum length of a DNS-1123 / DNS-1035 label.
pub const DNS1123_LABEL_MAX_LEN: usize = 63;
/// Maximum length of a DNS-1123 subdomain.
pub const DNS1123_SUBDOMAIN_MAX_LEN: usize = 253;

/// Compiles an anchored constant pattern. The patterns are constants known to compile; if one did
/// not, `None` makes every value invalid instead of panicking.
fn anchored(fmt: &str) -> Option<Regex> {
    Regex::new(&format!("^(?:{fmt})$")).ok()
}

fn is_match(re: &LazyLock<Option<Regex>>, value: &str) -> bool {
    re.as_ref().is_some_and(|r| r.is_match(value))
}

static QUALIFIED_NAME_RE: LazyLock<Option<Regex>> = LazyLock::new(|| anchored(QUALIFIED_NAME_FMT));
static LABEL_VALUE_RE: LazyLock<Option<Regex>> = LazyLock::new(|| anchored(LABEL_VALUE_FMT));
static DNS1123_LABEL_RE: LazyLock<Option<Regex>> = LazyLock::new(|| anchored(DNS1123_LABEL_FMT));
static DNS1123_SUBDOMAIN_RE: LazyLock<Option<Regex>> =
    LazyLock::new(|| anchored(DNS1123_SUBDOMAIN_FMT));
static DNS1035_LABEL_RE: LazyLock<Option<Regex>> = LazyLock::new(|| anchored(DNS1035_LABEL_FMT));

fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    let ex: Vec<String> = examples.iter().map(|e| format!("'{e}'")).collect();
    format!(
        "{msg} (e.g. {}, regex used for validation is '{fmt}')",
        ex.join(",  or ")
    )
}

/// Errors of `validation.IsQualifiedName` (label and annotation keys, selector keys): an optional
/// DNS-1123 subdomain prefix and `/`, then a name of at most 63 characters. Empty when valid.
pub fn qualified_name_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_owned());
            } else {
                for e in dns1123_subdomain_errors(prefix) {
                    errs.push(format!("prefix part {e}"));
                }
            }
            *name
        }
        _ => {
            errs.push(format!(
                "{} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(
                    "a qualified name must consist of alphanumeric characters, '-', '_' or '.', \
                     and must start and end with an alphanumeric character",
                    QUALIFIED_NAME_FMT,
                    &["MyName", "my.name", "123-abc"],
                )
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_owned());
    } else if name.len() > LABEL_VALUE_MAX_LEN {
        errs.push(format!(
            "name part must be no more than {LABEL_VALUE_MAX_LEN} characters"
        ));
    }
    // As Go's IsQualifiedName: an empty name also fails the pattern (two messages).
    if !is_match(&QUALIFIED_NAME_RE, name) {
        errs.push(format!(
            "name part {}",
            regex_error(
                "must consist of alphanumeric characters, '-', '_' or '.', and must start and \
                 end with an alphanumeric character",
                QUALIFIED_NAME_FMT,
                &["MyName", "my.name", "123-abc"],
            )
        ));
    }
    errs
}

/// Errors of `validation.IsValidLabelValue`: empty, or at most 63 alphanumerics, `-`, `_`, `.`
/// starting and ending with an alphanumeric. Empty when valid.
pub fn label_value_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > LABEL_VALUE_MAX_LEN {
        errs.push(format!(
            "must be no more than {LABEL_VALUE_MAX_LEN} characters"
        ));
    }
    if !is_match(&LABEL_VALUE_RE, value) {
        errs.push(regex_error(
            "a valid label must be an empty string or consist of alphanumeric characters, '-', \
             '_' or '.', and must start and end with an alphanumeric character",
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

/// Errors of `validation.IsDNS1123Label` (namespace names, port names). Empty when valid.
pub fn dns1123_label_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_LABEL_MAX_LEN {
        errs.push(format!(
            "must be no more than {DNS1123_LABEL_MAX_LEN} characters"
        ));
    }
    if !is_match(&DNS1123_LABEL_RE, value) {
        errs.push(regex_error(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or \
             '-', and must start and end with an alphanumeric character",
            DNS1123_LABEL_FMT,
            &["my-name", "123-abc"],
        ));
    }
    errs
}

/// Errors of `validation.IsDNS1123Subdomain` (most object names). Empty when valid.
pub fn dns1123_subdomain_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX_LEN {
        errs.push(format!(
            "must be no more than {DNS1123_SUBDOMAIN_MAX_LEN} characters"
        ));
    }
    if !is_match(&DNS1123_SUBDOMAIN_RE, value) {
        errs.push(regex_error(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \
             '-' or '.', and must start and end with an alphanumeric character",
            DNS1123_SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    errs
}

/// Errors of `validation.IsDNS1035Label` (Service names). Empty when valid.
pub fn dns1035_label_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_LABEL_MAX_LEN {
        errs.push(format!(
            "must be no more than {DNS1123_LABEL_MAX_LEN} characters"
        ));
    }
    if !is_match(&DNS1035_LABEL_RE, value) {
        errs.push(regex_error(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start \
             with an alphabetic character, and end with an alphanumeric character",
            DNS1035_LABEL_FMT,
            &["my-name", "abc-123"],
        ));
    }
    errs
}

// ---------------------------------------------------------------------------------------------
// Label selectors.
// ---------------------------------------------------------------------------------------------

/// The operator of one label requirement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `key=value`.
    Equals,
    /// `key==value`.
    DoubleEquals,
    /// `key!=value` (also true when the label is absent).
    NotEquals,
    /// `key in (a,b)`.
    In,
    /// `key notin (a,b)` (also true when the label is absent).
    NotIn,
    /// `key`.
    Exists,
    /// `!key`.
    DoesNotExist,
    /// `key>N` (integer comparison).
    GreaterThan,
    /// `key<N` (integer comparison).
    LessThan,
}

/// One requirement of a label selector: key, operator and the (sorted, deduplicated) values.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Requirement {
    key: String,
    op: Operator,
    values: Vec<String>,
}

impl Requirement {
    /// Builds a requirement, validating it as `labels.NewRequirement` does.
    pub fn new(key: &str, op: Operator, values: &[&str]) -> Result<Self, SelectorError> {
        let mut errs: Vec<String> = Vec::new();
        let key_errs = qualified_name_errors(key);
        if !key_errs.is_empty() {
            errs.push(format!(
                "key: Invalid value: {}: {}",
                quote(key),
                key_errs.join("; ")
            ));
        }
        let list = go_string_slice(values);
        let mut set_err = |msg: &str| errs.push(format!("values: Invalid value: {list}: {msg}"));
        match op {
            Operator::In | Operator::NotIn if values.is_empty() => {
                set_err("for 'in', 'notin' operators, values set can't be empty");
            }
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals
                if values.len() != 1 =>
            {
                set_err("exact-match compatibility requires one single value");
            }
            Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
                set_err("values set must be empty for exists and does not exist");
            }
            Operator::GreaterThan | Operator::LessThan => {
                if values.len() != 1 {
                    set_err("for 'Gt', 'Lt' operators, exactly one value is required");
                }
                for (i, v) in values.iter().enumerate() {
                    if v.parse::<i64>().is_err() {
                        errs.push(format!(
                            "values[{i}]: Invalid value: {}: for 'Gt', 'Lt' operators, the value \
                             must be an integer",
                            quote(v)
                        ));
                    }
                }
            }
            _ => {}
        }
        for (i, v) in values.iter().enumerate() {
            let value_errs = label_value_errors(v);
            if !value_errs.is_empty() {
                errs.push(format!(
                    "values[{i}][{key}]: Invalid value: {}: {}",
                    quote(v),
                    value_errs.join("; ")
                ));
            }
        }
        if !errs.is_empty() {
            let msg = if errs.len() == 1 {
                errs.remove(0)
            } else {
                format!("[{}]", errs.join(", "))
            };
            return Err(SelectorError::InvalidRequirement(msg));
        }
        let mut values: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
        values.sort();
        values.dedup();
        Ok(Self {
            key: key.to_owned(),
            op,
            values,
        })
    }

    /// The label key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        self.op
    }

    /// The values, sorted and deduplicated (empty for `Exists`/`DoesNotExist`).
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Whether a label set satisfies this requirement (`labels.Requirement.Matches`).
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches_value(labels.get(&self.key).map(String::as_str))
    }

    /// Whether the value of this requirement's label (`None`: absent) satisfies it, for
    /// callers that hold labels in another shape than a map.
    pub fn matches_value(&self, got: Option<&str>) -> bool {
        let has = |v: &str| self.values.iter().any(|x| x == v);
        match self.op {
            Operator::Equals | Operator::DoubleEquals | Operator::In => got.is_some_and(has),
            Operator::NotEquals | Operator::NotIn => got.is_none_or(|v| !has(v)),
            Operator::Exists => got.is_some(),
            Operator::DoesNotExist => got.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let (Some(got), Some(want)) = (got, self.values.first()) else {
                    return false;
                };
                let (Ok(got), Ok(want)) = (got.parse::<i64>(), want.parse::<i64>()) else {
                    return false;
                };
                if self.op == Operator::GreaterThan {
                    got > want
                } else {
                    got < want
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.op == Operator::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let op = match self.op {
            Operator::Exists | Operator::DoesNotExist => return Ok(()),
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::In => " in ",
            Operator::NotIn => " notin ",
            Operator::GreaterThan => ">",
            Operator::LessThan => "<",
        };
        f.write_str(op)?;
        if matches!(self.op, Operator::In | Operator::NotIn) {
            write!(f, "({})", self.values.join(","))
        } else {
            f.write_str(&self.values.join(","))
        }
    }
}

/// A parsed label selector: the conjunction of its requirements (empty selects everything).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Identifier(String),
    DoesNotExist,
    Equals,
    DoubleEquals,
    NotEquals,
    GreaterThan,
    LessThan,
    In,
    NotIn,
    OpenPar,
    ClosedPar,
    Comma,
    End,
}

impl Token {
    fn literal(&self) -> &str {
        match self {
            Token::Identifier(s) => s,
            Token::DoesNotExist => "!",
            Token::Equals => "=",
            Token::DoubleEquals => "==",
            Token::NotEquals => "!=",
            Token::GreaterThan => ">",
            Token::LessThan => "<",
            Token::In => "in",
            Token::NotIn => "notin",
            Token::OpenPar => "(",
            Token::ClosedPar => ")",
            Token::Comma => ",",
            Token::End => "",
        }
    }

    /// In value position the keywords `in`/`notin` are plain identifiers.
    fn as_value(&self) -> Token {
        match self {
            Token::In => Token::Identifier("in".to_owned()),
            Token::NotIn => Token::Identifier("notin".to_owned()),
            other => other.clone(),
        }
    }
}

fn is_special(c: char) -> bool {
    matches!(c, '=' | '!' | '(' | ')' | ',' | '>' | '<')
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn lex(input: &str) -> Vec<Token> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if is_space(c) {
            i += 1;
        } else if is_special(c) {
            let next = chars.get(i + 1).copied();
            let (tok, len) = match (c, next) {
                ('=', Some('=')) => (Token::DoubleEquals, 2),
                ('!', Some('=')) => (Token::NotEquals, 2),
                ('=', _) => (Token::Equals, 1),
                ('!', _) => (Token::DoesNotExist, 1),
                ('(', _) => (Token::OpenPar, 1),
                (')', _) => (Token::ClosedPar, 1),
                (',', _) => (Token::Comma, 1),
                ('>', _) => (Token::GreaterThan, 1),
                _ => (Token::LessThan, 1),
            };
            out.push(tok);
            i += len;
        } else {
            let start = i;
            while i < chars.len() && !is_space(chars[i]) && !is_special(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            out.push(match word.as_str() {
                "in" => Token::In,
                "notin" => Token::NotIn,
                _ => Token::Identifier(word),
            });
        }
    }
    out.push(Token::End);
    out
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek_raw(&self) -> Token {
        self.tokens.get(self.pos).cloned().unwrap_or(Token::End)
    }

    fn peek_value(&self) -> Token {
        self.peek_raw().as_value()
    }

    fn next_raw(&mut self) -> Token {
        let t = self.peek_raw();
        if self.pos < self.tokens.len() {
            self.pos += 1;
        }
        t
    }

    fn next_value(&mut self) -> Token {
        self.next_raw().as_value()
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, SelectorError> {
        let mut reqs = Vec::new();
        loop {
            match self.peek_value() {
                Token::Identifier(_) | Token::DoesNotExist => {
                    // Everything that goes wrong inside one requirement is reported as
                    // "unable to parse requirement: ...", as labels.Parse does.
                    let req = self.requirement().map_err(|e| match e {
                        SelectorError::Syntax(m) | SelectorError::InvalidRequirement(m) => {
                            SelectorError::InvalidRequirement(m)
                        }
                    })?;
                    reqs.push(req);
                    match self.next_value() {
                        Token::End => return Ok(reqs),
                        Token::Comma => {
                            let t = self.peek_value();
                            if !matches!(t, Token::Identifier(_) | Token::DoesNotExist) {
                                return Err(syntax(format!(
                                    "found '{}', expected: identifier after ','",
                                    t.literal()
                                )));
                            }
                        }
                        t => {
                            return Err(syntax(format!(
                                "found '{}', expected: ',' or 'end of string'",
                                t.literal()
                            )));
                        }
                    }
                }
                Token::End => return Ok(reqs),
                t => {
                    return Err(syntax(format!(
                        "found '{}', expected: !, identifier, or 'end of string'",
                        t.literal()
                    )));
                }
            }
        }
    }

    fn requirement(&mut self) -> Result<Requirement, SelectorError> {
        let mut op = None;
        let mut tok = self.next_value();
        if tok == Token::DoesNotExist {
            op = Some(Operator::DoesNotExist);
            tok = self.next_value();
        }
        let Token::Identifier(key) = tok else {
            return Err(syntax(format!(
                "found '{}', expected: identifier",
                tok.literal()
            )));
        };
        if matches!(self.peek_value(), Token::End | Token::Comma) && op.is_none() {
            op = Some(Operator::Exists);
        }
        if let Some(op) = op {
            return Requirement::new(&key, op, &[]);
        }
        let op = match self.next_raw() {
            Token::In => Operator::In,
            Token::NotIn => Operator::NotIn,
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::NotEquals => Operator::NotEquals,
            Token::GreaterThan => Operator::GreaterThan,
            Token::LessThan => Operator::LessThan,
            t => {
                return Err(syntax(format!(
                    "found '{}', expected: in, notin, =, ==, !=, gt, lt",
                    t.literal()
                )));
            }
        };
        let values = match op {
            Operator::In | Operator::NotIn => self.set_values()?,
            _ => self.exact_value()?,
        };
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        Requirement::new(&key, op, &refs)
    }

    fn exact_value(&mut self) -> Result<Vec<String>, SelectorError> {
        if matches!(self.peek_value(), Token::End | Token::Comma) {
            return Ok(vec![String::new()]);
        }
        match self.next_value() {
            Token::Identifier(v) => Ok(vec![v]),
            t => Err(syntax(format!(
                "found '{}', expected: identifier",
                t.literal()
            ))),
        }
    }

    fn set_values(&mut self) -> Result<Vec<String>, SelectorError> {
        let t = self.next_value();
        if t != Token::OpenPar {
            return Err(syntax(format!("found '{}' expected: '('", t.literal())));
        }
        match self.peek_value() {
            Token::Identifier(_) | Token::Comma => {
                let values = self.identifier_list()?;
                let t = self.next_value();
                if t != Token::ClosedPar {
                    return Err(syntax(format!("found '{}', expected: ')'", t.literal())));
                }
                Ok(values)
            }
            Token::ClosedPar => {
                self.next_value();
                Ok(vec![String::new()])
            }
            t => Err(syntax(format!(
                "found '{}', expected: ',', ')' or identifier",
                t.literal()
            ))),
        }
    }

    fn identifier_list(&mut self) -> Result<Vec<String>, SelectorError> {
        let mut values: Vec<String> = Vec::new();
        loop {
            match self.next_value() {
                Token::Identifier(v) => {
                    values.push(v);
                    match self.peek_value() {
                        Token::Comma => {}
                        Token::ClosedPar => return Ok(values),
                        t => {
                            return Err(syntax(format!(
                                "found '{}', expected: ',' or ')'",
                                t.literal()
                            )));
                        }
                    }
                }
                Token::Comma => {
                    if values.is_empty() {
                        values.push(String::new());
                    }
                    match self.peek_value() {
                        Token::ClosedPar => {
                            values.push(String::new());
                            return Ok(values);
                        }
                        Token::Comma => {
                            self.next_value();
                            values.push(String::new());
                        }
                        _ => {}
                    }
                }
                t => {
                    return Err(syntax(format!(
                        "found '{}', expected: ',', or identifier",
                        t.literal()
                    )));
                }
            }
        }
    }
}

/// Go's `%#v` of a `[]string`: `[]string{"a", "b"}`.
fn go_string_slice(values: &[&str]) -> String {
    let items: Vec<String> = values.iter().map(|v| quote(v)).collect();
    format!("[]string{{{}}}", items.join(", "))
}

fn syntax(msg: String) -> SelectorError {
    SelectorError::Syntax(msg)
}

fn quote(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

impl LabelSelector {
    /// Parses a `labelSelector` query value as `labels.Parse` does. The empty string (or only
    /// whitespace) selects everything.
    pub fn parse(input: &str) -> Result<Self, SelectorError> {
        let mut parser = Parser {
            tokens: lex(input),
            pos: 0,
        };
        let mut requirements = parser.parse()?;
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Self { requirements })
    }

    /// Builds a selector from requirements (sorted by key, as parsing does).
    pub fn from_requirements(mut requirements: Vec<Requirement>) -> Self {
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Self { requirements }
    }

    /// Converts a `metav1.LabelSelector` object (`matchLabels`, `matchExpressions` with operators
    /// `In`, `NotIn`, `Exists`, `DoesNotExist`) as `metav1.LabelSelectorAsSelector` does. `null`
    /// selects everything; an empty object selects everything too.
    pub fn from_label_selector_object(obj: &Value) -> Result<Self, SelectorError> {
        let mut reqs = Vec::new();
        if let Some(ml) = obj.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in ml {
                let v = v.as_str().unwrap_or_default();
                reqs.push(Requirement::new(k, Operator::Equals, &[v])?);
            }
        }
        if let Some(exprs) = obj.get("matchExpressions").and_then(Value::as_array) {
            for e in exprs {
                let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
                let values: Vec<&str> = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|vs| vs.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let op = match e
                    .get("operator")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                {
                    "In" => Operator::In,
                    "NotIn" => Operator::NotIn,
                    "Exists" => Operator::Exists,
                    "DoesNotExist" => Operator::DoesNotExist,
                    other => {
                        return Err(SelectorError::Syntax(format!(
                            "{} is not a valid label selector operator",
                            quote(other)
                        )));
                    }
                };
                reqs.push(Requirement::new(key, op, &values)?);
            }
        }
        Ok(Self::from_requirements(reqs))
    }

    /// The requirements, sorted by key.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Whether the selector has no requirement (selects everything).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether a label set satisfies every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// [`matches`](Self::matches) on an object's `metadata.labels` (absent labels are empty).
    pub fn matches_object(&self, obj: &Value) -> bool {
        let labels: BTreeMap<String, String> = obj
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        self.matches(&labels)
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Field selectors.
// ---------------------------------------------------------------------------------------------

/// One term of a field selector: `field=value`, `field==value` or `field!=value`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FieldTerm {
    /// The field label, e.g. `metadata.name`.
    pub field: String,
    /// The unescaped value.
    pub value: String,
    /// `true` for `!=`.
    pub negated: bool,
}

/// A parsed field selector: the conjunction of its terms (empty selects everything).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct FieldSelector {
    terms: Vec<FieldTerm>,
}

fn split_unescaped_commas(s: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                cur.push(c);
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            ',' => parts.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    parts.push(cur);
    parts
}

fn unescape_field_value(v: &str) -> Result<String, SelectorError> {
    let mut out = String::new();
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(n @ ('\\' | ',' | '=')) => out.push(n),
                Some(n) => {
                    return Err(SelectorError::Syntax(format!(
                        "invalid field selector: invalid escape sequence: \\{n}"
                    )));
                }
                None => {
                    return Err(SelectorError::Syntax(
                        "invalid field selector: invalid escape sequence: \\".to_owned(),
                    ));
                }
            },
            ',' | '=' => {
                return Err(SelectorError::Syntax(format!(
                    "invalid field selector: unescaped character in value: {c}"
                )));
            }
            _ => out.push(c),
        }
    }
    Ok(out)
}

fn escape_field_value(v: &str) -> String {
    let mut out = String::new();
    for c in v.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl FieldSelector {
    /// Parses a `fieldSelector` query value as `fields.ParseSelector` does (terms sorted; `\,`,
    /// `\=` and `\\` escapes in values). The empty string selects everything.
    pub fn parse(input: &str) -> Result<Self, SelectorError> {
        let mut parts = split_unescaped_commas(input);
        parts.sort();
        let mut terms = Vec::new();
        for part in parts.iter().filter(|p| !p.is_empty()) {
            let Some((i, op)) = part.char_indices().find_map(|(i, _)| {
                ["!=", "==", "="]
                    .iter()
                    .find(|op| part[i..].starts_with(*op))
                    .map(|op| (i, *op))
            }) else {
                return Err(SelectorError::Syntax(format!(
                    "invalid selector: '{input}'; can't understand '{part}'"
                )));
            };
            terms.push(FieldTerm {
                field: part[..i].to_owned(),
                value: unescape_field_value(&part[i + op.len()..])?,
                negated: op == "!=",
            });
        }
        Ok(Self { terms })
    }

    /// The terms, in parse order (sorted by their text).
    pub fn terms(&self) -> &[FieldTerm] {
        &self.terms
    }

    /// The field labels used, so the caller can reject unsupported ones with 400
    /// (`field label not supported: X`); see [`supported_field_labels`].
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.terms.iter().map(|t| t.field.as_str())
    }

    /// The first field not in [`supported_field_labels`] of `kind`, if any.
    pub fn unsupported_field(&self, kind: &str) -> Option<&str> {
        let allowed = supported_field_labels(kind);
        self.fields().find(|f| !allowed.contains(f))
    }

    /// Whether the selector has no term (selects everything).
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The value `field` must equal if the selector pins it (`RequiresExactMatch`), e.g. the
    /// name in `metadata.name=x`, letting a list become a single lookup.
    pub fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.terms
            .iter()
            .find(|t| t.field == field && !t.negated)
            .map(|t| t.value.as_str())
    }

    /// Whether an object satisfies every term; a field is read as the string at its dotted path
    /// (absent or null → `""`, booleans and numbers in their JSON text).
    pub fn matches(&self, obj: &Value) -> bool {
        self.terms.iter().all(|t| {
            let got = field_value(obj, &t.field);
            (got == t.value) != t.negated
        })
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.terms.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let op = if t.negated { "!=" } else { "=" };
            write!(f, "{}{op}{}", t.field, escape_field_value(&t.value))?;
        }
        Ok(())
    }
}

/// The string value of a field label on an object, as the apiserver's per-kind field sets give
/// it: dotted path lookup, with `source` of a core Event meaning `source.component` and
/// `spec.hostNetwork` of a Pod defaulting to `false`.
pub fn field_value(obj: &Value, field: &str) -> String {
    let path = match field {
        "source" if obj.get("source").is_some_and(Value::is_object) => "source.component",
        other => other,
    };
    let mut cur = obj;
    for seg in path.split('.') {
        match cur.get(seg) {
            Some(v) => cur = v,
            None => {
                return if field == "spec.hostNetwork" {
                    "false".to_owned()
                } else {
                    String::new()
                };
            }
        }
    }
    match cur {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(_) | Value::Object(_) => cur.to_string(),
    }
}

/// The field labels the apiserver accepts in field selectors for a kind (its
/// `AddFieldLabelConversionFunc` tables); every other kind, custom resources included, accepts
/// `metadata.name` and `metadata.namespace`.
pub fn supported_field_labels(kind: &str) -> &'static [&'static str] {
    match kind {
        "Pod" => &[
            "metadata.name",
            "metadata.namespace",
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.podIPs",
            "status.nominatedNodeName",
        ],
        "Node" => &["metadata.name", "spec.unschedulable"],
        "Namespace" => &["metadata.name", "status.phase"],
        "Secret" => &["metadata.name", "metadata.namespace", "type"],
        "Service" => &[
            "metadata.name",
            "metadata.namespace",
            "spec.clusterIP",
            "spec.type",
        ],
        "Event" => &[
            "metadata.name",
            "metadata.namespace",
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        "ReplicaSet" | "ReplicationController" => {
            &["metadata.name", "metadata.namespace", "status.replicas"]
        }
        "Job" => &["metadata.name", "metadata.namespace", "status.successful"],
        "CertificateSigningRequest" => &["metadata.name", "spec.signerName"],
        _ => &["metadata.name", "metadata.namespace"],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn empty_selector_matches_everything() {
        let s = LabelSelector::parse("").unwrap();
        assert!(s.is_empty());
        assert!(s.matches(&labels(&[])));
        assert!(LabelSelector::parse("  ").unwrap().is_empty());
    }

    #[test]
    fn equality_forms_match_present_values() {
        let l = labels(&[("app", "web"), ("tier", "fe")]);
        assert!(LabelSelector::parse("app=web").unwrap().matches(&l));
        assert!(LabelSelector::parse("app==web").unwrap().matches(&l));
        assert!(!LabelSelector::parse("app=db").unwrap().matches(&l));
        assert!(
            LabelSelector::parse("app = web , tier==fe")
                .unwrap()
                .matches(&l)
        );
    }

    #[test]
    fn not_equals_matches_absent_labels() {
        assert!(
            LabelSelector::parse("env!=prod")
                .unwrap()
                .matches(&labels(&[]))
        );
        assert!(
            !LabelSelector::parse("env!=prod")
                .unwrap()
                .matches(&labels(&[("env", "prod")]))
        );
        assert!(
            LabelSelector::parse("env!=prod")
                .unwrap()
                .matches(&labels(&[("env", "dev")]))
        );
    }

    #[test]
    fn set_forms_match_like_the_apiserver() {
        let s = LabelSelector::parse("env in (prod, qa),tier notin (be)").unwrap();
        assert!(s.matches(&labels(&[("env", "qa")])));
        assert!(s.matches(&labels(&[("env", "prod"), ("tier", "fe")])));
        assert!(!s.matches(&labels(&[("env", "prod"), ("tier", "be")])));
        assert!(!s.matches(&labels(&[("env", "dev")])));
        assert!(!s.matches(&labels(&[])));
    }

    #[test]
    fn exists_and_not_exists() {
        let s = LabelSelector::parse("app,!canary").unwrap();
        assert!(s.matches(&labels(&[("app", "")])));
        assert!(!s.matches(&labels(&[("app", "x"), ("canary", "1")])));
        assert!(!s.matches(&labels(&[])));
    }

    #[test]
    fn empty_values_are_allowed() {
        let s = LabelSelector::parse("a=,b in ()").unwrap();
        assert!(s.matches(&labels(&[("a", ""), ("b", "")])));
        assert_eq!(s.to_string(), "a=,b in ()");
        let s = LabelSelector::parse("b in (,x)").unwrap();
        assert_eq!(s.requirements()[0].values(), ["", "x"]);
    }

    #[test]
    fn greater_and_less_than_compare_integers() {
        let s = LabelSelector::parse("n>5,m<3").unwrap();
        assert!(s.matches(&labels(&[("n", "6"), ("m", "2")])));
        assert!(!s.matches(&labels(&[("n", "5"), ("m", "2")])));
        assert!(!s.matches(&labels(&[("n", "x"), ("m", "2")])));
        assert!(LabelSelector::parse("n>x").is_err());
    }

    #[test]
    fn keywords_can_be_keys_and_values() {
        let s = LabelSelector::parse("in=notin").unwrap();
        assert!(s.matches(&labels(&[("in", "notin")])));
    }

    #[test]
    fn prefixed_keys_are_accepted() {
        let s = LabelSelector::parse("app.kubernetes.io/name=web").unwrap();
        assert!(s.matches(&labels(&[("app.kubernetes.io/name", "web")])));
    }

    #[test]
    fn requirements_are_sorted_by_key_and_printed_canonically() {
        let s = LabelSelector::parse("z in (b,a,a), a!=x, !m, k").unwrap();
        assert_eq!(s.to_string(), "a!=x,k,!m,z in (a,b)");
    }

    #[test]
    fn invalid_keys_and_values_are_rejected_with_apiserver_wording() {
        let e = LabelSelector::parse("b@d=x").unwrap_err();
        assert!(matches!(e, SelectorError::InvalidRequirement(_)));
        assert!(e.to_string().starts_with(
            "unable to parse requirement: key: Invalid value: \"b@d\": name part must consist of"
        ));
        let e = LabelSelector::parse("a=b@d").unwrap_err().to_string();
        assert!(
            e.starts_with(
                "unable to parse requirement: values[0][a]: Invalid value: \"b@d\": a valid label must be"
            ),
            "{e}"
        );
        let long = "x".repeat(64);
        assert!(LabelSelector::parse(&format!("a={long}")).is_err());
        assert!(LabelSelector::parse(&format!("{long}=a")).is_err());
        assert!(LabelSelector::parse("/a=b").is_err());
        assert!(LabelSelector::parse("A.com/a=b").is_err());
        assert!(LabelSelector::parse("a/b/c=d").is_err());
    }

    #[test]
    fn requirement_api_misuse_reports_go_style_value_lists() {
        assert_eq!(
            Requirement::new("a", Operator::Equals, &["x", "y"])
                .unwrap_err()
                .to_string(),
            "unable to parse requirement: values: Invalid value: []string{\"x\", \"y\"}: \
             exact-match compatibility requires one single value"
        );
        assert_eq!(
            Requirement::new("a", Operator::In, &[])
                .unwrap_err()
                .to_string(),
            "unable to parse requirement: values: Invalid value: []string{}: for 'in', 'notin' \
             operators, values set can't be empty"
        );
        let two = Requirement::new("b@d", Operator::Exists, &["x"])
            .unwrap_err()
            .to_string();
        assert!(two.starts_with("unable to parse requirement: [key: Invalid value: \"b@d\""));
    }

    #[test]
    fn syntax_errors_name_the_unexpected_token() {
        assert_eq!(
            LabelSelector::parse("a=b,").unwrap_err().to_string(),
            "found '', expected: identifier after ','"
        );
        assert_eq!(
            LabelSelector::parse("a in b").unwrap_err().to_string(),
            "unable to parse requirement: found 'b' expected: '('"
        );
        assert_eq!(
            LabelSelector::parse("a in (b").unwrap_err().to_string(),
            "unable to parse requirement: found '', expected: ',' or ')'"
        );
        assert_eq!(
            LabelSelector::parse("a b").unwrap_err().to_string(),
            "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"
        );
        assert_eq!(
            LabelSelector::parse(",a").unwrap_err().to_string(),
            "found ',', expected: !, identifier, or 'end of string'"
        );
        assert_eq!(
            LabelSelector::parse("!a=b").unwrap_err().to_string(),
            "found '=', expected: ',' or 'end of string'"
        );
        assert!(LabelSelector::parse("a=(b)").is_err());
    }

    #[test]
    fn label_selector_object_converts_match_labels_and_expressions() {
        let s = LabelSelector::from_label_selector_object(&json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "env", "operator": "In", "values": ["a", "b"]},
                                 {"key": "x", "operator": "DoesNotExist"}]
        }))
        .unwrap();
        assert_eq!(s.to_string(), "app=web,env in (a,b),!x");
        assert!(
            LabelSelector::from_label_selector_object(&json!({
                "matchExpressions": [{"key": "env", "operator": "Bogus"}]
            }))
            .is_err()
        );
    }

    #[test]
    fn matches_object_reads_metadata_labels() {
        let s = LabelSelector::parse("app=web").unwrap();
        assert!(s.matches_object(&json!({"metadata": {"labels": {"app": "web"}}})));
        assert!(!s.matches_object(&json!({"metadata": {}})));
    }

    #[test]
    fn name_validators_follow_the_apiserver() {
        assert!(dns1123_label_errors("my-ns").is_empty());
        assert!(!dns1123_label_errors("My-ns").is_empty());
        assert!(!dns1123_label_errors("a.b").is_empty());
        assert!(dns1123_subdomain_errors("a.b-c").is_empty());
        assert!(!dns1123_subdomain_errors("-a").is_empty());
        assert!(dns1035_label_errors("svc-1").is_empty());
        assert!(!dns1035_label_errors("1svc").is_empty());
        assert!(qualified_name_errors("example.com/My_Name.1").is_empty());
        assert!(!qualified_name_errors("").is_empty());
        assert!(label_value_errors("").is_empty());
        assert_eq!(
            dns1123_label_errors(&"a".repeat(64))[0],
            "must be no more than 63 characters"
        );
    }

    #[test]
    fn field_selector_matches_dotted_paths() {
        let pod = json!({
            "metadata": {"name": "p", "namespace": "ns"},
            "spec": {"nodeName": "n1"},
            "status": {"phase": "Running"}
        });
        let s = FieldSelector::parse("metadata.name=p,spec.nodeName==n1").unwrap();
        assert!(s.matches(&pod));
        assert!(
            FieldSelector::parse("status.phase!=Pending")
                .unwrap()
                .matches(&pod)
        );
        assert!(
            !FieldSelector::parse("status.phase!=Running")
                .unwrap()
                .matches(&pod)
        );
        assert!(
            FieldSelector::parse("spec.hostNetwork=false")
                .unwrap()
                .matches(&pod)
        );
        assert!(FieldSelector::parse("status.podIP=").unwrap().matches(&pod));
        assert!(FieldSelector::parse("").unwrap().matches(&pod));
    }

    #[test]
    fn field_selector_reads_event_fields() {
        let ev = json!({
            "type": "Warning",
            "involvedObject": {"name": "svc", "kind": "Service"},
            "source": {"component": "vlb"}
        });
        let s = FieldSelector::parse("type=Warning,involvedObject.name=svc,source=vlb").unwrap();
        assert!(s.matches(&ev));
        assert!(s.unsupported_field("Event").is_none());
    }

    #[test]
    fn field_selector_unescapes_values_and_rejects_bad_terms() {
        let s = FieldSelector::parse(r"metadata.name=a\,b\=c").unwrap();
        assert_eq!(s.terms()[0].value, "a,b=c");
        assert_eq!(s.to_string(), r"metadata.name=a\,b\=c");
        assert_eq!(
            FieldSelector::parse("metadata.name")
                .unwrap_err()
                .to_string(),
            "invalid selector: 'metadata.name'; can't understand 'metadata.name'"
        );
        assert!(FieldSelector::parse(r"a=b\x").is_err());
        assert!(FieldSelector::parse("a=b=c").is_err());
    }

    #[test]
    fn field_selector_reports_unsupported_fields() {
        let s = FieldSelector::parse("spec.type=LoadBalancer,spec.foo=x").unwrap();
        assert_eq!(s.fields().collect::<Vec<_>>(), ["spec.foo", "spec.type"]);
        assert_eq!(s.unsupported_field("Service"), Some("spec.foo"));
        let n = FieldSelector::parse("metadata.namespace=x").unwrap();
        assert_eq!(n.unsupported_field("Node"), Some("metadata.namespace"));
        assert_eq!(n.unsupported_field("LoadBalancer"), None);
    }

    #[test]
    fn field_selector_exact_match_pins_a_name() {
        let s = FieldSelector::parse("metadata.name=x").unwrap();
        assert_eq!(s.requires_exact_match("metadata.name"), Some("x"));
        let s = FieldSelector::parse("metadata.name!=x").unwrap();
        assert_eq!(s.requires_exact_match("metadata.name"), None);
    }

    fn key_strategy() -> impl Strategy<Value = String> {
        (
            proptest::option::of("[a-z]([a-z0-9-]{0,8}[a-z0-9])?(\\.[a-z]{1,4})?"),
            "[A-Za-z0-9]([A-Za-z0-9._-]{0,10}[A-Za-z0-9])?",
        )
            .prop_map(|(p, n)| match p {
                Some(p) => format!("{p}/{n}"),
                None => n,
            })
            .prop_filter("keywords", |k| k != "in" && k != "notin")
    }

    fn value_strategy() -> impl Strategy<Value = String> {
        "([A-Za-z0-9]([A-Za-z0-9._-]{0,10}[A-Za-z0-9])?)?"
            .prop_filter("keywords", |v| v != "in" && v != "notin")
    }

    fn requirement_strategy() -> impl Strategy<Value = Requirement> {
        (
            key_strategy(),
            0..9usize,
            proptest::collection::vec(value_strategy(), 1..4),
            0i64..100,
        )
            .prop_map(|(k, op, vals, n)| {
                let refs: Vec<&str> = vals.iter().map(String::as_str).collect();
                let nstr = n.to_string();
                let (op, vs): (Operator, Vec<&str>) = match op {
                    0 => (Operator::Equals, vec![refs[0]]),
                    1 => (Operator::DoubleEquals, vec![refs[0]]),
                    2 => (Operator::NotEquals, vec![refs[0]]),
                    3 => (Operator::In, refs.clone()),
                    4 => (Operator::NotIn, refs.clone()),
                    5 => (Operator::Exists, vec![]),
                    6 => (Operator::DoesNotExist, vec![]),
                    7 => (Operator::GreaterThan, vec![nstr.as_str()]),
                    _ => (Operator::LessThan, vec![nstr.as_str()]),
                };
                Requirement::new(&k, op, &vs).unwrap()
            })
    }

    proptest! {
        #[test]
        fn printed_selectors_parse_back_to_the_same_selector(
            reqs in proptest::collection::vec(requirement_strategy(), 0..5)
        ) {
            let s = LabelSelector::from_requirements(reqs);
            let printed = s.to_string();
            let back = LabelSelector::parse(&printed).unwrap();
            prop_assert_eq!(&back, &s);
            prop_assert_eq!(back.to_string(), printed);
        }

        #[test]
        fn parsing_arbitrary_text_never_panics(input in ".{0,40}") {
            let _ = LabelSelector::parse(&input);
            let _ = FieldSelector::parse(&input);
        }

        #[test]
        fn field_selectors_round_trip_through_print(
            terms in proptest::collection::vec(
                ("[a-z]{1,5}(\\.[a-z]{1,5}){0,2}", "[a-z,=\\\\]{0,6}", any::<bool>()), 0..4)
        ) {
            let text: Vec<String> = terms.iter().map(|(f, v, neg)| {
                format!("{f}{}{}", if *neg { "!=" } else { "=" }, escape_field_value(v))
            }).collect();
            let s = FieldSelector::parse(&text.join(",")).unwrap();
            let back = FieldSelector::parse(&s.to_string()).unwrap();
            prop_assert_eq!(back, s);
        }
    }
}
