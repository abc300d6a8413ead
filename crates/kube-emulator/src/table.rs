//! `meta.k8s.io/v1` Table rendering for `kubectl get` (`Accept: application/json;as=Table`).
//!
//! ```text
//!  CRD additionalPrinterColumns ─┐
//!  built-in printer for a kind ──┴─► TableColumns ──► to_table(cols, objects, listMeta, ..)
//!                                                        └─► {columnDefinitions, rows[{cells, object}]}
//! ```
//!
//! Columns follow the apiserver's printers (`pkg/printers/internalversion`) for the built-in
//! kinds the emulator serves (Services, Nodes, Namespaces, Pods, ConfigMaps, Secrets,
//! Deployments, Leases, Ingresses, IngressClasses, Events, Endpoints, EndpointSlices,
//! ServiceAccounts, RBAC objects, CustomResourceDefinitions; every other kind gets Name and Age)
//! and the apiextensions table convertor for custom resources: a Name column, then the printer
//! columns evaluated with a small JSONPath (`.a.b`, `[0]`, `[*]`, `['key']`,
//! `[?(@.type=="Ready")]`), `date` cells shown as ages. Ages are rendered with
//! `duration.HumanDuration` (`5s`, `3m20s`, `2d4h`, ...).

use jiff::Timestamp;
use serde_json::{Map, Value, json};

const NAME_DESCRIPTION: &str = "Name must be unique within a namespace. Is required when creating \
     resources, although some resources may allow a client to request the generation of an \
     appropriate name automatically. Name is primarily intended for creation idempotence and \
     configuration definition. Cannot be updated. More info: \
     https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const AGE_DESCRIPTION: &str = "CreationTimestamp is a timestamp representing the server time \
     when this object was created. It is not guaranteed to be set in happens-before order across \
     separate operations. Clients may not set this value. It is represented in RFC3339 form and \
     is in UTC.";

/// Why printer columns could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    /// A printer column's `jsonPath` is not understood; fix the CRD (not retryable).
    #[error("unrecognized column definition {column:?}: {reason}")]
    BadJsonPath {
        /// The column name.
        column: String,
        /// What is wrong.
        reason: String,
    },
    /// A JSONPath expression is not understood (not retryable).
    #[error("invalid JSONPath {expr:?}: {reason}")]
    InvalidJsonPath {
        /// The expression.
        expr: String,
        /// What is wrong.
        reason: String,
    },
}

/// How a cell is computed.
#[derive(Clone, Debug)]
enum Source {
    Name,
    Age,
    Path(JsonPath),
    Builtin(fn(&Value, Timestamp) -> Value),
}

/// One column of a table.
#[derive(Clone, Debug)]
pub struct Column {
    /// Header, e.g. `Cluster-IP`.
    pub name: String,
    /// OpenAPI type of the cells: `string`, `integer`, `number`, `boolean`, `date`.
    pub type_: String,
    /// OpenAPI format (`name` for the Name column), may be empty.
    pub format: String,
    /// Human description.
    pub description: String,
    /// 0 for default columns, higher for `-o wide` only columns.
    pub priority: i64,
    source: Source,
}

impl Column {
    fn new(name: &str, type_: &str, priority: i64, description: &str, source: Source) -> Self {
        Self {
            name: name.to_owned(),
            type_: type_.to_owned(),
            format: String::new(),
            description: description.to_owned(),
            priority,
            source,
        }
    }

    fn name_column() -> Self {
        Self {
            format: "name".to_owned(),
            ..Self::new("Name", "string", 0, NAME_DESCRIPTION, Source::Name)
        }
    }

    fn age_column() -> Self {
        Self::new("Age", "string", 0, AGE_DESCRIPTION, Source::Age)
    }

    fn builtin(name: &str, priority: i64, f: fn(&Value, Timestamp) -> Value) -> Self {
        Self::new(name, "string", priority, "", Source::Builtin(f))
    }

    fn cell(&self, obj: &Value, now: Timestamp) -> Value {
        match &self.source {
            Source::Name => json!(text(obj, "/metadata/name")),
            Source::Age => json!(age_of(obj.pointer("/metadata/creationTimestamp"), now)),
            Source::Builtin(f) => f(obj, now),
            Source::Path(p) => match p.first(obj) {
                None | Some(Value::Null) => Value::Null,
                Some(v) => typed_cell(&self.type_, v, now),
            },
        }
    }
}

/// The columns of a table.
#[derive(Clone, Debug)]
pub struct TableColumns {
    /// The columns, in order.
    pub columns: Vec<Column>,
}

impl TableColumns {
    /// Name and Age: what kinds without a dedicated printer (and CRDs without printer columns)
    /// show.
    pub fn default_columns() -> Self {
        Self {
            columns: vec![Column::name_column(), Column::age_column()],
        }
    }

    /// The columns of a custom resource: Name, then its CRD version's
    /// `additionalPrinterColumns` (`name`, `type`, `format`, `description`, `priority`,
    /// `jsonPath`); Name and Age when there are none.
    pub fn from_printer_columns(columns: &[Value]) -> Result<Self, TableError> {
        if columns.is_empty() {
            return Ok(Self::default_columns());
        }
        let mut out = vec![Column::name_column()];
        for c in columns {
            let get = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or_default();
            let name = get("name");
            let path = JsonPath::parse_inner(get("jsonPath")).map_err(|reason| {
                TableError::BadJsonPath {
                    column: name.to_owned(),
                    reason,
                }
            })?;
            out.push(Column {
                name: name.to_owned(),
                type_: get("type").to_owned(),
                format: get("format").to_owned(),
                description: get("description").to_owned(),
                priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                source: Source::Path(path),
            });
        }
        Ok(Self { columns: out })
    }

    /// The apiserver's printer columns of a built-in kind (Name and Age for kinds without one).
    pub fn for_builtin(kind: &str) -> Self {
        let n = Column::name_column;
        let a = Column::age_column;
        let b = Column::builtin;
        let columns = match kind {
            "Service" => vec![
                n(),
                b("Type", 0, |o, _| json!(text(o, "/spec/type"))),
                b("Cluster-IP", 0, |o, _| {
                    json!(or_none(text(o, "/spec/clusterIP")))
                }),
                b("External-IP", 0, |o, _| json!(service_external_ip(o))),
                b("Port(s)", 0, |o, _| json!(service_ports(o))),
                a(),
                b("Selector", 1, |o, _| {
                    json!(format_labels(o.pointer("/spec/selector")))
                }),
            ],
            "Node" => vec![
                n(),
                b("Status", 0, |o, _| json!(node_status(o))),
                b("Roles", 0, |o, _| json!(node_roles(o))),
                a(),
                b("Version", 0, |o, _| {
                    json!(text(o, "/status/nodeInfo/kubeletVersion"))
                }),
                b("Internal-IP", 1, |o, _| {
                    json!(node_address(o, "InternalIP"))
                }),
                b("External-IP", 1, |o, _| {
                    json!(node_address(o, "ExternalIP"))
                }),
            ],
            "Namespace" => vec![
                n(),
                b("Status", 0, |o, _| json!(text(o, "/status/phase"))),
                a(),
            ],
            "Pod" => vec![
                n(),
                b("Ready", 0, |o, _| json!(pod_ready(o))),
                b("Status", 0, |o, _| json!(pod_status(o))),
                b("Restarts", 0, |o, _| json!(pod_restarts(o))),
                a(),
                b("IP", 1, |o, _| json!(or_none(text(o, "/status/podIP")))),
                b("Node", 1, |o, _| json!(or_none(text(o, "/spec/nodeName")))),
            ],
            "ConfigMap" => vec![
                n(),
                b("Data", 0, |o, _| {
                    json!(count(o, "data") + count(o, "binaryData"))
                }),
                a(),
            ],
            "Secret" => vec![
                n(),
                b("Type", 0, |o, _| json!(text(o, "/type"))),
                b("Data", 0, |o, _| json!(count(o, "data"))),
                a(),
            ],
            "Deployment" => vec![
                n(),
                b("Ready", 0, |o, _| {
                    json!(format!(
                        "{}/{}",
                        int(o, "/status/readyReplicas"),
                        int(o, "/spec/replicas")
                    ))
                }),
                b("Up-to-date", 0, |o, _| {
                    json!(int(o, "/status/updatedReplicas"))
                }),
                b("Available", 0, |o, _| {
                    json!(int(o, "/status/availableReplicas"))
                }),
                a(),
            ],
            "Lease" => vec![
                n(),
                b("Holder", 0, |o, _| json!(text(o, "/spec/holderIdentity"))),
                a(),
            ],
            "Ingress" => vec![
                n(),
                b("Class", 0, |o, _| {
                    json!(or_none(text(o, "/spec/ingressClassName")))
                }),
                b("Hosts", 0, |o, _| json!(ingress_hosts(o))),
                b("Address", 0, |o, _| {
                    json!(lb_ingress(o.pointer("/status/loadBalancer"), true))
                }),
                b("Ports", 0, |o, _| {
                    json!(if o
                        .pointer("/spec/tls")
                        .and_then(Value::as_array)
                        .is_some_and(|t| !t.is_empty())
                    {
                        "80, 443"
                    } else {
                        "80"
                    })
                }),
                a(),
            ],
            "CustomResourceDefinition" | "Role" | "ClusterRole" => vec![
                n(),
                Column::new(
                    "Created At",
                    "date",
                    0,
                    AGE_DESCRIPTION,
                    Source::Builtin(|o, _| json!(text(o, "/metadata/creationTimestamp"))),
                ),
            ],
            "RoleBinding" | "ClusterRoleBinding" => vec![
                n(),
                b("Role", 0, |o, _| {
                    json!(format!(
                        "{}/{}",
                        text(o, "/roleRef/kind"),
                        text(o, "/roleRef/name")
                    ))
                }),
                a(),
            ],
            "Event" => vec![
                b("Last Seen", 0, event_last_seen),
                b("Type", 0, |o, _| json!(text(o, "/type"))),
                b("Reason", 0, |o, _| json!(text(o, "/reason"))),
                b("Object", 0, |o, _| {
                    json!(format!(
                        "{}/{}",
                        text(o, "/involvedObject/kind").to_lowercase(),
                        text(o, "/involvedObject/name")
                    ))
                }),
                b("Subobject", 1, |o, _| {
                    json!(text(o, "/involvedObject/fieldPath"))
                }),
                b("Source", 1, |o, _| json!(event_source(o))),
                b("Message", 0, |o, _| json!(text(o, "/message").trim())),
                b("First Seen", 1, |o, now| {
                    json!(age_of(o.pointer("/firstTimestamp"), now))
                }),
                b("Count", 1, |o, _| json!(int(o, "/count").to_string())),
                Column {
                    priority: 1,
                    ..Column::name_column()
                },
            ],
            "Endpoints" => vec![n(), b("Endpoints", 0, |o, _| json!(endpoints(o))), a()],
            "EndpointSlice" => vec![
                n(),
                b("AddressType", 0, |o, _| json!(text(o, "/addressType"))),
                b("Ports", 0, |o, _| json!(slice_ports(o))),
                b("Endpoints", 0, |o, _| json!(slice_endpoints(o))),
                a(),
            ],
            "IngressClass" => vec![
                n(),
                b("Controller", 0, |o, _| json!(text(o, "/spec/controller"))),
                b("Parameters", 0, |o, _| {
                    json!(
                        match o.pointer("/spec/parameters").filter(|p| p.is_object()) {
                            None => "<none>".to_owned(),
                            Some(p) => {
                                let group = text(p, "/apiGroup");
                                let kind = text(p, "/kind");
                                let name = text(p, "/name");
                                if group.is_empty() {
                                    format!("{kind}/{name}")
                                } else {
                                    format!("{group}/{kind}/{name}")
                                }
                            }
                        }
                    )
                }),
                a(),
            ],
            "ServiceAccount" => vec![
                n(),
                b("Secrets", 0, |o, _| {
                    json!(
                        o.get("secrets")
                            .and_then(Value::as_array)
                            .map_or(0, Vec::len)
                    )
                }),
                a(),
            ],
            _ => vec![n(), a()],
        };
        Self { columns }
    }
}

/// Renders a `meta.k8s.io/v1` Table of `objects`. `list_meta` becomes the table's `metadata`
/// (`resourceVersion`, `continue`, `remainingItemCount`); `include_object` is the request's
/// `includeObject`: `None` (no object), `Metadata` (default: a `PartialObjectMetadata`) or
/// `Object` (the full object); `now` is the time ages are computed against.
pub fn to_table(
    cols: &TableColumns,
    objects: &[Value],
    list_meta: Value,
    include_object: &str,
    now: Timestamp,
) -> Value {
    let defs: Vec<Value> = cols
        .columns
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "type": c.type_,
                "format": c.format,
                "description": c.description,
                "priority": c.priority,
            })
        })
        .collect();
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let cells: Vec<Value> = cols.columns.iter().map(|c| c.cell(o, now)).collect();
            let mut row = Map::new();
            row.insert("cells".into(), Value::Array(cells));
            match include_object {
                "None" => {}
                "Object" => {
                    row.insert("object".into(), o.clone());
                }
                _ => {
                    row.insert(
                        "object".into(),
                        json!({
                            "kind": "PartialObjectMetadata",
                            "apiVersion": "meta.k8s.io/v1",
                            "metadata": o.get("metadata").cloned().unwrap_or_else(|| json!({})),
                        }),
                    );
                }
            }
            Value::Object(row)
        })
        .collect();
    let metadata = if list_meta.is_object() {
        list_meta
    } else {
        json!({})
    };
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": defs,
        "rows": rows,
    })
}

// ---------------------------------------------------------------------------------------------
// Ages.
// ---------------------------------------------------------------------------------------------

/// kubectl's age of a duration in seconds (`duration.HumanDuration`).
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".to_owned();
    }
    if seconds < 0 {
        return "0s".to_owned();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// The age of an RFC 3339 timestamp at `now` (`<unknown>` when absent, `<invalid>` when
/// unparsable).
pub fn age_of(ts: Option<&Value>, now: Timestamp) -> String {
    let Some(s) = ts.and_then(Value::as_str).filter(|s| !s.is_empty()) else {
        return "<unknown>".to_owned();
    };
    match s.parse::<Timestamp>() {
        Ok(t) => human_duration(now.as_second() - t.as_second()),
        Err(_) => "<invalid>".to_owned(),
    }
}

fn typed_cell(type_: &str, v: &Value, now: Timestamp) -> Value {
    match type_ {
        "integer" => v
            .as_i64()
            .or_else(|| v.as_f64().map(|f| f as i64))
            .map_or(Value::Null, Value::from),
        "number" => v.as_f64().map_or(Value::Null, Value::from),
        "boolean" => v.as_bool().map_or(Value::Null, Value::Bool),
        "date" => match v.as_str() {
            Some(_) => json!(age_of(Some(v), now)),
            None => Value::Null,
        },
        _ => json!(match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// JSONPath (the subset printer columns use).
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
enum Step {
    Field(String),
    Index(i64),
    All,
    Filter {
        path: Vec<String>,
        negate: bool,
        value: Value,
    },
}

/// A parsed JSONPath expression such as `.status.conditions[?(@.type=="Ready")].status`.
#[derive(Clone, Debug, PartialEq)]
pub struct JsonPath {
    steps: Vec<Step>,
}

impl JsonPath {
    /// Parses the relaxed forms kubectl and the apiserver accept: `.a.b`, `{.a.b}`, `$.a`,
    /// `a.b`, with `[n]`, `[*]`, `['key']` and `[?(@.x=="v")]` / `!=` steps.
    pub fn parse(expr: &str) -> Result<Self, TableError> {
        Self::parse_inner(expr).map_err(|reason| TableError::InvalidJsonPath {
            expr: expr.to_owned(),
            reason,
        })
    }

    fn parse_inner(expr: &str) -> Result<Self, String> {
        let mut e = expr.trim();
        if let Some(inner) = e.strip_prefix('{').and_then(|x| x.strip_suffix('}')) {
            e = inner.trim();
        }
        e = e.strip_prefix('$').unwrap_or(e);
        let chars: Vec<char> = e.chars().collect();
        let mut steps = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '.' => {
                    i += 1;
                }
                '[' => {
                    let close = find_close(&chars, i).ok_or("unclosed [")?;
                    let inner: String = chars[i + 1..close].iter().collect();
                    steps.push(parse_bracket(inner.trim())?);
                    i = close + 1;
                }
                _ => {
                    let start = i;
                    while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                        i += 1;
                    }
                    let name: String = chars[start..i].iter().collect();
                    if name == "*" {
                        steps.push(Step::All);
                    } else {
                        steps.push(Step::Field(name));
                    }
                }
            }
        }
        if steps.is_empty() && !e.is_empty() && e != "." {
            return Err(format!("unrecognized JSONPath {expr:?}"));
        }
        Ok(Self { steps })
    }

    /// Every value the path selects, in document order.
    pub fn find<'v>(&self, obj: &'v Value) -> Vec<&'v Value> {
        let mut cur = vec![obj];
        for step in &self.steps {
            let mut next = Vec::new();
            for v in cur {
                match step {
                    Step::Field(f) => {
                        if let Some(x) = v.get(f) {
                            next.push(x);
                        }
                    }
                    Step::Index(i) => {
                        if let Some(a) = v.as_array() {
                            let idx = if *i < 0 { a.len() as i64 + i } else { *i };
                            if let Some(x) = usize::try_from(idx).ok().and_then(|k| a.get(k)) {
                                next.push(x);
                            }
                        }
                    }
                    Step::All => match v {
                        Value::Array(a) => next.extend(a.iter()),
                        Value::Object(m) => next.extend(m.values()),
                        _ => {}
                    },
                    Step::Filter {
                        path,
                        negate,
                        value,
                    } => {
                        if let Some(a) = v.as_array() {
                            for item in a {
                                let mut x = Some(item);
                                for p in path {
                                    x = x.and_then(|y| y.get(p));
                                }
                                let matched = x.is_some_and(|x| loose_eq(x, value));
                                if matched != *negate && (x.is_some() || *negate) {
                                    next.push(item);
                                }
                            }
                        }
                    }
                }
            }
            cur = next;
        }
        cur
    }

    /// The first value the path selects.
    pub fn first<'v>(&self, obj: &'v Value) -> Option<&'v Value> {
        self.find(obj).into_iter().next()
    }
}

fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::String(x), Value::Number(_) | Value::Bool(_)) => b.to_string().eq(x),
        (Value::Number(_) | Value::Bool(_), Value::String(y)) => a.to_string().eq(y),
        _ => a == b,
    }
}

fn find_close(chars: &[char], open: usize) -> Option<usize> {
    let mut depth = 0;
    let mut quote: Option<char> = None;
    for (j, c) in chars.iter().enumerate().skip(open) {
        if let Some(q) = quote {
            if *c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(*c),
            '[' => depth += 1,
            ']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(j);
                }
            }
            _ => {}
        }
    }
    None
}

fn unquote(s: &str) -> Option<&str> {
    s.strip_prefix('\'')
        .and_then(|x| x.strip_suffix('\''))
        .or_else(|| s.strip_prefix('"').and_then(|x| x.strip_suffix('"')))
}

fn parse_bracket(inner: &str) -> Result<Step, String> {
    if inner == "*" {
        return Ok(Step::All);
    }
    if let Ok(i) = inner.parse::<i64>() {
        return Ok(Step::Index(i));
    }
    if let Some(name) = unquote(inner) {
        return Ok(Step::Field(name.to_owned()));
    }
    let Some(f) = inner
        .strip_prefix("?(")
        .and_then(|x| x.strip_suffix(')'))
        .map(str::trim)
    else {
        return Err(format!("unsupported step [{inner}]"));
    };
    let (lhs, negate, rhs) = if let Some((l, r)) = f.split_once("!=") {
        (l, true, r)
    } else if let Some((l, r)) = f.split_once("==") {
        (l, false, r)
    } else {
        return Err(format!("unsupported filter {f}"));
    };
    let path: Vec<String> = lhs
        .trim()
        .strip_prefix('@')
        .ok_or_else(|| format!("filter must start with @: {f}"))?
        .split('.')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    let rhs = rhs.trim();
    let value = match unquote(rhs) {
        Some(s) => Value::String(s.to_owned()),
        None => serde_json::from_str(rhs).map_err(|_| format!("bad filter value {rhs}"))?,
    };
    Ok(Step::Filter {
        path,
        negate,
        value,
    })
}

// ---------------------------------------------------------------------------------------------
// Built-in printers.
// ---------------------------------------------------------------------------------------------

fn text(o: &Value, ptr: &str) -> String {
    o.pointer(ptr)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn int(o: &Value, ptr: &str) -> i64 {
    o.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

fn count(o: &Value, field: &str) -> usize {
    o.get(field).and_then(Value::as_object).map_or(0, Map::len)
}

fn or_none(s: String) -> String {
    if s.is_empty() { "<none>".to_owned() } else { s }
}

fn strings(o: &Value, ptr: &str) -> Vec<String> {
    o.pointer(ptr)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn format_labels(m: Option<&Value>) -> String {
    let pairs: Vec<String> = m
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    if pairs.is_empty() {
        "<none>".to_owned()
    } else {
        pairs.join(",")
    }
}

/// `loadBalancerStatusStringer`: ingress IPs/hostnames, truncated to 13 characters + `...` when
/// longer than 16 and not wide.
fn lb_ingress(status: Option<&Value>, wide: bool) -> String {
    let ingress: Vec<String> = status
        .and_then(|s| s.get("ingress"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|i| {
                    let ip = i.get("ip").and_then(Value::as_str).unwrap_or_default();
                    let host = i
                        .get("hostname")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    if !ip.is_empty() {
                        Some(ip.to_owned())
                    } else if !host.is_empty() {
                        Some(host.to_owned())
                    } else {
                        None
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let r = ingress.join(",");
    if !wide && r.len() > 16 {
        format!("{}...", r.chars().take(13).collect::<String>())
    } else {
        r
    }
}

fn service_external_ip(o: &Value) -> String {
    let external = strings(o, "/spec/externalIPs");
    match o
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
    {
        "ClusterIP" | "NodePort" => {
            if external.is_empty() {
                "<none>".to_owned()
            } else {
                external.join(",")
            }
        }
        "LoadBalancer" => {
            let lb = lb_ingress(o.pointer("/status/loadBalancer"), false);
            if !external.is_empty() {
                let mut all: Vec<String> = if lb.is_empty() {
                    Vec::new()
                } else {
                    lb.split(',').map(str::to_owned).collect()
                };
                all.extend(external);
                all.join(",")
            } else if lb.is_empty() {
                "<pending>".to_owned()
            } else {
                lb
            }
        }
        "ExternalName" => text(o, "/spec/externalName"),
        _ => "<unknown>".to_owned(),
    }
}

fn service_ports(o: &Value) -> String {
    let ports = o
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    if ports.is_empty() {
        return "<none>".to_owned();
    }
    ports
        .iter()
        .map(|p| {
            let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
            let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
            match p.get("nodePort").and_then(Value::as_i64).filter(|n| *n > 0) {
                Some(np) => format!("{port}:{np}/{proto}"),
                None => format!("{port}/{proto}"),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn node_status(o: &Value) -> String {
    let mut status = Vec::new();
    let ready = o
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .rev()
                .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
        });
    match ready {
        Some(c) if c.get("status").and_then(Value::as_str) == Some("True") => {
            status.push("Ready".to_owned());
        }
        Some(_) => status.push("NotReady".to_owned()),
        None => status.push("Unknown".to_owned()),
    }
    if o.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push("SchedulingDisabled".to_owned());
    }
    status.join(",")
}

fn node_roles(o: &Value) -> String {
    let mut roles: Vec<String> = Vec::new();
    if let Some(labels) = o.pointer("/metadata/labels").and_then(Value::as_object) {
        for (k, v) in labels {
            if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                if !role.is_empty() {
                    roles.push(role.to_owned());
                }
            } else if k == "kubernetes.io/role"
                && let Some(r) = v.as_str().filter(|r| !r.is_empty())
            {
                roles.push(r.to_owned());
            }
        }
    }
    roles.sort();
    roles.dedup();
    if roles.is_empty() {
        "<none>".to_owned()
    } else {
        roles.join(",")
    }
}

fn node_address(o: &Value, ty: &str) -> String {
    o.pointer("/status/addresses")
        .and_then(Value::as_array)
        .and_then(|a| {
            a.iter()
                .find(|x| x.get("type").and_then(Value::as_str) == Some(ty))
                .and_then(|x| x.get("address").and_then(Value::as_str))
        })
        .map_or_else(|| "<none>".to_owned(), str::to_owned)
}

fn pod_ready(o: &Value) -> String {
    let total = o
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let ready = o
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .map_or(0, |a| {
            a.iter()
                .filter(|c| c.get("ready").and_then(Value::as_bool) == Some(true))
                .count()
        });
    format!("{ready}/{total}")
}

fn pod_status(o: &Value) -> String {
    if o.pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
    {
        return "Terminating".to_owned();
    }
    let reason = text(o, "/status/reason");
    if !reason.is_empty() {
        return reason;
    }
    let phase = text(o, "/status/phase");
    if phase.is_empty() {
        "Pending".to_owned()
    } else {
        phase
    }
}

fn pod_restarts(o: &Value) -> i64 {
    o.pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .map_or(0, |a| {
            a.iter()
                .filter_map(|c| c.get("restartCount").and_then(Value::as_i64))
                .sum()
        })
}

fn ingress_hosts(o: &Value) -> String {
    let hosts: Vec<String> = o
        .pointer("/spec/rules")
        .and_then(Value::as_array)
        .map(|rules| {
            rules
                .iter()
                .filter_map(|r| r.get("host").and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if hosts.is_empty() {
        "*".to_owned()
    } else if hosts.len() > 4 {
        format!("{} + {} more...", hosts[..4].join(","), hosts.len() - 4)
    } else {
        hosts.join(",")
    }
}

fn event_last_seen(o: &Value, now: Timestamp) -> Value {
    let last = [
        "/series/lastObservedTime",
        "/lastTimestamp",
        "/eventTime",
        "/metadata/creationTimestamp",
    ]
    .iter()
    .find_map(|p| {
        o.pointer(p)
            .filter(|v| v.as_str().is_some_and(|s| !s.is_empty()))
    });
    let last_age = age_of(last, now);
    let count = int(o, "/count");
    let first = o
        .pointer("/firstTimestamp")
        .filter(|v| v.as_str().is_some_and(|s| !s.is_empty()));
    match first {
        Some(first) if count > 1 => json!(format!(
            "{last_age} (x{count} over {})",
            age_of(Some(first), now)
        )),
        _ => json!(last_age),
    }
}

fn event_source(o: &Value) -> String {
    let (a, b) = (text(o, "/source/component"), text(o, "/source/host"));
    let (a, b) = if a.is_empty() {
        (
            text(o, "/reportingComponent"),
            text(o, "/reportingInstance"),
        )
    } else {
        (a, b)
    };
    if b.is_empty() { a } else { format!("{a}, {b}") }
}

fn join_max3(list: &[String], count: usize) -> String {
    let shown: Vec<&str> = list.iter().take(3).map(String::as_str).collect();
    if count > 3 {
        format!("{} + {} more...", shown.join(","), count - 3)
    } else {
        shown.join(",")
    }
}

fn host_port(ip: &str, port: i64) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// `formatEndpoints`: `ip:port` per address and port, at most 3, then ` + N more...`.
fn endpoints(o: &Value) -> String {
    let subsets = o
        .get("subsets")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    if subsets.is_empty() {
        return "<none>".to_owned();
    }
    let mut list = Vec::new();
    for ss in subsets {
        let addrs: Vec<String> = strings_at(ss, "addresses", "ip");
        let ports = ss
            .get("ports")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        if ports.is_empty() {
            list.extend(addrs);
        } else {
            for p in ports {
                let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
                list.extend(addrs.iter().map(|ip| host_port(ip, port)));
            }
        }
    }
    join_max3(&list, list.len())
}

fn strings_at(v: &Value, list: &str, field: &str) -> Vec<String> {
    v.get(list)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.get(field).and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn slice_ports(o: &Value) -> String {
    let ports: Vec<String> = o
        .get("ports")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|p| p.get("port").and_then(Value::as_i64))
                .map(|p| p.to_string())
                .collect()
        })
        .unwrap_or_default();
    if ports.is_empty() {
        "<unset>".to_owned()
    } else {
        join_max3(&ports, ports.len())
    }
}

fn slice_endpoints(o: &Value) -> String {
    let addrs: Vec<String> = o
        .get("endpoints")
        .and_then(Value::as_array)
        .map(|eps| {
            eps.iter()
                .flat_map(|e| {
                    e.get("addresses")
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(Value::as_str)
                                .map(str::to_owned)
                                .collect::<Vec<_>>()
                        })
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default();
    if addrs.is_empty() {
        "<unset>".to_owned()
    } else {
        join_max3(&addrs, addrs.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-01-10T00:00:00Z".parse().unwrap()
    }

    fn meta(name: &str, created: &str) -> Value {
        json!({"name": name, "namespace": "default", "creationTimestamp": created})
    }

    #[test]
    fn human_duration_matches_kubectl() {
        let cases = [
            (-5, "<invalid>"),
            (-1, "0s"),
            (5, "5s"),
            (119, "119s"),
            (120, "2m"),
            (200, "3m20s"),
            (600, "10m"),
            (179 * 60, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 5 * 60, "3h5m"),
            (10 * 3600, "10h"),
            (2 * 86400, "2d"),
            (2 * 86400 + 4 * 3600, "2d4h"),
            (30 * 86400, "30d"),
            (3 * 365 * 86400, "3y"),
            (3 * 365 * 86400 + 10 * 86400, "3y10d"),
            (9 * 365 * 86400, "9y"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_duration(secs), want, "{secs}s");
        }
    }

    #[test]
    fn service_table_has_kubectl_columns_and_cells() {
        let svc = json!({
            "metadata": meta("web", "2026-01-09T23:55:00Z"),
            "spec": {"type": "LoadBalancer", "clusterIP": "10.0.0.10",
                     "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30080}, {"port": 53, "protocol": "UDP"}],
                     "selector": {"app": "web"}},
            "status": {"loadBalancer": {}}
        });
        let t = to_table(
            &TableColumns::for_builtin("Service"),
            &[svc],
            json!({"resourceVersion": "7"}),
            "Metadata",
            now(),
        );
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(t["metadata"]["resourceVersion"], "7");
        let names: Vec<&str> = t["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "Name",
                "Type",
                "Cluster-IP",
                "External-IP",
                "Port(s)",
                "Age",
                "Selector"
            ]
        );
        assert_eq!(t["columnDefinitions"][0]["format"], "name");
        assert_eq!(t["columnDefinitions"][6]["priority"], 1);
        assert_eq!(
            t["rows"][0]["cells"],
            json!([
                "web",
                "LoadBalancer",
                "10.0.0.10",
                "<pending>",
                "80:30080/TCP,53/UDP",
                "5m",
                "app=web"
            ])
        );
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(t["rows"][0]["object"]["metadata"]["name"], "web");
    }

    #[test]
    fn load_balancer_ingress_is_shown_and_truncated() {
        let svc = json!({"metadata": meta("a", "2026-01-09T00:00:00Z"),
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.10"}, {"ip": "203.0.113.11"}]}}});
        assert_eq!(service_external_ip(&svc), "203.0.113.10,...");
        let one = json!({"spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}});
        assert_eq!(service_external_ip(&one), "1.2.3.4");
        assert_eq!(
            service_external_ip(&json!({"spec": {"type": "ClusterIP"}})),
            "<none>"
        );
    }

    #[test]
    fn node_table_shows_status_roles_and_version() {
        let node = json!({
            "metadata": {"name": "n1", "creationTimestamp": "2026-01-08T00:00:00Z",
                         "labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "worker"}},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "Ready", "status": "True"}], "nodeInfo": {"kubeletVersion": "v1.31.0"}}
        });
        let t = to_table(
            &TableColumns::for_builtin("Node"),
            &[node],
            json!({}),
            "None",
            now(),
        );
        assert_eq!(
            t["rows"][0]["cells"],
            json!([
                "n1",
                "Ready,SchedulingDisabled",
                "control-plane,worker",
                "2d",
                "v1.31.0",
                "<none>",
                "<none>"
            ])
        );
        assert!(t["rows"][0].get("object").is_none());
        assert_eq!(node_status(&json!({})), "Unknown");
    }

    #[test]
    fn namespace_and_default_tables() {
        let ns = json!({"metadata": {"name": "vlb", "creationTimestamp": "2026-01-09T23:59:50Z"}, "status": {"phase": "Active"}});
        let t = to_table(
            &TableColumns::for_builtin("Namespace"),
            std::slice::from_ref(&ns),
            json!({}),
            "Object",
            now(),
        );
        assert_eq!(t["rows"][0]["cells"], json!(["vlb", "Active", "10s"]));
        assert_eq!(t["rows"][0]["object"], ns);
        let d = to_table(
            &TableColumns::for_builtin("PersistentVolume"),
            &[json!({"metadata": {"name": "e"}})],
            json!({}),
            "None",
            now(),
        );
        assert_eq!(d["rows"][0]["cells"], json!(["e", "<unknown>"]));
    }

    #[test]
    fn printer_columns_evaluate_jsonpaths_with_types() {
        let cols = TableColumns::from_printer_columns(&[
            json!({"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"}),
            json!({"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas", "priority": 1}),
            json!({"name": "Address", "type": "string", "jsonPath": ".status.addresses[0]"}),
            json!({"name": "Missing", "type": "string", "jsonPath": ".status.nothing"}),
            json!({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}),
        ])
        .unwrap();
        let cr = json!({"metadata": meta("lb1", "2026-01-09T21:00:00Z"),
            "spec": {"replicas": 2.0},
            "status": {"conditions": [{"type": "Synced", "status": "False"}, {"type": "Ready", "status": "True"}],
                       "addresses": ["1.2.3.4", "5.6.7.8"]}});
        let t = to_table(&cols, &[cr], json!({}), "Metadata", now());
        assert_eq!(
            t["rows"][0]["cells"],
            json!(["lb1", "True", 2, "1.2.3.4", null, "3h"])
        );
        assert_eq!(t["columnDefinitions"][2]["priority"], 1);
        assert_eq!(t["columnDefinitions"][5]["type"], "date");
    }

    #[test]
    fn crd_without_printer_columns_gets_name_and_age() {
        let cols = TableColumns::from_printer_columns(&[]).unwrap();
        let names: Vec<&str> = cols.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["Name", "Age"]);
    }

    #[test]
    fn jsonpath_forms() {
        let obj = json!({"a": {"b.c": [1, 2, 3], "d": [{"k": "x", "v": 1}, {"k": "y", "v": 2}]}});
        let p = |e: &str| JsonPath::parse(e).unwrap();
        assert_eq!(p("{.a['b.c'][1]}").first(&obj), Some(&json!(2)));
        assert_eq!(p("$.a.d[-1].v").first(&obj), Some(&json!(2)));
        assert_eq!(p(".a.d[*].k").find(&obj), vec![&json!("x"), &json!("y")]);
        assert_eq!(p(".a.d[?(@.k!='x')].v").first(&obj), Some(&json!(2)));
        assert_eq!(p(".a.d[?(@.v==1)].k").first(&obj), Some(&json!("x")));
        assert!(JsonPath::parse(".a[?(@.k~x)]").is_err());
        assert!(JsonPath::parse(".a[1").is_err());
        assert!(
            TableColumns::from_printer_columns(&[json!({"name": "X", "jsonPath": ".a[bad"})])
                .is_err()
        );
    }

    #[test]
    fn other_builtin_printers() {
        let cm = json!({"metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}, "binaryData": {"c": ""}});
        let t = to_table(
            &TableColumns::for_builtin("ConfigMap"),
            &[cm],
            json!({}),
            "None",
            now(),
        );
        assert_eq!(t["rows"][0]["cells"][1], 3);
        let pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{}, {}]},
                         "status": {"phase": "Running", "containerStatuses": [{"ready": true, "restartCount": 2}, {"ready": false, "restartCount": 1}]}});
        let t = to_table(
            &TableColumns::for_builtin("Pod"),
            &[pod],
            json!({}),
            "None",
            now(),
        );
        assert_eq!(
            t["rows"][0]["cells"],
            json!(["p", "1/2", "Running", 3, "<unknown>", "<none>", "<none>"])
        );
        let lease = json!({"metadata": {"name": "l"}, "spec": {"holderIdentity": "vlb-0"}});
        let t = to_table(
            &TableColumns::for_builtin("Lease"),
            &[lease],
            json!({}),
            "None",
            now(),
        );
        assert_eq!(t["rows"][0]["cells"][1], "vlb-0");
        let ing = json!({"metadata": {"name": "i"}, "spec": {"rules": [{"host": "a.example.com"}], "tls": [{}]}});
        let t = to_table(
            &TableColumns::for_builtin("Ingress"),
            &[ing],
            json!({}),
            "None",
            now(),
        );
        assert_eq!(
            t["rows"][0]["cells"],
            json!(["i", "<none>", "a.example.com", "", "80, 443", "<unknown>"])
        );
    }

    #[test]
    fn event_table_starts_with_last_seen_and_counts_repeats() {
        let ev = json!({"metadata": {"name": "web.1", "creationTimestamp": "2026-01-09T23:00:00Z"},
            "type": "Warning", "reason": "SyncFailed", "message": " boom ",
            "involvedObject": {"kind": "Service", "name": "web"},
            "source": {"component": "vlb"}, "count": 3,
            "firstTimestamp": "2026-01-09T23:00:00Z", "lastTimestamp": "2026-01-09T23:59:00Z"});
        let t = to_table(
            &TableColumns::for_builtin("Event"),
            &[ev],
            json!({}),
            "None",
            now(),
        );
        assert_eq!(
            t["rows"][0]["cells"],
            json!([
                "60s (x3 over 60m)",
                "Warning",
                "SyncFailed",
                "service/web",
                "",
                "vlb",
                "boom",
                "60m",
                "3",
                "web.1"
            ])
        );
        assert_eq!(t["columnDefinitions"][9]["format"], "name");
    }

    #[test]
    fn endpoints_tables_list_at_most_three_addresses() {
        let ep = json!({"metadata": {"name": "e"}, "subsets": [{"addresses": [
            {"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}, {"ip": "fd00::1"}, {"ip": "10.0.0.4"}],
            "ports": [{"port": 80}]}]});
        assert_eq!(
            endpoints(&ep),
            "10.0.0.1:80,10.0.0.2:80,[fd00::1]:80 + 1 more..."
        );
        assert_eq!(endpoints(&json!({})), "<none>");
        let es = json!({"addressType": "IPv4", "ports": [{"port": 80}], "endpoints": [{"addresses": ["1.1.1.1"]}]});
        assert_eq!(slice_ports(&es), "80");
        assert_eq!(slice_endpoints(&es), "1.1.1.1");
        assert_eq!(slice_endpoints(&json!({})), "<unset>");
    }

    #[test]
    fn rbac_and_class_tables() {
        let rb =
            json!({"metadata": {"name": "b"}, "roleRef": {"kind": "ClusterRole", "name": "vlb"}});
        let t = to_table(
            &TableColumns::for_builtin("ClusterRoleBinding"),
            &[rb],
            json!({}),
            "None",
            now(),
        );
        assert_eq!(
            t["rows"][0]["cells"],
            json!(["b", "ClusterRole/vlb", "<unknown>"])
        );
        let ic = json!({"metadata": {"name": "vngcloud"}, "spec": {"controller": "vngcloud.vn/ingress"}});
        let t = to_table(
            &TableColumns::for_builtin("IngressClass"),
            &[ic],
            json!({}),
            "None",
            now(),
        );
        assert_eq!(
            t["rows"][0]["cells"],
            json!(["vngcloud", "vngcloud.vn/ingress", "<none>", "<unknown>"])
        );
        let role = json!({"metadata": {"name": "r", "creationTimestamp": "2026-01-01T00:00:00Z"}});
        let t = to_table(
            &TableColumns::for_builtin("Role"),
            &[role],
            json!({}),
            "None",
            now(),
        );
        assert_eq!(t["rows"][0]["cells"], json!(["r", "2026-01-01T00:00:00Z"]));
    }

    use crate::test_support::arbitrary_json;

    proptest::proptest! {
        #[test]
        fn rendering_never_panics(objs in proptest::collection::vec(arbitrary_json(), 0..3), k in 0usize..17) {
            let kinds = ["Service", "Node", "Namespace", "Pod", "ConfigMap", "Secret", "Deployment",
                         "Lease", "Ingress", "CustomResourceDefinition", "Event", "Endpoints",
                         "EndpointSlice", "IngressClass", "ServiceAccount", "RoleBinding", "Widget"];
            let t = to_table(&TableColumns::for_builtin(kinds[k]), &objs, json!({}), "Metadata", now());
            proptest::prop_assert_eq!(t["rows"].as_array().map(Vec::len), Some(objs.len()));
            let cols = TableColumns::from_printer_columns(&[
                json!({"name": "P", "type": "integer", "jsonPath": ".spec.ports[0].port"}),
                json!({"name": "D", "type": "date", "jsonPath": ".metadata.name"}),
            ]).unwrap();
            let _ = to_table(&cols, &objs, json!({}), "Object", now());
        }
    }
}
