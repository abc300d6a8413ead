//! Kubernetes adapter of the vlb operator (filled by the k8s-adapter work).
