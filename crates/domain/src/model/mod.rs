//! Models: cloud objects, the LoadBalancerConfig and NodeSecurityGroup spec and status,
//! conditions, and the input views the Kubernetes adapter fills.

pub mod cloud;
pub mod condition;
pub mod lbc;
pub mod nsg;
pub mod request;
pub mod view;

pub use cloud::*;
pub use condition::{Condition, ConditionStatus};
pub use lbc::*;
pub use nsg::*;
pub use request::*;
pub use view::*;

#[cfg(test)]
mod tests;
