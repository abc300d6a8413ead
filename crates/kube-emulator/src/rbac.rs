//! RBAC evaluation of one identity's rules, and the apiserver's 403 Forbidden wording.
//!
//! ```text
//!  request ──► RequestInfo (verb, group, resource, subresource, namespace, name)
//!                 │
//!                 ▼
//!  Authorizer { cluster-wide rules, per-namespace rules } ──allows?──► handler
//!                 │ no
//!                 ▼
//!  403 forbidden_status(): `services "x" is forbidden: User "u" cannot patch resource ...`
//! ```
//!
//! Matching follows `k8s.io/kubernetes/pkg/apis/rbac/v1` `RuleAllows`: verbs, apiGroups and
//! resources accept `*`; a resource entry may be `resource/subresource` or `*/subresource`; `*`
//! covers subresources too; `resourceNames` restricts the rule to requests that carry one of those
//! names (create, list, watch and deletecollection carry none unless the caller derived a name,
//! e.g. from a `metadata.name` field selector, so such rules never allow them);
//! `nonResourceURLs` accept exact paths, `*` and `prefix*`.

use k8s_openapi::api::rbac::v1::PolicyRule;
use serde_json::{Value, json};

/// The attributes of one resource request, as the apiserver's `RequestInfo` gives them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attributes<'a> {
    /// Lower-case verb: get, list, watch, create, update, patch, delete, deletecollection.
    pub verb: &'a str,
    /// API group, `""` for the core group.
    pub api_group: &'a str,
    /// Resource (plural), e.g. `services`.
    pub resource: &'a str,
    /// Subresource, e.g. `status`.
    pub subresource: Option<&'a str>,
    /// Namespace of a namespaced request; `None` at the cluster scope.
    pub namespace: Option<&'a str>,
    /// Object name when the request names one.
    pub name: Option<&'a str>,
}

/// The rules one identity holds: cluster-wide rules (ClusterRoles bound by ClusterRoleBindings)
/// and rules limited to a namespace (Roles or ClusterRoles bound by RoleBindings).
#[derive(Clone, Debug, Default)]
pub struct Authorizer {
    cluster_rules: Vec<PolicyRule>,
    namespaced_rules: Vec<(String, PolicyRule)>,
}

fn contains_or_star(list: &[String], want: &str) -> bool {
    list.iter().any(|v| v == "*" || v == want)
}

fn opt(list: Option<&Vec<String>>) -> &[String] {
    list.map_or(&[], Vec::as_slice)
}

/// Whether one rule allows a resource request (`rbacv1helpers.RuleAllows`).
pub fn rule_allows(rule: &PolicyRule, attrs: &Attributes<'_>) -> bool {
    if !contains_or_star(&rule.verbs, attrs.verb) {
        return false;
    }
    if !contains_or_star(opt(rule.api_groups.as_ref()), attrs.api_group) {
        return false;
    }
    let combined = match attrs.subresource {
        Some(sub) if !sub.is_empty() => format!("{}/{sub}", attrs.resource),
        _ => attrs.resource.to_owned(),
    };
    let resource_ok = opt(rule.resources.as_ref()).iter().any(|r| {
        r == "*"
            || *r == combined
            || attrs
                .subresource
                .is_some_and(|sub| !sub.is_empty() && *r == format!("*/{sub}"))
    });
    if !resource_ok {
        return false;
    }
    let names = opt(rule.resource_names.as_ref());
    names.is_empty() || attrs.name.is_some_and(|n| names.iter().any(|x| x == n))
}

/// Whether one rule allows a non-resource request (`rbacv1helpers.NonResourceURLMatches`).
pub fn rule_allows_non_resource(rule: &PolicyRule, path: &str, verb: &str) -> bool {
    if !contains_or_star(&rule.verbs, verb) {
        return false;
    }
    opt(rule.non_resource_urls.as_ref())
        .iter()
        .any(|u| u == "*" || u == path || u.strip_suffix('*').is_some_and(|p| path.starts_with(p)))
}

impl Authorizer {
    /// An authorizer whose rules apply in every namespace and at the cluster scope.
    pub fn new(rules: Vec<PolicyRule>) -> Self {
        Self {
            cluster_rules: rules,
            namespaced_rules: Vec::new(),
        }
    }

    /// Adds rules that apply only to requests in `namespace` (a RoleBinding).
    pub fn with_namespaced_rules(
        mut self,
        namespace: &str,
        rules: impl IntoIterator<Item = PolicyRule>,
    ) -> Self {
        self.namespaced_rules
            .extend(rules.into_iter().map(|r| (namespace.to_owned(), r)));
        self
    }

    /// Whether the identity may make this resource request.
    pub fn allows(&self, attrs: &Attributes<'_>) -> bool {
        self.cluster_rules.iter().any(|r| rule_allows(r, attrs))
            || attrs.namespace.is_some_and(|ns| {
                self.namespaced_rules
                    .iter()
                    .any(|(rns, r)| rns == ns && rule_allows(r, attrs))
            })
    }

    /// Whether the identity may make a non-resource request (`/healthz`, `/version`, ...).
    /// Only cluster-wide rules grant non-resource URLs, as in RBAC.
    pub fn allows_non_resource(&self, path: &str, verb: &str) -> bool {
        self.cluster_rules
            .iter()
            .any(|r| rule_allows_non_resource(r, path, verb))
    }
}

/// The identity a request is made as, for [`Authorizer::from_rbac_objects`].
#[derive(Clone, Copy, Debug)]
pub struct UserInfo<'a> {
    /// User name, e.g. `system:serviceaccount:vlb:vlb-controller` or `admin`.
    pub name: &'a str,
    /// Groups, e.g. `system:serviceaccounts`, `system:authenticated`.
    pub groups: &'a [String],
}

impl UserInfo<'_> {
    /// Whether an RBAC binding subject (`{kind, name, namespace}`) designates this user, as
    /// `appliesToUser` does (ServiceAccounts are users `system:serviceaccount:<ns>:<name>`).
    pub fn matches_subject(&self, subject: &Value) -> bool {
        let get = |k: &str| subject.get(k).and_then(Value::as_str).unwrap_or_default();
        match get("kind") {
            "User" => get("name") == self.name,
            "Group" => self.groups.iter().any(|g| g == get("name")),
            "ServiceAccount" => {
                format!("system:serviceaccount:{}:{}", get("namespace"), get("name")) == self.name
            }
            _ => false,
        }
    }
}

fn rules_of(obj: &Value) -> Vec<PolicyRule> {
    obj.get("rules")
        .and_then(Value::as_array)
        .map(|rules| {
            rules
                .iter()
                .filter_map(|r| serde_json::from_value::<PolicyRule>(r.clone()).ok())
                .collect()
        })
        .unwrap_or_default()
}

impl Authorizer {
    /// The rules `user` holds through stored RBAC objects (any mix of Role, ClusterRole,
    /// RoleBinding and ClusterRoleBinding as JSON): ClusterRoleBindings grant their ClusterRole
    /// everywhere, RoleBindings grant their Role or ClusterRole in the binding's namespace.
    /// Bindings to missing roles grant nothing; aggregated ClusterRoles count with the rules
    /// they carry.
    pub fn from_rbac_objects(user: &UserInfo<'_>, objects: &[Value]) -> Self {
        let kind = |o: &Value| {
            o.get("kind")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let meta = |o: &Value, f: &str| {
            o.pointer(&format!("/metadata/{f}"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let find_role = |role_kind: &str, name: &str, ns: &str| {
            objects.iter().find(|o| {
                kind(o) == role_kind
                    && meta(o, "name") == name
                    && (role_kind == "ClusterRole" || meta(o, "namespace") == ns)
            })
        };
        let mut auth = Authorizer::default();
        for b in objects {
            let binding_kind = kind(b);
            if binding_kind != "RoleBinding" && binding_kind != "ClusterRoleBinding" {
                continue;
            }
            let applies = b
                .get("subjects")
                .and_then(Value::as_array)
                .is_some_and(|subs| subs.iter().any(|s| user.matches_subject(s)));
            if !applies {
                continue;
            }
            let role_kind = b
                .pointer("/roleRef/kind")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let role_name = b
                .pointer("/roleRef/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let ns = meta(b, "namespace");
            let Some(role) = find_role(role_kind, role_name, &ns) else {
                continue;
            };
            let rules = rules_of(role);
            if binding_kind == "ClusterRoleBinding" {
                if role_kind == "ClusterRole" {
                    auth.cluster_rules.extend(rules);
                }
            } else {
                auth = auth.with_namespaced_rules(&ns, rules);
            }
        }
        auth
    }
}

/// `group/resource` as the apiserver prints a `GroupResource`: `services`, `deployments.apps`.
fn qualified_resource(attrs: &Attributes<'_>) -> String {
    if attrs.api_group.is_empty() {
        attrs.resource.to_owned()
    } else {
        format!("{}.{}", attrs.resource, attrs.api_group)
    }
}

/// The reason part of a denial (`forbiddenMessage`): `User "u" cannot patch resource
/// "services/status" in API group "" in the namespace "ns"` (or `... at the cluster scope`).
pub fn denial_reason(user: &str, attrs: &Attributes<'_>) -> String {
    let resource = match attrs.subresource {
        Some(sub) if !sub.is_empty() => format!("{}/{sub}", attrs.resource),
        _ => attrs.resource.to_owned(),
    };
    let head = format!(
        "User {} cannot {} resource {} in API group {}",
        quote(user),
        attrs.verb,
        quote(&resource),
        quote(attrs.api_group)
    );
    match attrs.namespace {
        Some(ns) if !ns.is_empty() => format!("{head} in the namespace {}", quote(ns)),
        _ => format!("{head} at the cluster scope"),
    }
}

/// The 403 Status message (`apierrors.NewForbidden`): `services "x" is forbidden: User "u"
/// cannot patch resource "services/status" in API group "" in the namespace "ns"`, or
/// `services is forbidden: ...` when the request names no object.
pub fn forbidden_message(user: &str, attrs: &Attributes<'_>) -> String {
    let reason = denial_reason(user, attrs);
    let res = qualified_resource(attrs);
    match attrs.name {
        Some(n) if !n.is_empty() => format!("{res} {} is forbidden: {reason}", quote(n)),
        _ => format!("{res} is forbidden: {reason}"),
    }
}

/// The complete 403 Status body for a denied resource request.
pub fn forbidden_status(user: &str, attrs: &Attributes<'_>) -> Value {
    let mut details = serde_json::Map::new();
    if let Some(n) = attrs.name.filter(|n| !n.is_empty()) {
        details.insert("name".into(), Value::String(n.to_owned()));
    }
    if !attrs.api_group.is_empty() {
        details.insert("group".into(), Value::String(attrs.api_group.to_owned()));
    }
    details.insert("kind".into(), Value::String(attrs.resource.to_owned()));
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": forbidden_message(user, attrs),
        "reason": "Forbidden",
        "details": Value::Object(details),
        "code": 403,
    })
}

/// The 403 message for a denied non-resource request: `forbidden: User "u" cannot get path
/// "/metrics"`.
pub fn forbidden_message_non_resource(user: &str, verb: &str, path: &str) -> String {
    format!(
        "forbidden: User {} cannot {verb} path {}",
        quote(user),
        quote(path)
    )
}

fn quote(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
        PolicyRule {
            api_groups: Some(groups.iter().map(|s| (*s).to_owned()).collect()),
            resources: Some(resources.iter().map(|s| (*s).to_owned()).collect()),
            verbs: verbs.iter().map(|s| (*s).to_owned()).collect(),
            ..PolicyRule::default()
        }
    }

    fn attrs<'a>(
        verb: &'a str,
        group: &'a str,
        resource: &'a str,
        sub: Option<&'a str>,
        ns: Option<&'a str>,
        name: Option<&'a str>,
    ) -> Attributes<'a> {
        Attributes {
            verb,
            api_group: group,
            resource,
            subresource: sub,
            namespace: ns,
            name,
        }
    }

    #[test]
    fn exact_rule_allows_its_verbs_only() {
        let a = Authorizer::new(vec![rule(&[""], &["services"], &["get", "list", "watch"])]);
        assert!(a.allows(&attrs("get", "", "services", None, Some("ns"), Some("x"))));
        assert!(a.allows(&attrs("list", "", "services", None, None, None)));
        assert!(!a.allows(&attrs("patch", "", "services", None, Some("ns"), Some("x"))));
        assert!(!a.allows(&attrs(
            "get",
            "apps",
            "services",
            None,
            Some("ns"),
            Some("x")
        )));
        assert!(!a.allows(&attrs("get", "", "nodes", None, None, Some("n"))));
    }

    #[test]
    fn subresources_need_their_own_entry() {
        let a = Authorizer::new(vec![rule(&[""], &["services"], &["*"])]);
        assert!(!a.allows(&attrs(
            "patch",
            "",
            "services",
            Some("status"),
            Some("ns"),
            Some("x")
        )));
        let b = Authorizer::new(vec![rule(&[""], &["services/status"], &["patch"])]);
        assert!(b.allows(&attrs(
            "patch",
            "",
            "services",
            Some("status"),
            Some("ns"),
            Some("x")
        )));
        assert!(!b.allows(&attrs("patch", "", "services", None, Some("ns"), Some("x"))));
    }

    #[test]
    fn star_covers_resources_and_subresources() {
        let a = Authorizer::new(vec![rule(&["*"], &["*"], &["*"])]);
        assert!(a.allows(&attrs(
            "delete",
            "apps",
            "deployments",
            Some("scale"),
            Some("n"),
            Some("d")
        )));
        let s = Authorizer::new(vec![rule(&["apps"], &["*/scale"], &["update"])]);
        assert!(s.allows(&attrs(
            "update",
            "apps",
            "deployments",
            Some("scale"),
            Some("n"),
            Some("d")
        )));
        assert!(!s.allows(&attrs(
            "update",
            "apps",
            "deployments",
            None,
            Some("n"),
            Some("d")
        )));
    }

    #[test]
    fn resource_names_never_match_requests_without_a_name() {
        let mut r = rule(
            &["coordination.k8s.io"],
            &["leases"],
            &["get", "update", "create", "list"],
        );
        r.resource_names = Some(vec!["vlb-leader".to_owned()]);
        let a = Authorizer::new(vec![r]);
        assert!(a.allows(&attrs(
            "get",
            "coordination.k8s.io",
            "leases",
            None,
            Some("ns"),
            Some("vlb-leader")
        )));
        assert!(!a.allows(&attrs(
            "get",
            "coordination.k8s.io",
            "leases",
            None,
            Some("ns"),
            Some("other")
        )));
        assert!(!a.allows(&attrs(
            "create",
            "coordination.k8s.io",
            "leases",
            None,
            Some("ns"),
            None
        )));
        assert!(!a.allows(&attrs(
            "list",
            "coordination.k8s.io",
            "leases",
            None,
            Some("ns"),
            None
        )));
    }

    #[test]
    fn namespaced_rules_apply_only_in_their_namespace() {
        let a = Authorizer::default()
            .with_namespaced_rules("kube-system", [rule(&[""], &["configmaps"], &["get"])]);
        assert!(a.allows(&attrs(
            "get",
            "",
            "configmaps",
            None,
            Some("kube-system"),
            Some("c")
        )));
        assert!(!a.allows(&attrs(
            "get",
            "",
            "configmaps",
            None,
            Some("default"),
            Some("c")
        )));
        assert!(!a.allows(&attrs("get", "", "configmaps", None, None, Some("c"))));
    }

    #[test]
    fn non_resource_urls_match_exact_star_and_prefix() {
        let r = PolicyRule {
            non_resource_urls: Some(vec!["/healthz".to_owned(), "/apis/*".to_owned()]),
            verbs: vec!["get".to_owned()],
            ..PolicyRule::default()
        };
        let a = Authorizer::new(vec![r]);
        assert!(a.allows_non_resource("/healthz", "get"));
        assert!(a.allows_non_resource("/apis/apps/v1", "get"));
        assert!(!a.allows_non_resource("/healthz", "post"));
        assert!(!a.allows_non_resource("/metrics", "get"));
        // Resource rules never grant non-resource paths.
        let b = Authorizer::new(vec![rule(&["*"], &["*"], &["*"])]);
        assert!(!b.allows_non_resource("/healthz", "get"));
    }

    #[test]
    fn rbac_objects_grant_through_bindings_to_matching_subjects() {
        let objects = vec![
            json!({"kind": "ClusterRole", "metadata": {"name": "vlb"},
                   "rules": [{"apiGroups": [""], "resources": ["services", "services/status"], "verbs": ["get", "patch"]}]}),
            json!({"kind": "Role", "metadata": {"name": "leases", "namespace": "vlb"},
                   "rules": [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["*"]}]}),
            json!({"kind": "ClusterRoleBinding", "metadata": {"name": "vlb"},
                   "roleRef": {"kind": "ClusterRole", "name": "vlb"},
                   "subjects": [{"kind": "ServiceAccount", "name": "ctl", "namespace": "vlb"}]}),
            json!({"kind": "RoleBinding", "metadata": {"name": "leases", "namespace": "vlb"},
                   "roleRef": {"kind": "Role", "name": "leases"},
                   "subjects": [{"kind": "Group", "name": "system:serviceaccounts:vlb"}]}),
            json!({"kind": "ClusterRoleBinding", "metadata": {"name": "other"},
                   "roleRef": {"kind": "ClusterRole", "name": "missing"},
                   "subjects": [{"kind": "User", "name": "system:serviceaccount:vlb:ctl"}]}),
        ];
        let groups = vec![
            "system:serviceaccounts".to_owned(),
            "system:serviceaccounts:vlb".to_owned(),
        ];
        let user = UserInfo {
            name: "system:serviceaccount:vlb:ctl",
            groups: &groups,
        };
        let a = Authorizer::from_rbac_objects(&user, &objects);
        assert!(a.allows(&attrs(
            "patch",
            "",
            "services",
            Some("status"),
            Some("default"),
            Some("s")
        )));
        assert!(a.allows(&attrs(
            "update",
            "coordination.k8s.io",
            "leases",
            None,
            Some("vlb"),
            Some("l")
        )));
        assert!(!a.allows(&attrs(
            "update",
            "coordination.k8s.io",
            "leases",
            None,
            Some("default"),
            Some("l")
        )));
        assert!(!a.allows(&attrs(
            "delete",
            "",
            "services",
            None,
            Some("default"),
            Some("s")
        )));
        let stranger = UserInfo {
            name: "bob",
            groups: &[],
        };
        assert!(
            !Authorizer::from_rbac_objects(&stranger, &objects).allows(&attrs(
                "get",
                "",
                "services",
                None,
                Some("default"),
                Some("s")
            ))
        );
    }

    #[test]
    fn forbidden_message_matches_the_apiserver() {
        let m = forbidden_message(
            "u",
            &attrs(
                "patch",
                "",
                "services",
                Some("status"),
                Some("ns"),
                Some("x"),
            ),
        );
        assert_eq!(
            m,
            "services \"x\" is forbidden: User \"u\" cannot patch resource \"services/status\" in API group \"\" in the namespace \"ns\""
        );
        let m = forbidden_message("u", &attrs("list", "", "nodes", None, None, None));
        assert_eq!(
            m,
            "nodes is forbidden: User \"u\" cannot list resource \"nodes\" in API group \"\" at the cluster scope"
        );
        let m = forbidden_message(
            "system:serviceaccount:vlb:vlb",
            &attrs(
                "get",
                "coordination.k8s.io",
                "leases",
                None,
                Some("vlb"),
                Some("l"),
            ),
        );
        assert!(m.starts_with("leases.coordination.k8s.io \"l\" is forbidden: User \"system:serviceaccount:vlb:vlb\" cannot get resource \"leases\" in API group \"coordination.k8s.io\""));
    }

    #[test]
    fn forbidden_status_has_reason_code_and_details() {
        let s = forbidden_status(
            "u",
            &attrs("get", "apps", "deployments", None, Some("n"), Some("d")),
        );
        assert_eq!(s["code"], 403);
        assert_eq!(s["reason"], "Forbidden");
        assert_eq!(
            s["details"],
            json!({"name": "d", "group": "apps", "kind": "deployments"})
        );
        assert_eq!(
            forbidden_message_non_resource("u", "get", "/metrics"),
            "forbidden: User \"u\" cannot get path \"/metrics\""
        );
    }
}
