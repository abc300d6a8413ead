//! The vlb-controller operator (filled by the app work).
