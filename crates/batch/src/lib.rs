//! Per-reconcile mutation batcher (filled by the batch work).
