//! In-memory Kubernetes API server (filled by the kube-emulator work).
