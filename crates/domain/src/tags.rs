//! Cloud tags the controller writes on load balancers, as the Go controller writes them
//! (`internal/usecase/lbc_uc/deploy_tag.go`, `delete_tag.go`, `internal/domain/domain.go`):
//! the cluster-ids tag lists the clusters using a load balancer sorted and `/`-joined.
//! vlb's earlier `,`-joined lists are read too (and rewritten in Go's form), and so is the
//! Go controller's deprecated `vks-cluster-ids` tag (`_`-joined), which is kept as it is.

use std::collections::BTreeMap;

/// Ids of the clusters using a load balancer (sorted, [`CLUSTER_IDS_SEPARATOR`]-joined).
pub const CLUSTER_IDS: &str = "vng.vks.cluster.ids";
/// Separator of the cluster-ids tag (Go's `ClusterTagValueSeparator`).
pub const CLUSTER_IDS_SEPARATOR: &str = "/";
/// The Go controller's deprecated cluster-ids tag (`_`-joined): read, never written.
pub const DEPRECATED_CLUSTER_IDS: &str = "vks-cluster-ids";
/// VPC of the cluster.
pub const VPC_ID: &str = "vng.vpc.id";
/// Billing product.
pub const BILLING_PRODUCT: &str = "vng.billing.product";
/// The cluster that created the load balancer: the durable provenance record.
pub const CREATED_BY_CLUSTER: &str = "vng.vks.created-by-cluster";

/// Tags every load balancer this cluster uses carries.
pub fn cluster_tags(cluster_id: &str, vpc_id: &str) -> BTreeMap<String, String> {
    let mut t = BTreeMap::from([
        (CLUSTER_IDS.to_owned(), cluster_id.to_owned()),
        (BILLING_PRODUCT.to_owned(), "vks".to_owned()),
    ]);
    if !vpc_id.is_empty() {
        t.insert(VPC_ID.to_owned(), vpc_id.to_owned());
    }
    t
}

/// The provenance tag of a load balancer this cluster creates.
pub fn provenance_tag(cluster_id: &str) -> (String, String) {
    (CREATED_BY_CLUSTER.to_owned(), cluster_id.to_owned())
}

/// Whether `tags` say `cluster_id` created the load balancer.
pub fn created_by(tags: &BTreeMap<String, String>, cluster_id: &str) -> bool {
    tags.get(CREATED_BY_CLUSTER)
        .is_some_and(|v| v == cluster_id)
}

/// The ids listed in a cluster-ids tag value: Go's `/` form and vlb's earlier `,` form.
fn ids(v: &str) -> Vec<&str> {
    v.split(['/', ','])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// Go's `joinTagValue`: the ids sorted, without duplicates, `/`-joined.
fn join(mut all: Vec<&str>) -> String {
    all.sort_unstable();
    all.dedup();
    all.join(CLUSTER_IDS_SEPARATOR)
}

/// Ids of the clusters `tags` say use the load balancer: the cluster-ids tag in any of the
/// forms written so far, and the Go controller's deprecated `_`-joined tag.
pub fn cluster_ids(tags: &BTreeMap<String, String>) -> Vec<String> {
    let current = tags.get(CLUSTER_IDS).map(|v| ids(v)).unwrap_or_default();
    let deprecated: Vec<&str> = tags.get(DEPRECATED_CLUSTER_IDS).map_or_else(Vec::new, |v| {
        v.split('_')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect()
    });
    let mut all: Vec<String> = current
        .into_iter()
        .chain(deprecated)
        .map(str::to_owned)
        .collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// `observed` with `desired` written over it: foreign keys are kept, and the cluster-ids
/// tag becomes the union of both lists, sorted and `/`-joined as Go writes it.
pub fn merge(
    observed: &BTreeMap<String, String>,
    desired: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut out = observed.clone();
    for (k, v) in desired {
        if k == CLUSTER_IDS {
            let mut all: Vec<&str> = observed
                .get(CLUSTER_IDS)
                .map(|o| ids(o))
                .unwrap_or_default();
            all.extend(ids(v));
            out.insert(k.clone(), join(all));
        } else {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

/// `observed` without what `created` added: keys removed when this cluster wrote them with
/// the same value, and the cluster id taken out of the cluster-ids list.
pub fn unmerge(
    observed: &BTreeMap<String, String>,
    created: &BTreeMap<String, String>,
    cluster_id: &str,
) -> BTreeMap<String, String> {
    let mut out = observed.clone();
    for (k, v) in created {
        if k == CLUSTER_IDS {
            if let Some(o) = observed.get(CLUSTER_IDS) {
                let rest: Vec<&str> = ids(o).into_iter().filter(|i| *i != cluster_id).collect();
                if rest.is_empty() {
                    out.remove(k);
                } else {
                    out.insert(k.clone(), join(rest));
                }
            }
        } else if observed.get(k) == Some(v) && k != CREATED_BY_CLUSTER {
            out.remove(k);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_foreign_tags_and_unions_cluster_ids() {
        let observed = BTreeMap::from([
            (CLUSTER_IDS.to_owned(), "other".to_owned()),
            ("user".to_owned(), "x".to_owned()),
        ]);
        let desired = cluster_tags("me", "net-1");
        let merged = merge(&observed, &desired);
        assert_eq!(merged[CLUSTER_IDS], "me/other");
        assert_eq!(merged["user"], "x");
        assert_eq!(merge(&merged, &desired), merged);
        let back = unmerge(&merged, &desired, "me");
        assert_eq!(back[CLUSTER_IDS], "other");
        assert_eq!(back["user"], "x");
        assert!(!back.contains_key(VPC_ID));
    }

    /// Go's `joinTagValue`/`removeTagValue` (`lbc_uc/deploy_tag.go`): sorted, deduplicated,
    /// `/`-joined; vlb's earlier `,` lists are read and rewritten in that form.
    #[test]
    fn cluster_ids_are_sorted_and_slash_joined_as_go_writes_them() {
        let observed = BTreeMap::from([(CLUSTER_IDS.to_owned(), "k8s-b/k8s-a".to_owned())]);
        let desired = BTreeMap::from([(CLUSTER_IDS.to_owned(), "k8s-c".to_owned())]);
        assert_eq!(merge(&observed, &desired)[CLUSTER_IDS], "k8s-a/k8s-b/k8s-c");
        let already = BTreeMap::from([(CLUSTER_IDS.to_owned(), "k8s-a/k8s-c".to_owned())]);
        assert_eq!(merge(&already, &desired), already, "no write when listed");
        let vlb_old = BTreeMap::from([(CLUSTER_IDS.to_owned(), "k8s-z,k8s-c".to_owned())]);
        assert_eq!(merge(&vlb_old, &desired)[CLUSTER_IDS], "k8s-c/k8s-z");
        let back = unmerge(&vlb_old, &desired, "k8s-c");
        assert_eq!(back[CLUSTER_IDS], "k8s-z");
        let only_me = BTreeMap::from([(CLUSTER_IDS.to_owned(), "k8s-c".to_owned())]);
        assert!(!unmerge(&only_me, &desired, "k8s-c").contains_key(CLUSTER_IDS));
    }

    /// Go's deprecated `vks-cluster-ids` tag (`_`-joined, `internal/domain/domain.go`) is
    /// read as users of the load balancer and left as it is.
    #[test]
    fn deprecated_underscore_tag_is_read_and_kept() {
        let observed = BTreeMap::from([
            (
                DEPRECATED_CLUSTER_IDS.to_owned(),
                "k8s-old_k8s-c".to_owned(),
            ),
            (CLUSTER_IDS.to_owned(), "k8s-b,k8s-a".to_owned()),
        ]);
        assert_eq!(
            cluster_ids(&observed),
            ["k8s-a", "k8s-b", "k8s-c", "k8s-old"]
        );
        let merged = merge(&observed, &cluster_tags("k8s-c", ""));
        assert_eq!(merged[DEPRECATED_CLUSTER_IDS], "k8s-old_k8s-c");
        assert_eq!(merged[CLUSTER_IDS], "k8s-a/k8s-b/k8s-c");
    }

    #[test]
    fn provenance_is_recognised() {
        let (k, v) = provenance_tag("c1");
        let t = BTreeMap::from([(k, v)]);
        assert!(created_by(&t, "c1"));
        assert!(!created_by(&t, "c2"));
    }
}
