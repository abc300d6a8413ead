//! Cloud tags the controller writes on load balancers.

use std::collections::BTreeMap;

/// Ids of the clusters using a load balancer (comma separated).
pub const CLUSTER_IDS: &str = "vng.vks.cluster.ids";
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

fn ids(v: &str) -> Vec<&str> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// `observed` with `desired` written over it: foreign keys are kept, and the cluster-ids
/// tag becomes the union of both lists.
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
            for id in ids(v) {
                if !all.contains(&id) {
                    all.push(id);
                }
            }
            out.insert(k.clone(), all.join(","));
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
                    out.insert(k.clone(), rest.join(","));
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
        assert_eq!(merged[CLUSTER_IDS], "other,me");
        assert_eq!(merged["user"], "x");
        assert_eq!(merge(&merged, &desired), merged);
        let back = unmerge(&merged, &desired, "me");
        assert_eq!(back[CLUSTER_IDS], "other");
        assert_eq!(back["user"], "x");
        assert!(!back.contains_key(VPC_ID));
    }

    #[test]
    fn provenance_is_recognised() {
        let (k, v) = provenance_tag("c1");
        let t = BTreeMap::from([(k, v)]);
        assert!(created_by(&t, "c1"));
        assert!(!created_by(&t, "c2"));
    }
}
